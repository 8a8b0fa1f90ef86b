"""The UI in a real browser (headless Chromium): search and documents, the membership test, the
attribution playground (paste and generate), "Am I in the dataset?" with the opt-out request,
markup in the corpus shown as text, a phone-sized screen. Each test saves its screenshots in
its own folder and checks them."""

import re

import pytest
from playwright.sync_api import expect

from indexer.optout_requests import OptoutRequests

from ..search_api.conftest import DUPLICATE, FIB, XSS, corpus_rows
from .conftest import PII_BODY, PII_ROWS, XSS_ROWS

def real_row(ui_corpus, min_chars=1500):
    """A real stdlib file of the UI corpus (they follow the API tests' rows and the XSS rows)."""
    _, rows = ui_corpus
    real = rows[len(corpus_rows()) + len(XSS_ROWS) + len(PII_ROWS):]
    return next(r for r in real if len(r["content"]) >= min_chars and r["content"].isascii())


def test_search_paginate_and_open_a_document(ui):
    page = ui.goto("/")
    page.fill("#q", "widget")
    page.keyboard.press("Enter")
    expect(page.locator(".hit")).to_have_count(10)
    expect(page.locator("#status")).to_contain_text("25 documents")
    expect(page.locator(".hit mark").first).to_be_visible()
    ui.shot("search")
    page.click("a[rel=next]")
    expect(page).to_have_url(re.compile(r"[?&]page=2"))
    expect(page.locator(".page-of")).to_have_text("page 2 of 3")
    page.go_back()
    expect(page.locator(".page-of")).to_have_text("page 1 of 3")
    page.locator(".hit-path").first.click()
    expect(page.locator("#code .line").first).to_be_visible()
    expect(page.locator("#code mark").first).to_be_visible()
    expect(page.locator("#code .t-k", has_text="class").first).to_be_visible()  # syntax colours
    expect(page.locator("#sources li")).to_have_count(1)
    ui.shot("document")


def test_a_document_lists_every_source_of_an_exact_duplicate_and_anchors_lines(ui):
    page = ui.goto("/?q=shared_helper")
    page.locator(".hit-path").first.click()
    expect(page.locator("#sources li")).to_have_count(3)
    url = page.url.split("?")[0] + "#L1-L2"
    page.goto(url)
    expect(page.locator(".line.target")).to_have_count(2)


def test_membership_marks_the_matched_windows(ui, ui_corpus):
    text = real_row(ui_corpus)["content"][:900] + "\nmine = 'nothing like this is in any corpus at all, surely'\n"
    page = ui.goto("/membership")
    page.fill("#text", text)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#verdict")).to_contain_text("Found")
    expect(page.locator("#marked mark.found").first).to_be_visible()
    expect(page.locator("#facts")).to_contain_text("longest match")
    expect(page.locator("#fpr")).to_contain_text("once in")
    assert "#text=" in page.url  # the state is in the fragment, shareable
    ui.shot("membership")
    reloaded = ui.goto("/membership" + page.url[page.url.index("#"):])
    expect(reloaded.locator("#verdict")).to_contain_text("Found")


def test_api_errors_are_shown_in_the_page(ui):
    page = ui.goto("/membership")
    page.fill("#text", "too short")
    page.click("#membership-form button[type=submit]")
    expect(page.locator("#status.error")).to_contain_text("50")
    ui.errors.clear()  # the browser logs the 400 itself


def test_attribute_pasted_text_and_open_a_spans_sources(ui, ui_corpus):
    row = real_row(ui_corpus)
    page = ui.goto("/attribute")
    page.click("#tab-paste")
    page.fill("#paste", row["content"][200:1200])
    page.click("#paste-form button[type=submit]")
    span = page.locator("#output mark.span").first
    expect(span).to_be_visible()
    # keyboard: Tab reaches the span, Enter opens its sources
    span.focus()
    page.keyboard.press("Enter")
    panel = page.locator("#panel")
    expect(panel.locator(".hit-path").first).to_contain_text(row["path"])
    expect(panel.locator(".context-snippet mark").first).to_be_visible()
    expect(page.locator("#summary")).to_contain_text("verbatim span")
    expect(page.locator("#near h2")).to_be_visible()
    ui.shot("attribution")
    panel.locator(".hit-path").first.click()
    expect(page.locator(".line.target").first).to_be_visible()


