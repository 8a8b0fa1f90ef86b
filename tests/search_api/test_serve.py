"""``starscope serve`` for real: gunicorn workers, request ids, no submitted code in the logs,
a graceful stop."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from indexer.build import build_index

from .conftest import FIB, corpus_rows, live_server

ROOT = Path(__file__).resolve().parents[2]


def test_serve_logs_request_ids_and_never_the_submitted_code(tmp_path):
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus_rows()))
    build_index([tmp_path / "c.jsonl"], tmp_path / "index", progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "search_api", "serve", str(tmp_path / "index"),
                             "--port", str(port), "--workers", "2", "--threads", "2"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={k: v for k, v in os.environ.items() if k != "STARSCOPE_ADMIN_TOKEN"})
    base = f"http://127.0.0.1:{port}"
    secret = "zq_private_marker_8731"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/api/health", timeout=1)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.1)
        text = f"# {secret}\n{FIB}"
        req = urllib.request.Request(base + "/api/attribution", data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json", "X-Request-ID": "trace-42"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.headers["X-Request-ID"] == "trace-42"
            assert json.loads(r.read())["spans"]
        with urllib.request.urlopen(f"{base}/api/search?q={secret}", timeout=30) as r:
            generated = r.headers["X-Request-ID"]
            assert len(generated) == 32 and json.loads(r.read())["total"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, out
    assert secret not in out
    assert '"POST /api/attribution" 200' in out and "id=trace-42" in out and f"id={generated}" in out
    assert "Shutting down" in out or "Handling signal: term" in out


def test_parallel_clients_get_exactly_the_sequential_answers(tmp_path):
    """16 clients at once, mixing search, membership and attribution, against 2 workers of 4
    threads: no errors, and every answer equal to the one the same request got alone."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus_rows()))
    build_index([tmp_path / "c.jsonl"], tmp_path / "index", progress=False)
    def call(request):
        path, body = request
        req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"} if body else {})
        with urllib.request.urlopen(req, timeout=60) as r:
            answer = json.loads(r.read())
        answer.pop("took_ms", None)
        return r.status, answer

    text = "# generated\n" + FIB + "\nx = widget_number(3)\n"
    requests = ([(f"/api/search?q={q}", None) for q in ("widget", "fibonacci", "helper", "party", "os.path")]
                + [("/api/search?q=%22i%2B%2B%22&sort=stars", None), ("/api/search?q=widget&page=2&size=7", None)]
                + [("/api/membership", {"text": text}), ("/api/membership", {"text": text, "exact": True}),
                   ("/api/attribution", {"text": text}), ("/overlap", {"document": text})])
    with live_server([tmp_path / "index", "--workers", "2", "--threads", "4", "--rate-limit", "off",
                      "--search-rate-limit", "off"],
                     tmp_path / "server.log") as base:
        alone = {i: call(r) for i, r in enumerate(requests)}
        load = [i for i in range(len(requests)) for _ in range(12)]
        random.Random(3).shuffle(load)
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: (i, call(requests[i])), load))
    assert len(answers) == len(load)
    for i, answer in answers:
        assert answer == alone[i], requests[i]
    assert all(status == 200 for status, _ in alone.values())


def test_serve_with_a_model_generates(demo_model, tmp_path):
    """The master must not load torch before gunicorn forks (the workers would hang)."""
    with live_server([demo_model.index, "--model", demo_model.path, "--device", "cpu", "--workers", "2"],
                     tmp_path / "server.log", wait_s=120) as base:
        req = urllib.request.Request(base + "/api/generate", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"prompt": "def ", "max_new_tokens": 8, "temperature": 0}).encode())
        with urllib.request.urlopen(req, timeout=60) as r:
            assert json.loads(r.read())["generation"]["new_tokens"] >= 1
    bad = subprocess.run([sys.executable, "-m", "search_api", "serve", str(demo_model.index), "--model",
                          str(tmp_path / "none")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "no model at" in bad.stderr
