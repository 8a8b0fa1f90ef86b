"""Per-client rate limits, and CORS (closed unless origins are named).

Two limits, each a token bucket per client address with its own rate (``"N/second|minute|hour"``,
or None for no limit): a client may burst up to N requests, then gets N per period; past that
it is answered 429 ``rate_limited`` with ``Retry-After``.

* ``RATE_LIMIT`` on the endpoints that read or generate a lot per request (:data:`HEAVY`);
* ``SEARCH_RATE_LIMIT`` on search, documents and repository names (:data:`LIGHT`), which are
  cheaper, so their rate is higher; it bounds how fast a client can probe the corpus (guess a
  word, page through everything).

The pages are not limited. Buckets live in each server worker's memory, so with W workers a
client may reach up to W times a limit. An IPv6 client is one ``/64`` (one host's or one
customer's network: rotating addresses inside it would otherwise give a fresh bucket each).

Behind reverse proxies, ``TRUST_PROXY = N`` (the number of proxies in front of the server, each
appending the address it received from to ``X-Forwarded-For``) makes the client the N-th entry
from the right: the address the outermost trusted proxy saw. Entries further left were written
by the client and are never used. A header with fewer than N entries, or whose entry is not an
IP address, means the request did not come through the proxies as configured: the client is
then the connecting address (the proxy's), so a malformed header never gains a bucket of its own.

``CORS_ORIGINS`` (a list; empty by default) names the web origins whose pages may call the API
from a browser; any other origin gets no CORS header, so browsers keep its pages out.
"""

from __future__ import annotations

import ipaddress
import math
import re
import threading
import time
from collections import OrderedDict

from flask import current_app, request

from .errors import ApiError

HEAVY = frozenset({"membership.membership", "membership.attribution", "membership.attribution_batch",
                   "membership.overlap", "generation.generate"})
LIGHT = frozenset({"search.search", "search.repos", "documents.document"})
# Which config key limits which endpoints; each has its own buckets (app.extensions[LIMITERS]).
LIMITS = (("RATE_LIMIT", HEAVY), ("SEARCH_RATE_LIMIT", LIGHT))
LIMITERS = "starscope-rate-limits"
PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
MAX_CLIENTS = 10_000  # buckets kept; the least recently seen client is forgotten first
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")


def parse_rate(text: str | None) -> tuple[int, float] | None:
    """``"120/minute"`` -> ``(120, 60.0)``; None or "" -> None (no limit).

    Raises:
        ValueError: anything else.
    """
    if text is None or text == "":
        return None
    m = _RATE.match(str(text))
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"a rate limit is N/second, N/minute or N/hour with N >= 1, got {text!r}")
    return int(m.group(1)), PERIODS[m.group(2)]


class RateLimiter:
    """Token buckets per client, thread-safe."""

    def __init__(self, requests: int, period_s: float, *, clock=time.monotonic):
        self.capacity, self.rate, self.clock = requests, requests / period_s, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Take one token for ``client``: 0 when allowed, else the seconds until one is free."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (float(self.capacity), now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
            return wait


def trusted_hops(value) -> int:
    """``TRUST_PROXY`` as a number of proxies: False/None/0 none, True one, or N >= 0.

    Raises:
        ValueError: anything else.
    """
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, int) and 0 <= value <= 32:
        return value
    raise ValueError(f"TRUST_PROXY is the number of reverse proxies in front of the server "
                     f"(0 to 32; True means 1), got {value!r}")


def _bucket(address: str | None) -> str | None:
    """The bucket key of an address: itself for IPv4, its /64 for IPv6; None when it is not an
    IP address (a port or brackets, as some proxies write them, are taken off first)."""
    text = (address or "").strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]  # [2001:db8::1]:443
    elif text.count(":") == 1:
        text = text.split(":")[0]  # 203.0.113.7:51234
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_address() -> str:
    """Who the request counts against (see the module's docstring)."""
    direct = _bucket(request.remote_addr) or request.remote_addr or "?"
    hops = trusted_hops(current_app.config.get("TRUST_PROXY"))
    if not hops:
        return direct
    entries = [e for line in request.headers.getlist("X-Forwarded-For") for e in line.split(",")]
    if len(entries) < hops:
        return direct
    return _bucket(entries[-hops]) or direct


def enforce_rate_limit():
    """Take a token from the client's bucket of the limit that covers this endpoint, or answer
    429 ``rate_limited``."""
    for key, endpoints in LIMITS:
        limiter: RateLimiter | None = current_app.extensions.get(LIMITERS, {}).get(key)
        if limiter is None or request.endpoint not in endpoints:
            continue
        wait = limiter.take(client_address())
        if wait:
            retry = max(1, math.ceil(wait))
            limit = current_app.config[key]
            raise ApiError(f"too many requests from this client: the limit is {limit} on this endpoint; "
                           f"retry in {retry} s", status=429, code="rate_limited",
                           details={"limit": limit, "retry_after_s": retry},
                           headers={"Retry-After": str(retry)})


def add_cors_headers(response):
    origin = request.headers.get("Origin")
    if origin and origin in current_app.config["CORS_ORIGINS"] and request.path.startswith(("/api/", "/overlap")):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, X-Request-ID"
            response.headers["Access-Control-Max-Age"] = "600"
    return response