def test_a_truncated_answer_says_so_and_what_was_cut(capped_ui, ui):
    """Two stored files hold the Fibonacci generator and the capped server counts one file per
    span: the page says the answer is incomplete and why, and the span's count is "at least"."""
    text = "\n".join([FIB, DUPLICATE, XSS])
    for page_on, truncated in ((capped_ui, True), (ui, False)):
        page = page_on.goto("/attribute")
        page.click("#tab-paste")
        page.fill("#paste", text)
        page.click("#paste-form button[type=submit]")
        expect(page.locator("#summary h2")).to_be_visible()
        notice = page.locator("#truncated")
        expect(page.locator("#output mark.span")).to_have_count(3)  # every span, either way
        fib = page.locator("#output mark.span").first
        if truncated:
            expect(notice).to_be_visible()
            expect(notice).to_contain_text("Incomplete answer: 1 span is held by more than 1 file "
                                           "and only that many were counted")
            assert "found in at least 2 files" in fib.get_attribute("title")
            expect(page.locator("#status")).to_contain_text("incomplete")
            page_on.shot("truncated")
        else:
            expect(notice).to_be_hidden()
            assert "found in 2 files" in fib.get_attribute("title")


def test_generate_streams_then_attributes_the_output(ui):
    page = ui.goto("/attribute")
    expect(page.locator("#tab-generate")).to_have_attribute("aria-selected", "true")
    page.fill("#prompt", "import os\n\n\ndef ")
    page.fill("input[name=max_new_tokens]", "40")
    page.fill("input[name=temperature]", "0")
    page.click("#generate")
    expect(page.locator("#status")).to_have_text(re.compile(r"^\d+ tokens? generated"), timeout=60_000)
    new_tokens = int(page.locator("#status").inner_text().split()[0])
    # the tiny test model may well write only spaces: what counts is that it all arrived
    assert new_tokens >= 1 and page.locator("#output .generated").text_content()
    expect(page.locator("#output .context")).to_contain_text("import os")
    ui.shot("generate")


def test_dataset_lookup_and_an_optout_request(ui, ui_corpus):
    page = ui.goto("/dataset?q=widgets")
    expect(page.locator("#owners li")).to_have_count(1)
    expect(page.locator("#repos li")).to_have_count(5)
    page.locator("#repos li button").first.click()
    expect(page.locator("#optout-form input[name=name]")).to_have_value(re.compile(r"^widgets/w\d$"))
    name = page.locator("#optout-form input[name=name]").input_value()
    page.fill("#optout-form input[name=contact]", "author@example.org")
    page.fill("#optout-form textarea[name=reason]", "I wrote these widgets and want them out.")
    page.click("#optout-form button[type=submit]")
    expect(page.locator("#optout-status")).to_contain_text("received")
    ui.shot("dataset")
    recorded = OptoutRequests(ui_corpus[0]).list()
    assert any(r.get("repo") == name and r["indexed_documents"] == 5 for r in recorded)
    page.locator("#repos li a").first.click()  # the repository's files, in search
    expect(page.locator(".hit").first).to_be_visible()


def test_ask_to_remove_a_repository_named_after_its_folder(ui, ui_corpus):
    """`starscope ingest ~/src/json` names the tree json (no owner/name): its button works too."""
    page = ui.goto("/dataset?q=json")
    page.locator("#repos li button[data-name=json]").click()
    expect(page.locator("#optout-form input[name=name]")).to_have_value("json")
    page.fill("#optout-form input[name=contact]", "author@example.org")
    page.fill("#optout-form textarea[name=reason]", "My folder, my code.")
    page.click("#optout-form button[type=submit]")
    expect(page.locator("#optout-status")).to_contain_text("received for json (1 file indexed now)")
    assert any(r.get("repo") == "json" and r["indexed_documents"] == 1 for r in OptoutRequests(ui_corpus[0]).list())


