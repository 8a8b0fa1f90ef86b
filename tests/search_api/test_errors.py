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
