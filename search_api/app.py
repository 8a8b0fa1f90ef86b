"""``create_app``: the only place the Flask app is assembled."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from flask import Flask, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge

import web
from indexer import query as query_lang

from . import admin, documents, generation, health, membership, search
from . import web as pages
from .errors import ApiError, register_error_handlers
from .limits import LIMITERS, LIMITS, RateLimiter, add_cors_headers, enforce_rate_limit, parse_rate, trusted_hops
from .served import EXTENSION, LiveIndex

DEFAULTS = {"MAX_CONTENT_LENGTH": 1 << 20, "MAX_QUERY_CHARS": query_lang.MAX_QUERY_CHARS,
            "MAX_BATCH_LINES": 1000, "MAX_BATCH_BYTES": 64 << 20, "MAX_TEXT_CHARS": 1_000_000, "MAX_CANDIDATES": 200,
            "MAX_COUNTED": 4096,
            "ADMIN_TOKEN": None, "MODEL": None, "MODEL_DEVICE": None, "RATE_LIMIT": None,
            "SEARCH_RATE_LIMIT": None, "CORS_ORIGINS": (), "TRUST_PROXY": False, "REDACT_PII": True}
# Routes whose body is a stream of many texts, bounded by MAX_BATCH_BYTES instead.
BATCH_PATHS = ("/api/attribution/batch",)
# The WSGI environ key of a request the HTTP server refused: (status, code, message).
SERVER_ERROR = "starscope.server_error"
WEB_DIR = Path(web.__file__).parent
# The pages load only their own scripts and styles; with no inline script allowed, even a bug
# that put corpus text into markup could not run it.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def checked_config(config: dict) -> dict:
    """``config`` over the defaults, every value checked (ValueError naming the bad one)."""
    if not config.get("INDEX_DIR"):
        raise ValueError("create_app needs config['INDEX_DIR']: the directory written by "
                         "`starscope index SHARDS --out DIR`")
    merged = {**DEFAULTS, **config}
    limit = merged["MAX_QUERY_CHARS"]
    if not isinstance(limit, int) or not 1 <= limit <= query_lang.MAX_QUERY_CHARS:
        raise ValueError(f"MAX_QUERY_CHARS must be an int from 1 to {query_lang.MAX_QUERY_CHARS} "
                         f"(the query parser's own limit), got {limit!r}")
    for name in ("MAX_CONTENT_LENGTH", "MAX_BATCH_LINES", "MAX_BATCH_BYTES", "MAX_TEXT_CHARS", "MAX_CANDIDATES",
                 "MAX_COUNTED"):
        value = merged[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    token = merged["ADMIN_TOKEN"]
    if token is not None and (not isinstance(token, str) or len(token) < 16):
        raise ValueError("ADMIN_TOKEN must be a string of at least 16 characters (or None: admin off)")
    for key, _ in LIMITS:
        parse_rate(merged[key])
    merged["TRUST_PROXY"] = trusted_hops(merged["TRUST_PROXY"])
    origins = merged["CORS_ORIGINS"]
    if isinstance(origins, str) or not all(isinstance(o, str) and re.fullmatch(r"https?://[^/\s]+", o)
                                           for o in origins):
        raise ValueError(f"CORS_ORIGINS is a list of origins like https://example.org, got {origins!r}")
    merged["CORS_ORIGINS"] = tuple(origins)
    return merged


def body_limit(config, path: str) -> int:
    """The most bytes a request body to ``path`` may hold."""
    return config["MAX_BATCH_BYTES" if path in BATCH_PATHS else "MAX_CONTENT_LENGTH"]


def _reject_large_body():
    """Refuse an oversized body before routing reads it: a GET view never reads its body,
    so Werkzeug's own limit, which applies when the stream is read, would never fire."""
    batch = request.path in BATCH_PATHS
    limit = body_limit(current_app.config, request.path)
    request.max_content_length = limit  # also bounds a chunked body as it is read
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"the request body is {request.content_length} bytes; "
                                    f"the limit is {limit}" + (" (MAX_BATCH_BYTES)" if batch else ""))


