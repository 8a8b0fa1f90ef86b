"""The README's command-line and HTTP examples, executed as written (paths redirected to a tmp dir)."""

import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def section_commands(title: str, prefix: str) -> list[str]:
    body = README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", body, re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith(prefix):
                lines.append(line)
    assert lines, f"no {prefix} examples under '## {title}'"
    return lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_setup_section_has_exactly_the_two_commands():
    commands = section_commands("Setup", "make")
    assert [c.split()[:2] for c in commands] == [["make", "demo"], ["make", "test"]]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
def test_cli_and_http_examples_run_as_documented(tmp_path):
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name, src in (("myproject", stdlib / "json"), ("other", stdlib / "urllib")):
        shutil.copytree(src, tmp_path / "src" / name, ignore=shutil.ignore_patterns("__pycache__"))
    generation = (stdlib / "json" / "decoder.py").read_text()[:3000]
    (tmp_path / "generations.jsonl").write_text(json.dumps({"id": "g1", "text": generation}) + "\n")
    port = free_port()
    server = None
    try:
        for line in section_commands("Command line", "starscope"):
            line = (line.replace("~/src", str(tmp_path / "src")).replace("var/", f"{tmp_path}/var/")
                    .replace("--max-total-mb 200", "--max-total-mb 20").replace("--port 8000", f"--port {port}")
                    .replace("generations.jsonl", str(tmp_path / "generations.jsonl"))
                    .replace("results.jsonl", str(tmp_path / "results.jsonl")))
            argv = [sys.executable, "-m", "search_api", *shlex.split(line)[1:]]
            if argv[3] == "serve":
                server = subprocess.Popen(argv, cwd=ROOT, stdout=open(tmp_path / "server.log", "wb"),
                                          stderr=subprocess.STDOUT)
                continue
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
            assert done.returncode == 0, (line, done.stderr)
            if "--json" in argv:
                assert isinstance(json.loads(done.stdout), dict), line
        (result,) = [json.loads(r) for r in (tmp_path / "results.jsonl").read_text().splitlines()]
        assert result["id"] == "g1" and result["result"]["coverage"] > 0.9
        assert server is not None, "the README shows no serve example"
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/api/health", timeout=1)
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
        for line in section_commands("HTTP API", "curl"):
            words = shlex.split(line)
            url = words[-1].replace("http://127.0.0.1:8000", base)
            data = words[words.index("-d") + 1].encode() if "-d" in words else None
            req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 200, line
                assert isinstance(json.loads(resp.read()), dict), line
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


@pytest.mark.es
def test_scaling_out_examples_run_against_a_real_server(tmp_path, request):
    """The Elasticsearch walk-through, on a small corpus and a fresh index name."""
    from .backends import es_config

    config = es_config(request)
    src = tmp_path / "src" / "myproject"
    shutil.copytree(Path(sysconfig.get_paths()["stdlib"]) / "json", src,
                    ignore=shutil.ignore_patterns("__pycache__"))
    other = tmp_path / "src" / "other"
    shutil.copytree(Path(sysconfig.get_paths()["stdlib"]) / "urllib", other,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shards, more = tmp_path / "shards", tmp_path / "more-shards"
    for tree, out in ((src, shards), (other, more)):
        subprocess.run([sys.executable, "-m", "search_api", "ingest", str(tree), "--out", str(out)],
                       cwd=ROOT, check=True, capture_output=True)
    port = free_port()
    server = None
    try:
        for line in section_commands("Scaling out", "starscope"):
            # the several-indexers example: its two shard sets are the two ingested trees
            line = (line.replace("shards/part-00*", str(shards)).replace("shards/part-01*", str(more))
                    .replace("--es-index stack", f"--es-index {config.index}")
                    .replace("var/demo/shards", str(shards)).replace("var/", f"{tmp_path}/var/")
                    .replace("~/src", str(tmp_path / "src")).replace("--es-index demo", f"--es-index {config.index}")
                    .replace("http://127.0.0.1:9200", config.url))
            argv = [sys.executable, "-m", "search_api", *shlex.split(line)[1:]]
            if argv[3] == "serve":
                server = subprocess.Popen(argv + ["--port", str(port)], cwd=ROOT,
                                          stdout=open(tmp_path / "server.log", "wb"), stderr=subprocess.STDOUT)
                continue
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
            assert done.returncode == 0, (line, done.stderr)
        assert server is not None
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=decoder", timeout=1) as r:
                    assert json.loads(r.read())["total"] > 0
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
        else:
            raise AssertionError("the server never answered")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
