"""``starscope serve``: the app under gunicorn, a production WSGI server.

Each worker process opens the index itself (tantivy and the HTTP client are not fork-safe once
their threads run); the Bloom filter is memory-mapped, so all workers share one copy of it in
the page cache, as they share the store's files. Each worker serves ``threads`` requests at once.
SIGTERM (or Ctrl-C) stops accepting, lets requests in flight finish (up to ``graceful_timeout``
seconds) and exits.

Slow or hostile clients: the workers are :class:`search_api.worker.StarScopeWorker`, whose event
loop reads each request whole before a thread takes it, so clients that send slowly (or never
finish) hold no thread, and are dropped after a bounded time. The bounds, ``starscope serve``'s
options (per worker where it says so):

* ``--read-timeout`` (10 s): to send a request's headers; its body then has as long again, plus
  a second for every ``--min-upload-rate`` bytes (16,384: a client must keep up that average);
  a request cut short is answered 408 ``request_timeout``;
* ``--keepalive`` (5 s): an idle connection's wait for its next request;
* ``--write-timeout`` (30 s): one write of an answer to a client that does not read it;
* ``--max-connections`` (1,000 per worker): beyond it a new connection takes the place of the
  oldest idle one, else of the slowest to send its request (503 ``server_busy``);
* the request line up to :data:`search_api.worker.REQUEST_LINE_LIMIT` bytes (414), headers up to
  :data:`search_api.worker.HEADERS_LIMIT` (431), bodies up to the app's limits (413, chunked or not).

Every error, the server's own included, is answered by the app: JSON in the API's one shape on
API paths, the error page on the browser pages.

Logs: one access line per request with its id (the client's ``X-Request-ID``, else a new one,
echoed in the response) and the path without its query string, so submitted code (a search
query, a text to attribute) is never logged.
"""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from .app import create_app
from .worker import ServerLimits, StarScopeWorker

# Path only (%(U)s), never the query string or the body; the request id from the response header.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms id=%({x-request-id}o)s'


class StarScopeServer(BaseApplication):
    def __init__(self, app_config: dict, options: dict, limits: ServerLimits):
        self.app_config = app_config
        self.options = options
        self.limits = limits  # read by each worker (search_api.worker)
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return create_app(self.app_config)


def serve(app_config: dict, *, host: str, port: int, workers: int = 2, threads: int = 4,
          graceful_timeout: int = 30, timeout: int = 120, access_log: bool = True,
          limits: ServerLimits = ServerLimits()) -> None:
    """Run until stopped (SIGTERM or SIGINT)."""
    options = {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
               "worker_class": StarScopeWorker, "graceful_timeout": graceful_timeout, "timeout": timeout,
               # the worker enforces its own limits (limits); gunicorn's only see what it passes on
               "keepalive": max(1, round(limits.keepalive)), "worker_connections": limits.max_connections,
               "limit_request_line": 0,
               "accesslog": "-" if access_log else None, "access_log_format": ACCESS_LOG_FORMAT,
               "errorlog": "-", "loglevel": "info", "preload_app": False,
               "proc_name": "starscope"}
    StarScopeServer(app_config, options, limits).run()
