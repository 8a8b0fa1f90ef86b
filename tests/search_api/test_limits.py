"""Rate limits per client (heavy endpoints; search, documents and repository names apart), who
the client is behind trusted proxies, and CORS closed unless origins are named."""

import pytest

from search_api.app import create_app
from search_api.cli import build_parser, proxy_hops
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
    # search has its own bucket (unlimited here); another client has its own bucket
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


def test_search_documents_and_repos_share_their_own_limit(index_dir):
    c = create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "SEARCH_RATE_LIMIT": "3/minute",
                    "RATE_LIMIT": "100/minute"}).test_client()
    sha = c.get("/api/search?q=fibonacci").get_json()["hits"][0]["id"]
    assert c.get(f"/api/documents/{sha}").status_code == 200
    assert c.get("/api/repos?q=math").status_code == 200
    for path in ("/api/search?q=fibonacci", f"/api/documents/{sha}", "/api/repos?q=math"):
        r = c.get(path)
        err = error_of(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1 and err["details"]["limit"] == "3/minute"
    # the heavy endpoints' bucket is another one, and so is another client's
    assert c.post("/api/membership", json={"text": TEXT}).status_code == 200
    assert c.get("/api/search?q=fibonacci", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 200
    assert c.get("/").status_code == 200  # the pages are not limited


def _overlap(c, forwarded, remote="10.0.0.1"):
    headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}
    return c.post("/overlap", json={"document": TEXT}, headers=headers,
                  environ_base={"REMOTE_ADDR": remote}).status_code


def test_a_client_behind_a_trusted_proxy_cannot_pick_its_bucket(index_dir):
    """The proxy appends the address it saw; what the client wrote comes before it."""
    c = create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "RATE_LIMIT": "3/hour",
                    "TRUST_PROXY": True}).test_client()
    codes = [_overlap(c, f"198.51.100.{i}, 203.0.113.9") for i in range(20)]
    assert codes == [200] * 3 + [429] * 17
    assert _overlap(c, "203.0.113.10") == 200  # the next client the proxy saw


def test_several_trusted_proxies_count_from_the_right(index_dir):
    c = create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "RATE_LIMIT": "1/hour",
                    "TRUST_PROXY": 2}).test_client()
    # client -> edge proxy (appends the client) -> inner proxy (appends the edge) -> server
    assert _overlap(c, "6.6.6.6, 203.0.113.1, 10.1.1.1") == 200
    assert _overlap(c, "7.7.7.7, 203.0.113.1, 10.1.1.2") == 429
    # two header lines are one list
    c2 = create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "RATE_LIMIT": "1/hour",
                     "TRUST_PROXY": 2}).test_client()
    headers = [("X-Forwarded-For", "6.6.6.6, 203.0.113.2"), ("X-Forwarded-For", "10.1.1.1")]
    assert c2.post("/overlap", json={"document": TEXT}, headers=headers).status_code == 200
    assert c2.post("/overlap", json={"document": TEXT}, headers=headers[:1] + [
        ("X-Forwarded-For", "10.9.9.9")]).status_code == 429


@pytest.mark.parametrize("bad", [None, "", "203.0.113.5", "not-an-address, 10.1.1.1", "unknown, ,"])
def test_short_or_malformed_forwarding_falls_back_to_the_connecting_address(index_dir, bad):
    c = create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "RATE_LIMIT": "1/hour",
                    "TRUST_PROXY": 2}).test_client()
    assert _overlap(c, bad, remote="10.1.1.1") == 200
    assert _overlap(c, bad, remote="10.1.1.1") == 429  # the proxy's own bucket: shared, not new
    assert _overlap(c, bad, remote="10.1.1.2") == 200


def test_ports_and_ipv6_hosts_of_one_network_are_one_client(index_dir):
    c = create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "RATE_LIMIT": "1/hour",
                    "TRUST_PROXY": 1}).test_client()
    assert _overlap(c, "203.0.113.7:40001") == 200
    assert _overlap(c, "203.0.113.7:40002") == 429
    assert _overlap(c, "[2001:db8:1:2::1]:443") == 200
    assert _overlap(c, "2001:db8:1:2:ffff::9") == 429
    assert _overlap(c, "2001:db8:1:3::1") == 200
    d = create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "RATE_LIMIT": "1/hour"}).test_client()
    assert _overlap(d, None, remote="2001:db8::1") == 200
    assert _overlap(d, "203.0.113.99", remote="2001:db8::2") == 429  # no proxy trusted: the header is ignored


def test_serve_options_for_proxies_and_limits():
    def hops(*argv):
        return proxy_hops(build_parser().parse_args(["serve", "idx", *argv]))

    assert (hops(), hops("--trust-proxy"), hops("--proxy-hops", "2"), hops("--trust-proxy", "--proxy-hops", "3")) == (0, 1, 2, 3)
    args = build_parser().parse_args(["serve", "idx"])
    assert (args.rate_limit, args.search_rate_limit) == ("120/minute", "600/minute")


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
    for config in ({"RATE_LIMIT": "lots"}, {"SEARCH_RATE_LIMIT": "0/second"}, {"TRUST_PROXY": -1},
                   {"TRUST_PROXY": "yes"}, {"CORS_ORIGINS": "https://x.org"}, {"CORS_ORIGINS": ["*"]}):
        with pytest.raises(ValueError):
            create_app({"INDEX_DIR": str(index_dir), **config})
