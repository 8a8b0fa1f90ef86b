"""A fault-injecting HTTP proxy in front of a real Elasticsearch server.

It forwards every request to the server unchanged, except that it can answer the next ``n``
bulk requests itself with every item rejected (429, ``es_rejected_execution_exception``, as a
server whose write queue is full does), and it can go away after ``m`` bulk requests (its
socket closed: to the client, the server is lost mid-build).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


def rejected_bulk(body: bytes) -> dict:
    """The response a server gives when it rejects every operation of a bulk body."""
    items, lines = [], [ln for ln in body.split(b"\n") if ln.strip()]
    i = 0
    while i < len(lines):
        op, meta = next(iter(json.loads(lines[i]).items()))
        items.append({op: {"_index": meta.get("_index"), "_id": meta.get("_id"), "status": 429,
                           "error": {"type": "es_rejected_execution_exception",
                                     "reason": "rejected by the test proxy (write queue full)"}}})
        i += 1 if op == "delete" else 2
    return {"took": 0, "errors": True, "items": items}


class FaultyProxy:
    def __init__(self, target: str):
        self.target = urlsplit(target)
        self.reject_bulks = 0       # answer this many bulk requests with 429 for every item
        self.die_after_bulks = None  # close the proxy once this many bulk requests went through
        self.rejected_items = 0
        self.bulks = 0
        self.headers: list[dict] = []  # of every request, names lowercased
        self._lock = threading.Lock()
        self._open: set = set()
        self.closed = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with proxy._lock:
                    proxy._open.add(self.connection)

            def finish(self):
                with proxy._lock:
                    proxy._open.discard(self.connection)
                super().finish()

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path.split("?")[0].endswith("/_bulk"):
                    with proxy._lock:
                        if proxy.reject_bulks > 0:
                            proxy.reject_bulks -= 1
                            resp = rejected_bulk(body)
                            proxy.rejected_items += len(resp["items"])
                            return self._reply(200, {"Content-Type": "application/json",
                                                     "X-Elastic-Product": "Elasticsearch"},
                                               json.dumps(resp).encode())
                        proxy.bulks += 1
                        if proxy.die_after_bulks is not None and proxy.bulks > proxy.die_after_bulks:
                            self.close_connection = True
                            threading.Thread(target=proxy.close, daemon=True).start()
                            return
                conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                r = conn.getresponse()
                data = r.read()
                conn.close()
                self._reply(r.status, {k: v for k, v in r.getheaders() if k.lower() not in HOP_HEADERS}, data)

            def _reply(self, status, headers, data):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        """Go away: stop listening and cut every open connection (keep-alive ones too)."""
        if self.closed:
            return
        self.closed = True
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