def test_personal_data_in_contents_and_names_stays_hidden_and_the_pages_still_work(ui):
    """A key, an email address and an IP address in a file, its path and its repository: the
    pages show placeholders, no GitHub link, and the attribution's context still marks the
    right lines of the redacted file."""
    secrets = ("AKIAZ7Q4WTNVHK2L5RXD", "ops@corp-mail.de", "34.102.136.180")
    page = ui.goto("/attribute")
    page.click("#tab-paste")
    page.fill("#paste", PII_BODY)
    page.click("#paste-form button[type=submit]")
    page.locator("#output mark.span").first.click()
    source = page.locator("#panel li.source").first
    expect(source.locator(".hit-path")).to_have_text("ops/deploy-<IP_ADDRESS>/secrets/<KEY>.py")
    expect(source.locator("a.ext")).to_have_count(0)
    expect(source.locator(".context-snippet")).to_contain_text('AWS_KEY = "<KEY>"  # <EMAIL>')
    marked = source.locator(".context-snippet mark").all_text_contents()
    assert marked and all(m in PII_BODY for m in marked) and "rotate_credentials" in "".join(marked)
    ui.shot("pii-attribution")
    source.locator(".hit-path").click()
    expect(page.locator(".doc-title")).to_have_text("ops/deploy-<IP_ADDRESS>/secrets/<KEY>.py")
    expect(page.locator("#code")).to_contain_text('AWS_KEY = "<KEY>"')
    expect(page.locator("#sources a")).to_have_count(0)
    page = ui.goto("/dataset?q=ops")
    item = page.locator("#repos li", has_text="ops/deploy-<IP_ADDRESS>")
    expect(item.locator("a")).to_have_count(0)  # a search for the redacted name would find nothing
    item.locator("button").click()
    expect(page.locator("#optout-form input[name=name]")).to_have_value("")
    expect(page.locator("#optout-form input[name=name]")).to_be_focused()
    for text in (page.content(), ui.goto("/?q=rotate_credentials").content()):
        assert not any(s in text for s in secrets)


@pytest.mark.parametrize("where", ["search", "document", "attribution", "dataset"])
def test_markup_in_the_corpus_shows_as_text_and_runs_nothing(ui, where):
    """The corpus holds HTML and JavaScript in contents, paths and repository names; every page
    that shows them shows the characters (the ``ui`` fixture then checks no script ran and no
    dialog opened)."""
    if where in ("search", "document"):
        page = ui.goto("/?q=onerror")
        expect(page.locator(".hit", has_text="window.__xss='path'")).to_have_count(1)
        expect(page.locator(".hit", has_text="<script>alert(3)</script>.html")).to_have_count(1)
        expect(page.locator("#results")).to_contain_text("<img src=x onerror=")
        if where == "document":
            page.locator(".hit-path", has_text="window.__xss='path'").click()
            expect(page.locator("#code")).to_contain_text("<script>window.__xss = 'content'</script>")
            expect(page.locator(".doc-title")).to_contain_text("<script>window.__xss='repo'</script>")
    elif where == "attribution":
        page = ui.goto("/attribute")
        page.click("#tab-paste")
        page.fill("#paste", "<script>window.__xss = 'content'</script>\n<img src=x onerror=\"window.__xss = 'onerror'\">\n")
        page.click("#paste-form button[type=submit]")
        page.locator("#output mark.span").first.click()
        expect(page.locator("#panel")).to_contain_text("onerror=\"window.__xss='path'\"")
    else:
        page = ui.goto("/dataset?q=x")
        expect(page.locator("#owners")).to_contain_text('x"><img src=x onerror=')
    assert page.locator("#results script, #code script, #panel script, #output script, #owners img, "
                        "#results img, #panel img").count() == 0
    ui.shot(f"xss-{where}")


def test_a_phone_screen_fits_without_sideways_scrolling(browser, ui_server, tmp_path, ui_corpus):
    from .conftest import Page

    phone = Page(browser, ui_server, tmp_path, width=390, height=844)
    try:
        for path in ("/?q=widget", "/attribute#tab=paste", "/dataset?q=widgets", "/membership"):
            page = phone.goto(path)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, path
            expect(page.locator(".nav")).to_be_visible()
            phone.shot("phone-" + path.strip("/").split("?")[0].split("#")[0] or "search")
        assert not phone.errors, phone.errors
    finally:
        phone.close()
