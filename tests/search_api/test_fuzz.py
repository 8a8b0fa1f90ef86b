"""Schemathesis over the live OpenAPI document of a real server (``starscope serve``) on the
test index: generated requests, valid and not, to every operation; no 5xx, and every answer
matches the schema the document declares for its status."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fuzz-admin-token-0123456789"


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    from indexer.build import build_index

    from .conftest import corpus_rows, live_server

    base = tmp_path_factory.mktemp("fuzz")
    (base / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus_rows()))
    build_index([base / "c.jsonl"], base / "index", progress=False)
    env = {**os.environ, "STARSCOPE_ADMIN_TOKEN": TOKEN}
    with live_server([base / "index", "--rate-limit", "off", "--search-rate-limit", "off"], base / "server.log", env=env) as url:
        yield url


@pytest.mark.slow
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
