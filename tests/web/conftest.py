"""The browser tests' fixtures: Debian's Chromium driven by Playwright (no browser download)
against ``starscope serve`` on a small real index and the demo model.

Chromium comes from ``scripts/browser.sh`` (``make test`` runs it). Where it is missing the
tests fail in CI (``CI`` set) and are skipped elsewhere, saying why.
"""

import json
import os
import shutil
import struct
from pathlib import Path

import pytest

from indexer.build import build_index

from ..indexer.conftest import real_documents
from ..search_api.conftest import FIB, corpus_rows, live_server

# Markup in every field a page shows: content, path and repository (owner and name).
XSS_ROWS = [
    dict(content="<script>window.__xss = 'content'</script>\n<img src=x onerror=\"window.__xss = 'onerror'\">\n"
                 "<svg onload=\"window.__xss = 'svg'\"></svg>\n" * 2,
         repo="x\"><img src=x onerror=window.__xss='owner'>/<script>window.__xss='repo'</script>",
         path="<img src=x onerror=\"window.__xss='path'\">.html", licenses=["MIT"], lang="HTML", stars=3),
]

# A second content holding the Fibonacci generator: a span two files hold.
FIB_COPY = dict(content=FIB + "\n\nprint(list(fibonacci(10)))\n", repo="mirror/fib", path="fib_demo.py",
                licenses=["MIT"], lang="Python", stars=1)

# Personal data in a content and in the names of its repository and path.
PII_BODY = ("def rotate_credentials(client, region):\n    session = client.session(region=region, retries=5)\n"
            "    return session.rotate(force=True, reason='nightly rotation by the ops cron job')\n")
PII_ROWS = [dict(content='AWS_KEY = "AKIAZ7Q4WTNVHK2L5RXD"  # ops@corp-mail.de\n' + PII_BODY,
                 repo="ops/deploy-34.102.136.180", path="secrets/AKIAZ7Q4WTNVHK2L5RXD.py",
                 licenses=["MIT"], lang="Python", stars=4)]


# A source tree `starscope ingest` named after its folder: a repository name without a slash.
FOLDER_ROW = dict(content="def decode_json_text(s):\n    return s\n", repo="json", path="decode.py",
                  licenses=["MIT"], lang="Python", stars=0)


def chromium_path() -> str:
    found = os.environ.get("STARSCOPE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    why = None
    if not found:
        why = "no Chromium on PATH (scripts/browser.sh installs Debian's; or set STARSCOPE_CHROMIUM)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "Playwright for Python is not installed (pip install -e '.[dev]')"
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {why}")
        pytest.skip(why)
    return found


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path)
        yield b
        b.close()


@pytest.fixture(scope="session")
def ui_corpus(tmp_path_factory):
    """The API tests' corpus (pagination widgets, an exact duplicate, an emoji file, an XSS file),
    more XSS, a second file holding the Fibonacci generator, 40 real stdlib files and a
    repository named after its folder; returns (index dir, rows)."""
    base = tmp_path_factory.mktemp("ui")
    rows = corpus_rows() + XSS_ROWS + PII_ROWS + [FIB_COPY] + [
        {"content": d.content, "repo": d.repo, "path": d.path, "licenses": list(d.licenses), "lang": d.lang,
         "stars": d.stars} for d in real_documents(40)] + [FOLDER_ROW]
    shard = base / "corpus.jsonl"
    shard.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    build_index([shard], base / "index", progress=False)
    return base / "index", rows


@pytest.fixture(scope="session")
def ui_server(ui_corpus, demo_model, tmp_path_factory):
    """The server's base URL: the UI corpus and the demo model."""
    index, _ = ui_corpus
    log = tmp_path_factory.mktemp("ui-server") / "serve.log"
    env = {**os.environ, "STARSCOPE_ADMIN_TOKEN": "ui-test-token-0123456789"}
    with live_server([index, "--model", demo_model.path, "--workers", "1", "--threads", "4"], log, env=env) as base:
        yield base


@pytest.fixture(scope="session")
def capped_ui_server(ui_corpus, tmp_path_factory):
    """The UI corpus served with room for one near-duplicate candidate and one counted file per
    span (no model)."""
    index, _ = ui_corpus
    log = tmp_path_factory.mktemp("capped-ui-server") / "serve.log"
    with live_server([index, "--max-candidates", "1", "--max-counted", "1", "--workers", "1", "--threads", "2"],
                     log) as base:
        yield base


class Page:
    """A fresh browser page on the server, recording script errors and dialogs (an ``alert``
    from corpus text would be one)."""

    def __init__(self, browser, base, out_dir, *, width=1280, height=900):
        self.base, self.out_dir = base, out_dir
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors, self.dialogs = [], []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def goto(self, path):
        self.page.goto(self.base + path)
        return self.page

    def shot(self, name) -> "Path":
        """A full-page screenshot under the test's folder, checked to be a real picture."""
        path = self.out_dir / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, f"{path}: {len(data)} bytes"
        width, height = struct.unpack(">II", data[16:24])
        assert width >= self.page.viewport_size["width"] - 20 and height >= 200, (width, height)
        return path

    def close(self):
        self.context.close()


def _checked_page(browser, base, out_dir):
    page = Page(browser, base, out_dir)
    yield page
    try:
        assert not page.dialogs, f"a dialog opened (corpus script ran?): {page.dialogs}"
        assert page.page.evaluate("() => window.__xss === undefined"), "corpus markup ran a script"
        assert not page.errors, page.errors
    finally:
        page.close()


@pytest.fixture()
def ui(browser, ui_server, tmp_path):
    yield from _checked_page(browser, ui_server, tmp_path)


@pytest.fixture()
def capped_ui(browser, capped_ui_server, tmp_path):
    """A page on the server whose attributions score one near-duplicate candidate and count one
    file per span."""
    yield from _checked_page(browser, capped_ui_server, tmp_path / "capped")
