"""The one error shape of the API, produced here and nowhere else.

Views raise; the handlers that :func:`register_error_handlers` installs turn every exception into

    {"error": {"code": "invalid_parameter", "message": "...", "details": {...}}}

for paths under ``/api/``, ``/overlap`` and ``/openapi.json`` (``details`` only when there are
some), and into the HTML error page for the browser pages. ``code`` is stable and machine-readable; ``message`` is for people.

======================  ======  ====================================================
code                    status  raised by
======================  ======  ====================================================
``invalid_parameter``   400     a bad ``page``/``size``/``sort``/flag, a missing ``q``,
                                an unknown parameter (``details.parameter`` names it)
``empty_query`` etc.    400     :class:`indexer.query.QueryError`, with its own code
``page_out_of_range``   400     :class:`indexer.store.PageOutOfRange`
                                (``details``: ``total``, ``pages``, ``page``)
``not_found``           404     an unknown document or route
``method_not_allowed``  405     a wrong HTTP method (the ``Allow`` header lists the right ones)
``query_too_long``      413     a query over the configured ``MAX_QUERY_CHARS``
``payload_too_large``   413     a request body over ``MAX_CONTENT_LENGTH``
``text_too_long``       413     text over the index's ``max_chars`` (``details``: ``length``,
                                ``limit``); ``empty_text``, ``text_too_short`` (400) too
``invalid_json``        400     a body that does not parse (``invalid_body``: not an object)
``unsupported_media_type`` 415  a body not sent as ``application/json``
``no_membership_sketch`` 409    membership on an index built with ``--no-membership``
``filter_outdated``     409     membership on an index whose Bloom filter an older
                                StarScope wrote (``starscope rebuild-filter``)
``spans_missing``       409     attribution on an index without a usable span index (built
                                by an older StarScope: rerun ``starscope index`` on its shards)
``no_model``            409     ``/api/generate`` on a server started without ``--model``
``unauthorized``        401     admin endpoints: missing or wrong bearer token
``admin_disabled``      403     admin endpoints on a server without ``ADMIN_TOKEN``
``store_unavailable``   503     :class:`indexer.store.StoreUnavailable`: the Elasticsearch
                                server cannot be reached (the log names its URL; the answer not)
``bad_request``         400     the HTTP server: a request that is not HTTP it can read
``request_timeout``     408     the HTTP server: a request not sent within ``--read-timeout``
``uri_too_long``        414     the HTTP server: a request line over its limit
``headers_too_large``   431     the HTTP server: request headers over their limit
``server_busy``         503     the HTTP server: a slow connection closed for a new one
``internal_error``      500     anything else; logged with its traceback, never sent
======================  ======  ====================================================
"""

from __future__ import annotations

from flask import Flask, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from indexer.query import QueryError, QueryTooLong
from membership.attribution import AttributionInputError
from indexer.store import PageOutOfRange, StoreUnavailable


class ApiError(Exception):
    """An error a view raises on purpose; the handler sends it as is (with ``headers``)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict | None = None, status: int | None = None,
                 code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class InvalidParameter(ApiError):
    """A query-string parameter the API cannot use; ``details.parameter`` names it."""

    code = "invalid_parameter"

    def __init__(self, parameter: str, message: str, **details):
        super().__init__(message, details={"parameter": parameter, **details})


class NotFound(ApiError):
    status = 404
    code = "not_found"


# Codes for the HTTP errors Werkzeug raises itself (routing, body size, bad requests).
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
               413: "payload_too_large", 414: "uri_too_long"}


def wants_json() -> bool:
    """API paths always answer errors in JSON; browser pages get the HTML error page."""
    return request.path in ("/api", "/overlap", "/openapi.json") or request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, details: dict | None = None,
                   headers: dict | None = None):
    """The response for one error: the JSON shape on API paths, the error page elsewhere."""
    if wants_json():
        body = {"code": code, "message": message}
        if details:
            body["details"] = details
        response = jsonify(error=body)
    else:
        response = current_app.make_response(
            render_template("error.html", status=status, code=code, message=message))
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _api_error(e: ApiError):
    return error_response(e.status, e.code, e.message, e.details, headers=e.headers)


def _query_too_long(e: QueryTooLong):
    return error_response(413, e.code, str(e), {"length": e.length, "limit": e.limit})


def _query_error(e: QueryError):
    return error_response(400, e.code, str(e))


def _page_out_of_range(e: PageOutOfRange):
    return error_response(400, "page_out_of_range", str(e),
                          {"total": e.total, "pages": e.pages, "page": e.page.number})


def _http_error(e: HTTPException):
    status = e.code or 500
    code = _HTTP_CODES.get(status) or (e.name or "http_error").lower().replace(" ", "_")
    # Keep the headers Werkzeug computed (405's ``Allow``), not its HTML content type.
    headers = {k: v for k, v in e.get_headers() if k.lower() != "content-type"}
    message = e.description or e.name
    if message == type(e).description:  # Werkzeug's generic wording: say what was asked
        if status == 404:
            message = f"nothing at {request.path}"
        elif status == 405:
            message = f"{request.method} is not allowed on {request.path}; use {headers.get('Allow', 'GET')}"
    return error_response(status, code, message, headers=headers)


def _attribution_input(e: AttributionInputError):
    details = {"length": e.length, "limit": e.limit} if hasattr(e, "limit") else None
    return error_response(e.status, e.code, str(e), details)


# What a client is told when the store cannot be reached. The exception's own message names the
# cluster's address, which is the operator's: it goes to the log only.
STORE_UNAVAILABLE = "the search store cannot be reached; retry in a few seconds (the server log says why)"


def _store_unavailable(e: StoreUnavailable):
    current_app.logger.error("store unavailable on %s %s (request %s): %s", request.method, request.path,
                             g.get("request_id"), e)
    return error_response(503, "store_unavailable", STORE_UNAVAILABLE, headers={"Retry-After": "5"})


def _internal_error(e: Exception):
    current_app.logger.exception("unhandled error on %s %s (request %s)", request.method, request.path,
                                 g.get("request_id"))
    return error_response(500, "internal_error",
                          "internal error; the server log has the details")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers above; Flask picks the most specific class of each exception."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(QueryTooLong, _query_too_long)
    app.register_error_handler(QueryError, _query_error)
    app.register_error_handler(PageOutOfRange, _page_out_of_range)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(StoreUnavailable, _store_unavailable)
    app.register_error_handler(AttributionInputError, _attribution_input)
    app.register_error_handler(Exception, _internal_error)
