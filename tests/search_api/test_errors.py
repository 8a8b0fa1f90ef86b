"""Every API error has the one JSON shape, whatever raised it."""

import logging

import pytest
from flask import Blueprint

from search_api.app import create_app

from .conftest import error_of


def test_unknown_api_route_is_404_json(client):
    error_of(client.get("/api/nope"), 404, "not_found")
    error_of(client.get("/api"), 404, "not_found")


def test_unknown_page_route_is_an_html_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_wrong_method_is_405_json_with_allow_header(client, method):
    response = getattr(client, method)("/api/search?q=widget")
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_oversize_body_is_413_json(client):
    response = client.post("/api/search", data=b"x" * ((1 << 20) + 1),
                           content_type="application/octet-stream")
    error_of(response, 413, "payload_too_large")


def test_body_limit_follows_the_config(index_dir):
    app = create_app({"INDEX_DIR": str(index_dir), "MAX_CONTENT_LENGTH": 10})
    error_of(app.test_client().post("/api/search", data=b"x" * 11), 413, "payload_too_large")


def test_unexpected_exception_is_500_json_without_traceback(index_dir, caplog):
    app = create_app({"INDEX_DIR": str(index_dir)})
    boom = Blueprint("boom", __name__)

    @boom.get("/api/boom")
    def explode():
        raise RuntimeError("secret internals /etc/passwd")

    app.register_blueprint(boom)
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/api/boom")
    err = error_of(response, 500, "internal_error")
    assert "secret" not in response.get_data(as_text=True)
    assert "details" not in err
    assert "secret internals" in caplog.text  # logged for the operator


def test_query_limit_follows_the_config(index_dir):
    app = create_app({"INDEX_DIR": str(index_dir), "MAX_QUERY_CHARS": 10})
    client = app.test_client()
    assert client.get("/api/search?q=widget").status_code == 200
    err = error_of(client.get("/api/search?q=widget_widget"), 413, "query_too_long")
    assert err["details"] == {"length": 13, "limit": 10}


# JSON that parses by the grammar but not in Python: nesting past the recursion limit, an integer
# past the 4,300-digit limit of int().
DEEP_JSON = '{"text": ' + "[" * 5000 + "]" * 5000 + "}"
HUGE_INT_JSON = '{"text": ' + "7" * 5000 + "}"


@pytest.mark.parametrize("path", ["/api/membership", "/api/attribution", "/overlap", "/api/optout/requests",
                                  "/api/generate"])
@pytest.mark.parametrize("body", [DEEP_JSON, HUGE_INT_JSON], ids=["deep", "huge-int"])
def test_json_python_cannot_hold_is_400_invalid_json_and_logs_nothing(client, caplog, path, body):
    with caplog.at_level(logging.WARNING):
        error_of(client.post(path, data=body, content_type="application/json"), 400, "invalid_json")
    assert not caplog.records  # no traceback per request for anyone to flood the log with


def chunked_post(app, path: str, body: bytes, content_type: str):
    """A POST whose body has no Content-Length, as a server hands over a chunked one: the
    stream ends where the body does (``wsgi.input_terminated``)."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    environ = EnvironBuilder(path=path, method="POST", data=body, content_type=content_type).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input_terminated"] = True
    return app.test_client().open(Request(environ))


def test_a_chunked_body_over_the_limit_is_413_not_invalid_json(index_dir):
    app = create_app({"INDEX_DIR": str(index_dir), "MAX_CONTENT_LENGTH": 100})
    text = '{"text": "' + "x" * 200 + '"}'
    error_of(chunked_post(app, "/api/membership", text.encode(), "application/json"), 413, "payload_too_large")
    exact = ('{"text": "' + "y" * 88 + '"}').encode()
    assert len(exact) == 100
    assert chunked_post(app, "/api/membership", exact, "application/json").status_code == 200
