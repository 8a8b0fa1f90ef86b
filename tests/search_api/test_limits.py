"""Rate limits per client on the heavy endpoints, and CORS closed unless origins are named."""

import pytest

from search_api.app import create_app
from search_api.limits import RateLimiter, parse_rate

from .conftest import FIB, error_of

TEXT = FIB * 2


@pytest.fixture()
def limited(index_dir):
    return create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "RATE_LIMIT": "3/minute",
                       "CORS_ORIGINS": ["https://tools.example.org"]}).test_client()


def test_a_client_over_the_limit_gets_429_with_retry_after(limited):
    for _ in range(3):
        assert limited.post("/api/membership", json={"text": TEXT}).status_code == 200
    r = limited.post("/api/attribution", json={"text": TEXT})
    err = error_of(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1 and err["details"]["limit"] == "3/minute"
    # search and documents are not limited; another client has its own bucket
    assert limited.get("/api/search?q=fibonacci").status_code == 200
    other = limited.post("/api/membership", json={"text": TEXT}, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 200


def test_forwarded_clients_count_only_behind_a_trusted_proxy(index_dir):
    app = create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "RATE_LIMIT": "1/hour", "TRUST_PROXY": True})
    c = app.test_client()
    for who in ("203.0.113.1", "203.0.113.2"):
        assert c.post("/overlap", json={"document": TEXT}, headers={"X-Forwarded-For": who}).status_code == 200
    error_of(c.post("/overlap", json={"document": TEXT}, headers={"X-Forwarded-For": "203.0.113.1"}),
             429, "rate_limited")


def test_buckets_refill_at_the_rate():
    now = [0.0]
    limiter = RateLimiter(2, 60.0, clock=lambda: now[0])
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(30.0)
    now[0] = 30.0
    assert limiter.take("a") == 0
    assert parse_rate("120/minute") == (120, 60.0) and parse_rate(None) is None
    for bad in ("0/minute", "5 per day", "fast"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_cors_is_closed_unless_the_origin_is_named(client, limited):
    r = client.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    r = limited.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    r = limited.get("/api/health", headers={"Origin": "https://tools.example.org"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://tools.example.org"
    pre = limited.options("/api/attribution", headers={"Origin": "https://tools.example.org",
                                                       "Access-Control-Request-Method": "POST"})
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]


def test_bad_limit_settings_are_refused(index_dir):
    for config in ({"RATE_LIMIT": "lots"}, {"CORS_ORIGINS": "https://x.org"}, {"CORS_ORIGINS": ["*"]}):
        with pytest.raises(ValueError):
            create_app({"INDEX_DIR": str(index_dir), **config})
