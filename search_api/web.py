"""The browser pages: server-rendered shells whose scripts (``web/static``) call the JSON API.

Note:
    The templates only ever receive corpus text (a document's repository and path) through
    Jinja's autoescaping, and the scripts insert it with ``textContent``; the corpus holds
    HTML and JavaScript, which must show as text and never run.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from indexer.query import SORTS

from . import privacy
from .documents import get_document
from .pagination import MAX_RESULT_WINDOW
from .served import served_index

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
    return render_template("document.html", doc=privacy.source_json(doc.summary_json()), q=request.args.get("q", ""),
                           exact=request.args.get("exact", ""))


@bp.get("/membership")
def membership_page():
    """Paste code, see which of its windows the membership filter finds."""
    return render_template("membership.html")


@bp.get("/attribute")
def attribute_page():
    """The playground: generate with the server's model (or paste any text) and see the
    generated text's verbatim spans, their sources and licenses, and near-duplicates."""
    gen = served_index().generator
    return render_template("attribute.html", model=None if gen is None else gen.describe(),
                           max_new_tokens=gen.max_new_tokens_cap if gen is not None else 1024)


@bp.get("/dataset")
def dataset_page():
    """"Am I in the dataset?": repositories and owners by name, and the opt-out request form."""
    return render_template("dataset.html", q=request.args.get("q", ""))
