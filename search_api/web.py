"""The browser pages: server-rendered shells whose scripts (``web/static``) call the JSON API.

Note:
    The templates only ever receive corpus text (a document's repository and path) through
    Jinja's autoescaping, and the scripts insert it with ``textContent``; the corpus holds
    HTML and JavaScript, which must show as text and never run.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from indexer.query import SORTS

from .app import served_index
from .documents import get_document
from .pagination import MAX_RESULT_WINDOW

bp = Blueprint("pages", __name__)


@bp.get("/")
def search_page():
    """The search form, filled from the URL so a reload shows the same search."""
    index = served_index()
    return render_template("search.html", args=request.args, languages=index.languages,
                           sorts=SORTS, documents=index.manifest.get("counts", {}).get("documents"),
                           max_result_window=MAX_RESULT_WINDOW)


@bp.get("/doc/<sha>")
def document_page(sha: str):
    """One document; an unknown id is a 404 page here rather than an empty shell."""
    doc = get_document(sha)
    return render_template("document.html", doc=doc.summary_json(), q=request.args.get("q", ""),
                           exact=request.args.get("exact", ""))
