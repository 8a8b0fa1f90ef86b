"""A tiny real index, built once by the real pipeline (JSONL shard -> ``build_index``), and
the app serving it."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from indexer.build import build_index
from search_api.app import create_app

from ..backends import BACKENDS, build_config

FIB = "def fibonacci(n):\n    return n if n < 2 else fibonacci(n-1) + fibonacci(n-2)\n"
DUPLICATE = "def shared_helper(x):\n    return x * 2  # copied everywhere\n"
XSS = "<script>alert(1)</script>\n<img src=x onerror=\"alert(2)\">\n"
XSS_PATH = "<b>pwn</b>/<script>alert(3)</script>.html"
EMOJI = "# 😀 party\nparty_time = '😀😀'  # party\n"


def corpus_rows() -> list[dict]:
    rows = [
        dict(content=FIB, repo="math/fib", path="fib.py", licenses=["MIT"], lang="Python", stars=50),
        dict(content="for (let i = 0; i < n; i++) { total += i; }\n", repo="web/loops",
             path="loop.js", licenses=["Apache-2.0"], lang="JavaScript", stars=5),
        dict(content="import os.path\nparts = os.path.split(p)\n", repo="tools/paths", path="p.py",
             licenses=["MIT"], lang="Python", stars=1),
        dict(content=XSS, repo="evil/site", path=XSS_PATH, licenses=["MIT"], lang="HTML", stars=2),
        dict(content=EMOJI, repo="fun/emoji", path="party.py", licenses=[], lang="Python", stars=0),
    ]
    # One content at three sources: stored once, listed with all three.
    for repo, lic, stars in (("alpha/one", "MIT", 10), ("beta/two", "GPL-3.0-only", 300),
                             ("gamma/three", "BSD-3-Clause", 7)):
        rows.append(dict(content=DUPLICATE, repo=repo, path="helper.py", licenses=[lic],
                         lang="Python", stars=stars))
    # 25 distinct files sharing one word, for pagination and sorting.
    for i in range(25):
        rows.append(dict(content=f"class Widget{i}:\n    '''widget number {i}'''\n    size = {i}\n",
                         repo=f"widgets/w{i % 5}", path=f"widget_{i}.py",
                         licenses=["MIT"] if i % 2 else ["GPL-2.0-only"], lang="Python", stars=i))
    return rows


@pytest.fixture(scope="session", params=BACKENDS)
def index_dir(request, tmp_path_factory):
    """The corpus built into each store backend."""
    base = tmp_path_factory.mktemp("search_api")
    shard = base / "corpus.jsonl"
    shard.write_text("".join(json.dumps(row) + "\n" for row in corpus_rows()), encoding="utf-8")
    build_index([shard], base / "index", config=build_config(request.param, request), progress=False)
    return base / "index"


@pytest.fixture(scope="session")
def app(index_dir):
    return create_app({"INDEX_DIR": str(index_dir), "TESTING": True})


@pytest.fixture()
def client(app):
    return app.test_client()


def sha_of(client, query: str, **params) -> str:
    """The id of the single document a query finds."""
    body = client.get("/api/search", query_string={"q": query, **params}).get_json()
    assert body["total"] == 1, body
    return body["hits"][0]["id"]


def error_of(response, status: int, code: str) -> dict:
    """Assert the one error shape and return its ``error`` object."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body["error"]


@contextmanager
def live_server(serve_args: list[str], log_path: Path, *, env: dict | None = None, wait_s: float = 60):
    """``starscope serve`` on a free loopback port, yielding its base URL once ``/api/health``
    answers; stopped (SIGTERM) on exit. Output goes to ``log_path``, never a pipe nobody reads
    (a full pipe blocks the server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "search_api", "serve", *map(str, serve_args),
                                 "--port", str(port)], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    urllib.request.urlopen(base + "/api/health", timeout=1)
                    break
                except OSError:
                    assert proc.poll() is None, Path(log_path).read_text()
                    assert time.monotonic() < deadline, f"no answer in {wait_s} s: {Path(log_path).read_text()}"
                    time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=60)
