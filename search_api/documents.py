"""``/api/documents/<sha>``: one stored content, whole, with every source it was found at."""

from __future__ import annotations

import re

from flask import Blueprint, current_app, request

from indexer.pii import redact
from indexer.snippets import line_snippets, match_ranges
from indexer.syntax import token_ranges

from . import models, privacy
from .errors import InvalidParameter, NotFound
from .openapi import operation, query_params
from .search import flag_arg, query_from_args
from .served import served_index

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


def document_matches(content: str, ranges: list[tuple[int, int]]) -> dict:
    """The ``matches`` block: every range, and the matching lines.

    Note:
        Offsets count Unicode code points (Python ``str`` indices), not UTF-16 units as
        JavaScript strings do; ``ranges`` are ``[start, end)`` in the whole content, snippet
        ``ranges`` are within the snippet's ``text`` (see :class:`indexer.snippets.Snippet`).
    """
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
           query=models.DocumentParams, response=models.DocumentResponse, errors=(404, 413, 429))
def document(sha: str):
    """The content, its metadata and all its sources; ``?q=`` (with ``exact=``) adds
    ``matches``. An empty ``q`` means no query, so a page can always pass its own. ``?syntax=1``
    adds ``syntax``: the lexer and ``[start, end, class]`` ranges for colouring the code.
    Email addresses, IP addresses and keys in the content are replaced by ``<EMAIL>``,
    ``<IP_ADDRESS>`` and ``<KEY>`` (unless the server runs with ``REDACT_PII`` off); ``pii`` then
    counts them and lists where each placeholder is (``[start, end, kind]`` in the redacted
    content), every range and ``size`` are the redacted content's, and a query matches outside
    PII only. Nothing tells where a redacted value was in the stored file or how long it was.
    Repository names and paths are redacted alike (:mod:`search_api.privacy`). Line numbers do
    not change."""
    query_params(models.DocumentParams)  # a bad flag is an error even without a query
    doc = get_document(sha)
    body = privacy.source_json(doc.to_json())
    content, red = doc.content, None
    if current_app.config["REDACT_PII"]:
        body["sources"] = [privacy.source_json(s) for s in body["sources"]]
        red = redact(doc.content)
        if red.findings:
            content = body["content"] = red.text
            body["size"] = len(content.encode("utf-8", "surrogatepass"))
            body["pii"] = {"redacted": red.counts(),
                           "placeholders": [[ns, ns + len(f.placeholder), f.kind]
                                            for f, (_, _, ns, _) in zip(red.findings, red.spans)]}
        else:
            red = None
    if request.args.get("q"):
        text, query = query_from_args(request.args)
        ranges = match_ranges(doc.content, query)
        if red is not None:
            ranges = [red.range(s, e) for s, e in ranges]
        body["matches"] = {"query": text, **document_matches(content, ranges)}
    if flag_arg(request.args, "syntax"):
        lexer, tokens = token_ranges(content, lang=doc.lang, path=doc.primary.path)
        body["syntax"] = {"lexer": lexer, "tokens": tokens}
    return body
