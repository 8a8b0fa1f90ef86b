"""``/api/documents/<sha>``: one stored content, whole, with every source it was found at."""

from __future__ import annotations

import re

from flask import Blueprint, request

from indexer.query import SearchQuery
from indexer.snippets import line_snippets, match_ranges
from indexer.syntax import token_ranges

from . import models
from .app import served_index
from .errors import InvalidParameter, NotFound
from .openapi import operation, query_params
from .search import flag_arg, query_from_args

bp = Blueprint("documents", __name__)

_SHA_RE = re.compile(r"[0-9a-fA-F]{40}")
# Every matching line, not a search hit's first few: the page highlights all of them.
_ALL_LINES = 10**9


def parse_sha(sha: str) -> str:
    """A document id is the git blob SHA-1 of its content: 40 hex digits (case-insensitive)."""
    if not _SHA_RE.fullmatch(sha):
        raise InvalidParameter("sha", "a document id is 40 hexadecimal digits (the content's git "
                               f"blob sha), got {sha[:60]!r}")
    return sha.lower()


def document_matches(content: str, query: SearchQuery) -> dict:
    """Where ``query`` matches in ``content``: every range, and the matching lines.

    Note:
        Offsets count Unicode code points (Python ``str`` indices), not UTF-16 units as
        JavaScript strings do; ``ranges`` are ``[start, end)`` in the whole content, snippet
        ``ranges`` are within the snippet's ``text`` (see :class:`indexer.snippets.Snippet`).
    """
    ranges = match_ranges(content, query)
    return {"count": len(ranges), "ranges": [list(r) for r in ranges],
            "snippets": [s.to_json() for s in line_snippets(content, ranges, limit=_ALL_LINES)]}


def get_document(sha: str):
    """The stored document ``sha`` (validated first).

    Raises:
        InvalidParameter: ``sha`` is not 40 hex digits.
        NotFound: no such document in the index.
    """
    sha = parse_sha(sha)
    doc = served_index().store.get(sha)
    if doc is None:
        raise NotFound(f"no document with id {sha} in this index", details={"sha": sha})
    return doc


@operation(bp, "/api/documents/<sha>", summary="One stored content, whole, with all its sources",
           query=models.DocumentParams, response=models.DocumentResponse, errors=(404, 413))
def document(sha: str):
    """The content, its metadata and all its sources; ``?q=`` (with ``exact=``) adds
    ``matches``. An empty ``q`` means no query, so a page can always pass its own. ``?syntax=1``
    adds ``syntax``: the lexer and ``[start, end, class]`` ranges for colouring the code."""
    query_params(models.DocumentParams)  # a bad flag is an error even without a query
    doc = get_document(sha)
    body = doc.to_json()
    if request.args.get("q"):
        text, query = query_from_args(request.args)
        body["matches"] = {"query": text, **document_matches(doc.content, query)}
    if flag_arg(request.args, "syntax"):
        lexer, tokens = token_ranges(doc.content, lang=doc.lang, path=doc.primary.path)
        body["syntax"] = {"lexer": lexer, "tokens": tokens}
    return body
