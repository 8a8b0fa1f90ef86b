"""The browser pages and their assets; corpus markup never reaches a page unescaped."""

import re

import pytest

from indexer.document import content_sha
from search_api.app import WEB_DIR

from .conftest import XSS, XSS_PATH

RAW_CORPUS_MARKUP = ("<script>alert", "<img src=x", "<b>pwn</b>", "onerror=")


def assert_no_raw_corpus_markup(html: str):
    for needle in RAW_CORPUS_MARKUP:
        assert needle not in html, needle


def test_search_page_renders_the_form_from_the_url(client):
    response = client.get("/", query_string={"q": 'fibonacci "(n-1)"', "lang": "python", "exact": "1",
                                             "sort": "stars", "repo": "math/fib"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert 'value="fibonacci &#34;(n-1)&#34;"' in html
    assert re.search(r'<option value="python" selected>', html)
    assert re.search(r'<option value="stars" selected>', html)
    assert re.search(r'name="exact" value="1" checked', html)
    assert 'value="math/fib"' in html
    assert "/static/search.js" in html and "/static/style.css" in html


def test_search_page_escapes_corpus_and_query_markup(client):
    html = client.get("/", query_string={"q": "<script>alert(1)</script>", "repo": XSS_PATH}).get_data(as_text=True)
    assert_no_raw_corpus_markup(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_document_page_escapes_the_corpus(client):
    sha = content_sha(XSS)
    response = client.get(f"/doc/{sha}", query_string={"q": "<script>alert(1)</script>", "exact": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_no_raw_corpus_markup(html)
    assert "&lt;b&gt;pwn&lt;/b&gt;" in html  # the path, shown as text
    assert f'data-sha="{sha}"' in html
    assert "/static/document.js" in html
    assert XSS.splitlines()[0] not in html  # the content is fetched by the script, as JSON


def test_document_page_for_unknown_or_malformed_ids(client):
    assert client.get(f"/doc/{'0' * 40}").status_code == 404
    assert client.get("/doc/not-a-sha").status_code == 400


def test_pages_forbid_inline_script(client):
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert client.get("/api/health").headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", ["style.css", "api.js", "dom.js", "search.js", "document.js"])
def test_static_assets_are_served(client, name):
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.get_data() == (WEB_DIR / "static" / name).read_bytes()
    response.close()


def test_scripts_never_parse_strings_as_markup():
    for path in (WEB_DIR / "static").glob("*.js"):
        source = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                     "new Function"):
            assert sink not in source, f"{path.name} uses {sink}"


def test_templates_never_disable_autoescape():
    for path in (WEB_DIR / "templates").glob("*.html"):
        source = path.read_text()
        assert "|safe" not in source.replace(" ", "") and "autoescape false" not in source, path.name
        assert "<script>" not in source, f"{path.name} has an inline script (the CSP forbids it)"


def test_missing_static_file_is_404(client):
    assert client.get("/static/nope.js").status_code == 404


@pytest.mark.parametrize("path, script", [("/membership", "membership.js"), ("/attribute", "attribute.js"),
                                          ("/dataset?q=widgets", "dataset.js")])
def test_the_other_pages_render_with_the_navigation(client, path, script):
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and f"/static/{script}" in html
    for href in ('href="/"', 'href="/membership"', 'href="/attribute"', 'href="/dataset"'):
        assert href in html
    assert 'aria-current="page"' in html


def test_the_playground_says_when_the_server_has_no_model(client):
    html = client.get("/attribute").get_data(as_text=True)
    assert "runs without a model" in html and 'id="generate" disabled' in html


def test_the_dataset_page_escapes_its_query(client):
    html = client.get("/dataset", query_string={"q": '"><script>alert(1)</script>'}).get_data(as_text=True)
    assert_no_raw_corpus_markup(html)