def _answer_server_error():
    """A request the HTTP server refused before it was whole (:mod:`search_api.worker`: a
    timeout, a request line, headers or a body over their limits) is answered here, so that
    its error has the one shape too."""
    refused = request.environ.get(SERVER_ERROR)
    if refused is not None:
        status, code, message = refused
        raise ApiError(message, status=status, code=code)


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _assign_request_id():
    """The client's ``X-Request-ID`` when it is a plain token, else a new one."""
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _add_security_headers(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def create_app(config: dict | None = None) -> Flask:
    """Build the app for one index directory.

    Config keys: ``INDEX_DIR`` (required), ``ADMIN_TOKEN`` (the bearer token of the admin
    endpoints, at least 16 characters; None, the default, turns them off), ``MAX_BATCH_LINES``
    (1000) and ``MAX_BATCH_BYTES`` (64 MiB) for ``/api/attribution/batch``, ``MAX_TEXT_CHARS``
    (1,000,000: the longest text membership and attribution take), ``MAX_CANDIDATES`` (200: the
    near-duplicate candidates one attribution scores at most; answers cut by it say so),
    ``MAX_COUNTED`` (4096: the documents whose sources a span's count sums at most; past it the
    count is a lower bound, said so), ``MODEL`` (a model folder
    for ``/api/generate``; None: no generation) and ``MODEL_DEVICE``, ``ELASTICSEARCH`` (an
    :class:`indexer.es_config.ElasticsearchConfig` overriding where an Elasticsearch-backed index
    is read from; default: where it was built), ``MAX_CONTENT_LENGTH`` (bytes, default 1 MiB),
    ``MAX_QUERY_CHARS`` (default and ceiling: :data:`indexer.query.MAX_QUERY_CHARS`),
    ``RATE_LIMIT`` (``"N/minute"`` per client on the heavy endpoints; None, the default: no limit),
    ``SEARCH_RATE_LIMIT`` (the same on search, documents and repository names),
    ``CORS_ORIGINS`` (origins whose pages may call the API; empty, the default: none),
    ``TRUST_PROXY`` (the number of reverse proxies in front, whose ``X-Forwarded-For`` entries
    name the client; 0 or False, the default: none; see :mod:`search_api.limits`),
    ``REDACT_PII`` (True: corpus text served is redacted, see :mod:`indexer.pii`), plus any Flask
    setting (``TESTING``, ...).

    Raises:
        ValueError: a missing or invalid config value.
        indexer.manifest.ManifestError: ``INDEX_DIR`` is not a StarScope index.
    """
    settings = checked_config(dict(config or {}))
    app = Flask(__name__, template_folder=str(WEB_DIR / "templates"),
                static_folder=str(WEB_DIR / "static"), static_url_path="/static")
    app.config.update(settings)
    app.json.sort_keys = False  # keep the records' own order: totals before hits
    app.extensions[EXTENSION] = LiveIndex(settings["INDEX_DIR"], logger=app.logger,
                                          es=settings.get("ELASTICSEARCH"),
                                          max_text_chars=settings["MAX_TEXT_CHARS"],
                                          max_candidates=settings["MAX_CANDIDATES"],
                                          max_counted=settings["MAX_COUNTED"],
                                          model=settings["MODEL"], model_device=settings["MODEL_DEVICE"])

    app.extensions[LIMITERS] = {key: RateLimiter(*parse_rate(settings[key]))
                                for key, _ in LIMITS if settings[key] is not None}

    register_error_handlers(app)
    app.before_request(_assign_request_id)
    app.before_request(_answer_server_error)
    app.before_request(_reject_large_body)
    app.before_request(enforce_rate_limit)
    app.after_request(_add_security_headers)
    app.after_request(add_cors_headers)
    for blueprint in (search.bp, documents.bp, membership.bp, generation.bp, health.bp, admin.bp, pages.bp):
        app.register_blueprint(blueprint)
    return app
