"""``create_app``: the only place the Flask app is assembled."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge

import web
from indexer import query as query_lang
from indexer.manifest import read_manifest
from indexer.store import Store
from indexer.stores import open_index

from .limits import LIMITERS, LIMITS, RateLimiter, add_cors_headers, enforce_rate_limit, parse_rate, trusted_hops

EXTENSION = "starscope"
DEFAULTS = {"MAX_CONTENT_LENGTH": 1 << 20, "MAX_QUERY_CHARS": query_lang.MAX_QUERY_CHARS,
            "MAX_BATCH_LINES": 1000, "MAX_BATCH_BYTES": 64 << 20, "MAX_TEXT_CHARS": 1_000_000, "MAX_CANDIDATES": 200,
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


@dataclass(frozen=True)
class ServedIndex:
    """The index directory the app serves: its store and manifest, opened once at start."""

    path: Path
    store: Store
    manifest: dict
    membership: object = None  # a membership.attribution.MembershipIndex, None without a sketch
    generator: object = None  # a model.generate.Generator, None without MODEL
    ledger: object = None  # the index's indexer.optout.OptoutLedger (re-read only when it changes)

    @classmethod
    def open(cls, index_dir: str | Path, *, es=None, max_text_chars: int = 1_000_000,
             max_candidates: int = 200, model: str | None = None, model_device: str | None = None, generator=None) -> "ServedIndex":
        """Open the store the manifest names (``es``: where an Elasticsearch-backed index is
        served from, if not where it was built); ``generator``: a loaded model to serve
        instead of loading ``model``.

        Raises:
            indexer.manifest.ManifestError: ``index_dir`` is not a StarScope index.
            indexer.store.StoreError: its store cannot be opened or reached.
        """
        from membership.attribution import AttributionConfig, MembershipIndex
        from membership.sketch import SketchMissing

        manifest = read_manifest(index_dir)
        store = open_index(index_dir, es=es)
        store.warm()
        try:
            membership = MembershipIndex.open(index_dir, store=store,
                                              config=AttributionConfig(max_chars=max_text_chars,
                                                                       max_candidates=max_candidates))
        except SketchMissing:
            membership = None  # a search-only index: the membership endpoints say so
        if generator is None and model:
            from model.generate import Generator

            generator = Generator.load(model, device=model_device)
        from indexer.optout import OptoutLedger

        ledger = membership.ledger if membership is not None else OptoutLedger(index_dir)
        return cls(path=Path(index_dir), store=store, manifest=manifest, membership=membership,
                   generator=generator, ledger=ledger)

    @property
    def languages(self) -> list[str]:
        """Languages in the index at build time, most documents first."""
        by_lang = self.manifest.get("store", {}).get("by_lang") or {}
        return [lang for lang, _ in sorted(by_lang.items(), key=lambda kv: (-kv[1], kv[0])) if lang]


class LiveIndex:
    """What the app serves: the index directory ``INDEX_DIR`` names, followed when it is a link
    that ``starscope switch`` moves (:mod:`indexer.live`).

    At most once a second a request looks where the link points; when that changed, a thread
    opens the new directory (reusing the loaded model) while requests go on being answered from
    the old one, then the new one takes over for requests that start afterwards. Requests under
    way finish on the one they began with. A directory that fails to open is retried every
    ``RETRY_SECONDS`` and reported by ``/api/health`` meanwhile; the old one stays served.
    """

    CHECK_SECONDS = 1.0
    RETRY_SECONDS = 10.0

    def __init__(self, link: str | Path, *, logger: logging.Logger | None = None, **open_args):
        self.link = Path(link)
        self.logger = logger or logging.getLogger(__name__)
        self._open_args = open_args
        self.current = ServedIndex.open(Path(os.path.realpath(self.link)), **open_args)
        self.switched_at: str | None = None
        self.switch_error: dict | None = None
        self._switching = threading.Lock()  # held while the link is looked at or followed
        self._next_check = time.monotonic() + self.CHECK_SECONDS

    def get(self) -> ServedIndex:
        """The index to answer from now (starting a switch in the background when due)."""
        now = time.monotonic()
        if now >= self._next_check and self._switching.acquire(blocking=False):
            self._next_check = now + self.CHECK_SECONDS
            target = Path(os.path.realpath(self.link))
            if target == self.current.path:
                self._switching.release()
            else:  # the thread releases the lock when the switch is done (or failed)
                threading.Thread(target=self._switch, args=(target, True), daemon=True,
                                 name="starscope-switch").start()
        return self.current

    def follow_now(self) -> ServedIndex:
        """Switch to where the link points before returning (a writer just learned that the
        served directory was superseded)."""
        with self._switching:
            target = Path(os.path.realpath(self.link))
            if target != self.current.path:
                self._switch(target, False)
        return self.current

    def _switch(self, target: Path, release: bool) -> None:
        args = {**self._open_args, "generator": self.current.generator}
        if getattr(args.get("es"), "index", None):
            # an index name given at start was for the directory served then; another one
            # reads the cluster index its own pointer file names
            args["es"] = replace(args["es"], index=None)
        try:
            index = ServedIndex.open(target, **args)
        except Exception as e:  # noqa: BLE001 - any failure leaves the old index served, and says so
            self.switch_error = {"target": str(target), "message": f"{type(e).__name__}: {e}",
                                 "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            self._next_check = time.monotonic() + self.RETRY_SECONDS
            self.logger.error("cannot switch to %s (still serving %s; retrying in %.0f s): %s",
                              target, self.current.path, self.RETRY_SECONDS, self.switch_error["message"])
        else:
            self.logger.info("switched from %s to %s", self.current.path, target)
            self.current, self.switch_error = index, None
            self.switched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        finally:
            if release:
                self._switching.release()


def served_index() -> ServedIndex:
    """The index the current request answers from: the same one for all of its lookups, even
    if a switch happens meanwhile."""
    served = g.get("served_index")
    if served is None:
        served = g.served_index = current_app.extensions[EXTENSION].get()
    return served


def follow_switch() -> ServedIndex:
    """The served index after a switch this request's index lost to (see
    :class:`indexer.live.IndexSuperseded`); the request answers from it from now on."""
    served = g.served_index = current_app.extensions[EXTENSION].follow_now()
    return served


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
    for name in ("MAX_CONTENT_LENGTH", "MAX_BATCH_LINES", "MAX_BATCH_BYTES", "MAX_TEXT_CHARS", "MAX_CANDIDATES"):
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
    from .errors import ApiError

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
    stored files one attribution fetches and verifies at most; answers cut by it say so), ``MODEL`` (a model folder
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
    from . import admin, documents, generation, health, membership, search
    from . import web as pages
    from .errors import register_error_handlers

    settings = checked_config(dict(config or {}))
    app = Flask(__name__, template_folder=str(WEB_DIR / "templates"),
                static_folder=str(WEB_DIR / "static"), static_url_path="/static")
    app.config.update(settings)
    app.json.sort_keys = False  # keep the records' own order: totals before hits
    app.extensions[EXTENSION] = LiveIndex(settings["INDEX_DIR"], logger=app.logger,
                                          es=settings.get("ELASTICSEARCH"),
                                          max_text_chars=settings["MAX_TEXT_CHARS"],
                                          max_candidates=settings["MAX_CANDIDATES"],
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
