"""Per-client rate limits on the heavy endpoints, and CORS (closed unless origins are named).

``RATE_LIMIT`` (``"N/second|minute|hour"``, or None for no limit) is a token bucket per client
address: a client may burst up to N requests, then gets N per period; past that it is answered
429 ``rate_limited`` with ``Retry-After``. It applies to the endpoints that read or generate a
lot per request (:data:`HEAVY`); search, documents and the pages are not limited. Buckets live
in each server worker's memory, so with W workers a client may reach up to W times the limit;
behind a reverse proxy, set ``TRUST_PROXY`` so the client is the proxy's ``X-Forwarded-For``.

``CORS_ORIGINS`` (a list; empty by default) names the web origins whose pages may call the API
from a browser; any other origin gets no CORS header, so browsers keep its pages out.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict

from flask import current_app, request

from .errors import ApiError

HEAVY = frozenset({"membership.membership", "membership.attribution", "membership.attribution_batch",
                   "membership.overlap", "generation.generate"})
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
        raise ValueError(f"RATE_LIMIT is N/second, N/minute or N/hour with N >= 1, got {text!r}")
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


def client_address() -> str:
    if current_app.config.get("TRUST_PROXY"):
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote_addr or "?"


def enforce_rate_limit():
    limiter: RateLimiter | None = current_app.extensions.get("starscope-rate-limit")
    if limiter is None or request.endpoint not in HEAVY:
        return
    wait = limiter.take(client_address())
    if wait:
        retry = max(1, math.ceil(wait))
        raise ApiError(f"too many requests from this client: the limit is {current_app.config['RATE_LIMIT']} "
                       f"on this endpoint; retry in {retry} s", status=429, code="rate_limited",
                       details={"limit": current_app.config["RATE_LIMIT"], "retry_after_s": retry},
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
