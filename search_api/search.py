"""``/api/search`` and ``/api/repos``: full-text search and the repository names its filter
completes.

Also the query-string readers the other API views share: the query text and mode
(:func:`query_from_args`), flags and choices. The parameters themselves are validated first
with the endpoint's model (:func:`search_api.openapi.query_params`): an unknown one is an error,
so a misspelt ``licence=`` never silently searches everything.
"""

from __future__ import annotations

import time
from typing import Mapping

from flask import Blueprint, current_app, request

from indexer.pii import redact
from indexer.query import SORTS, Filters, SearchQuery, parse_query
from indexer.snippets import line_snippets, match_ranges

from . import models, privacy
from .errors import InvalidParameter
from .openapi import operation, query_params
from .pagination import page_from_args
from .served import served_index

bp = Blueprint("search", __name__)

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")



def flag_arg(args: Mapping[str, str], name: str) -> bool:
    """A boolean parameter: ``1``/``true`` or ``0``/``false`` (absent is false)."""
    raw = args.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise InvalidParameter(name, f"{name} must be 0 or 1, got {raw[:40]!r}")


def choice_arg(args: Mapping[str, str], name: str, choices, default: str) -> str:
    value = args.get(name) or default
    if value not in choices:
        raise InvalidParameter(name, f"{name} must be one of {', '.join(choices)}, got {value[:40]!r}",
                               allowed=list(choices))
    return value


def query_from_args(args: Mapping[str, str], *, filters: Filters | None = None) -> tuple[str, SearchQuery]:
    """The ``q`` text and its parsed query, in the mode ``exact`` asks for; while the app
    redacts PII (``REDACT_PII``), a query for the redacted view (it matches outside PII only).

    Raises:
        InvalidParameter: ``q`` is missing.
        indexer.query.QueryTooLong: ``q`` is longer than the app's ``MAX_QUERY_CHARS``.
        indexer.query.QueryError: nothing in ``q`` to search for (``empty_query``).
    """
    text = args.get("q")
    if text is None:
        raise InvalidParameter("q", "the q parameter (the query) is required")
    return text, parse_query(text, exact=flag_arg(args, "exact"), filters=filters,
                             max_chars=current_app.config["MAX_QUERY_CHARS"],
                             redacted=current_app.config["REDACT_PII"])


@operation(bp, "/api/search", summary="Search the corpus", query=models.SearchParams,
           response=models.SearchResponse, errors=(413, 429))
def search():
    """One page of documents matching ``q``, with highlighted snippets. While PII is redacted
    (``REDACT_PII``), names, snippets and sizes are the redacted ones, and what matches only
    inside PII is not found (see :mod:`indexer.snippets` for keyword searches of over
    :data:`indexer.query.REDACTED_KEYWORD_CHECK` files)."""
    args = request.args
    query_params(models.SearchParams)
    filters = Filters(**{name: args.get(name, "").strip() or None for name in ("lang", "license", "repo")})
    text, query = query_from_args(args, filters=filters)
    page = page_from_args(args)
    sort = choice_arg(args, "sort", SORTS, "score")
    started = time.perf_counter()
    result = served_index().store.search(query, page=page, sort=sort)
    took_ms = (time.perf_counter() - started) * 1000
    body = {"query": text, **result.to_json(), "took_ms": round(took_ms, 2)}
    if current_app.config["REDACT_PII"]:
        body["hits"] = [redacted_hit(hit, out, query) for hit, out in zip(result.hits, body["hits"])]
    return body


def redacted_hit(hit, out: dict, query) -> dict:
    """A hit's JSON as served while PII is redacted: names (:mod:`search_api.privacy`), and
    for a content holding PII, its size and snippets those of the redacted content."""
    out = privacy.source_json(out)
    red = redact(hit.document.content)
    if red.findings:
        ranges = [red.range(s, e) for s, e in match_ranges(hit.document.content, query)]
        out["snippets"] = [s.to_json() for s in line_snippets(red.text, ranges)]
        out["size"] = len(red.text.encode("utf-8", "surrogatepass"))
    return out


@operation(bp, "/api/repos", summary="Indexed repositories and owners by name prefix", query=models.ReposParams,
           response=models.ReposResponse, errors=(429,))
def repos():
    """"Am I in the dataset?": indexed repositories whose name starts with ``q``, and owners
    whose name does, with the number of stored files (contents) of each, most first; and the
    repositories and owners opted out (removed, and never re-ingested) whose name does. While
    PII is redacted, names show placeholders, and a name is left out when ``q`` reaches into
    its PII (see :mod:`search_api.privacy`)."""
    params = query_params(models.ReposParams)
    index = served_index()
    repos = index.store.repos(params.q, limit=params.limit)
    owners = index.store.repos(params.q, limit=params.limit, field="owner")
    body = {"repos": [{"repo": name, "documents": count} for name, count in repos],
            "owners": [{"owner": name, "documents": count} for name, count in owners],
            "opted_out": index.ledger.opted_out(params.q, limit=params.limit)}
    if privacy.redacting():
        for key in ("repos", "owners", "opted_out"):
            body[key] = [privacy.source_json(e) for e in body[key]
                         if not privacy.name_hidden_by_prefix(e.get("repo") or e.get("owner") or "", params.q)]
    return body
