"""Schemathesis over the live OpenAPI document of a real server (``starscope serve``) on the
test index: generated requests, valid and not, to every operation; no 5xx, and every answer
matches the schema the document declares for its status."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fuzz-admin-token-0123456789"


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    from indexer.build import build_index

    from .conftest import corpus_rows

    base = tmp_path_factory.mktemp("fuzz")
    (base / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus_rows()))
    build_index([base / "c.jsonl"], base / "index", progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "STARSCOPE_ADMIN_TOKEN": TOKEN}
    log = open(base / "server.log", "wb")  # a file, not a pipe nobody reads: a full pipe blocks the server
    proc = subprocess.Popen([sys.executable, "-m", "search_api", "serve", str(base / "index"), "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/api/health", timeout=1)
            break
        except OSError:
            assert proc.poll() is None, (base / "server.log").read_text()
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_every_operation_answers_within_its_schema(live_url, tmp_path):
    """Every schemathesis check, but those schemathesis.toml turns off, saying why."""
    cli = Path(sys.executable).with_name("schemathesis")
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.search_api.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    config = Path(__file__).with_name("schemathesis.toml")
    done = subprocess.run([str(cli), "--config-file", str(config), "run", f"{live_url}/openapi.json",
                           "--max-examples", "60", "--seed", "7", "--header", f"Authorization: Bearer {TOKEN}",
                           "--report", "junit", "--report-dir", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
