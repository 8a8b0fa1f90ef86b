"""``starscope serve``: the app under gunicorn, a production WSGI server.

Each worker process opens the index itself (tantivy and the HTTP client are not fork-safe once
their threads run); the Bloom filter is memory-mapped, so all workers share one copy of it in
the page cache, as they share the store's files. Each worker serves ``threads`` requests at once.
SIGTERM (or Ctrl-C) stops accepting, lets requests in flight finish (up to ``graceful_timeout``
seconds) and exits.

Logs: one access line per request with its id (the client's ``X-Request-ID``, else a new one,
echoed in the response) and the path without its query string, so submitted code (a search
query, a text to attribute) is never logged.
"""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

# Path only (%(U)s), never the query string or the body; the request id from the response header.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms id=%({x-request-id}o)s'


class StarScopeServer(BaseApplication):
    def __init__(self, app_config: dict, options: dict):
        self.app_config = app_config
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from .app import create_app

        return create_app(self.app_config)


def serve(app_config: dict, *, host: str, port: int, workers: int = 2, threads: int = 4,
          graceful_timeout: int = 30, timeout: int = 120, access_log: bool = True) -> None:
    """Run until stopped (SIGTERM or SIGINT)."""
    options = {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
               "worker_class": "gthread", "graceful_timeout": graceful_timeout, "timeout": timeout,
               "keepalive": 5,
               "accesslog": "-" if access_log else None, "access_log_format": ACCESS_LOG_FORMAT,
               "errorlog": "-", "loglevel": "info", "preload_app": False,
               "proc_name": "starscope"}
    StarScopeServer(app_config, options).run()
