"""The gunicorn worker of ``starscope serve``: requests are read whole by an event loop, and only
whole requests reach the threads.

gunicorn's own threaded worker (``gthread``) hands a connection to a thread as soon as its first
byte arrives, and the thread then blocks until the rest of the request has come: a handful of
clients that send one byte, trickle their headers or never finish their body hold every thread,
and the server answers no one. Here each worker's main thread reads every connection without
blocking into a buffer (the request line and headers, then the body by its ``Content-Length``
or its chunked framing; bodies over ``SPOOL_MEMORY`` wait in a temporary file) and submits a
request to the thread pool only once it is whole, so slow clients cost a buffer each, never a
thread. What it bounds (:class:`ServerLimits`, from ``starscope serve``'s options):

* the time to send a request's headers (``read_timeout``, from its first byte, or from the
  connection's opening for its first request), and to send its body (``read_timeout`` plus one
  second for every ``min_upload_rate`` bytes received: a client must keep up that average rate),
  so a trickling client is dropped as surely as a silent one; a request cut short by its
  deadline is answered 408 ``request_timeout``, a connection that sent nothing is just closed;
* the time a kept-alive connection may wait idle for its next request (``keepalive``);
* the time one write of the answer may take (``write_timeout``): a client that stops reading
  its answer frees its thread then;
* the connections a worker holds (``max_connections``): at the limit a new one takes the place of
  the oldest idle one, else of the one that has spent longest sending its request (answered 503
  ``server_busy``), so a flood of slow connections cannot keep out clients whose requests take
  milliseconds; only when every connection is being answered does the worker stop accepting.
  The worker raises its open-files limit to fit, or, where the hard limit is lower, holds as
  many connections as fit under it;
* the request line (:data:`REQUEST_LINE_LIMIT`, long enough for the longest query the API takes,
  percent-encoded, so its own 413 ``query_too_long`` is the answer to a longer one), the headers
  (:data:`HEADERS_LIMIT`) and the body (the app's ``MAX_CONTENT_LENGTH``, ``MAX_BATCH_BYTES`` for
  the batch), checked as they arrive: a body over its limit is refused with 413 whether it has a
  ``Content-Length`` or is chunked, before it is read; so is a chunked one in more chunks than
  :func:`max_chunks` allows (tiny chunks cost the loop time, not the client).

A refused request is answered by the app itself (``SERVER_ERROR`` in its WSGI environ), so the
answer has the API's one error shape on API paths, and the site's error page on the pages. A
chunked body reaches the app de-chunked, with its ``Content-Length``, as a buffering proxy would
pass it on. Answers are written by the threads as before, so server-sent events and the batch's
JSON lines still stream.

This subclasses gunicorn 23's ``ThreadWorker`` (its pool, signals, heartbeat and access log) and
parses request heads with gunicorn's own parser; ``pyproject.toml`` pins gunicorn to 23.x for it.
"""

from __future__ import annotations

import errno
import io
import os
import resource
import selectors
import socket
import tempfile
import time
from collections import deque
from concurrent import futures
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from gunicorn.http import errors as http_errors
from gunicorn.http import wsgi
from gunicorn.http.body import ChunkedReader, LengthReader
from gunicorn.http.message import Request
from gunicorn.http.unreader import IterUnreader
from gunicorn.workers.gthread import TConn, ThreadWorker

from indexer.query import MAX_QUERY_CHARS

from .app import SERVER_ERROR, body_limit

# Every character of the longest query percent-encoded from 4 UTF-8 bytes, and room for the
# path and the other parameters.
REQUEST_LINE_LIMIT = 12 * MAX_QUERY_CHARS + 2048
HEADERS_LIMIT = 32 << 10  # all header lines together; one is at most gunicorn's 8,190 bytes
SPOOL_MEMORY = 256 << 10  # a body over this waits in a temporary file
READ_SIZE = 64 << 10
LINGER_SECONDS = 2.0  # after a refusal, what the client still sends is read and dropped this long
SWEEP_SECONDS = 0.25  # how often deadlines are checked
FILES_BESIDE_CONNECTIONS = 256  # open files a worker needs besides its connections (the index's, logs)


def max_chunks(limit: int) -> int:
    """The most chunks a chunked body under ``limit`` bytes may come in: each costs the event
    loop a few microseconds, so a body of 1-byte chunks would hold it for minutes."""
    return 4096 + limit // 1024



@dataclass(frozen=True)
class ServerLimits:
    """How long and how much a client may take; see the module's docstring."""

    read_timeout: float = 10.0
    min_upload_rate: int = 16 << 10  # bytes a second
    keepalive: float = 5.0
    write_timeout: float = 30.0
    max_connections: int = 1000  # per worker

    def __post_init__(self):
        for name in ("read_timeout", "min_upload_rate", "keepalive", "write_timeout", "max_connections"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")


class Refused(Exception):
    """A request the server answers with an error without the app's views: ``status``, ``code``
    and ``message`` as the API's error shape has them."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# Reading states of a connection in the event loop.
HEAD, BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS, BUSY, DRAIN = range(8)


def _has_pending(sock) -> bool:
    """Whether the client has sent bytes that wait, unread, in the socket."""
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:  # nothing yet (EAGAIN), or gone
        return False


class Connection(TConn):
    """A client connection and the request being read from it."""

    def __init__(self, cfg, sock, client, server, now: float, limits: ServerLimits):
        super().__init__(cfg, sock, client, server)  # leaves the socket non-blocking
        self.limits = limits
        self.buf = bytearray()  # received, not yet part of a request handed over
        self.requests = 0
        self.parser = None  # gunicorn's, unused: requests are parsed by the loop
        self.new_request(now, kept_alive=False)

    def new_request(self, now: float, *, kept_alive: bool) -> None:
        self.state = HEAD
        self.kept_alive = kept_alive
        self.started = now  # of the request, or of the wait for it
        self.deadline = now + (self.limits.keepalive if kept_alive else self.limits.read_timeout)
        self.got_bytes = False
        self.head = b""  # the request line and headers, once whole
        self.scanned = 0  # bytes of buf already searched for the end of the line or the headers
        self.line_end = -1  # where the request line ends in buf, once found
        self.req = None
        self.body = None  # the spool file
        self.body_size = 0
        self.body_started = now
        self.remaining = 0  # of the body, or of the current chunk
        self.limit = 0
        self.trailer_bytes = 0
        self.chunks = 0
        self.refused: Refused | None = None

    def body_deadline(self) -> float:
        return self.body_started + self.limits.read_timeout + self.body_size / self.limits.min_upload_rate

    def close(self):
        if self.body is not None:
            self.body.close()
            self.body = None
        super().close()


class StarScopeWorker(ThreadWorker):
    """gunicorn's threaded worker, with requests read whole before a thread takes them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.limits: ServerLimits = getattr(self.app, "limits", None) or ServerLimits()
        self.conns: dict[int, Connection] = {}  # by id(); the loop's, every state
        self.returned: deque = deque()  # (keepalive, conn) from the threads, for the loop
        self.max_connections = self.limits.max_connections  # less where open files are limited
        self.accepting = False
        self.paused_until = 0.0  # no accepting before (after running out of descriptors)
        self.listeners: list = []

    def init_process(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = self.limits.max_connections + FILES_BESIDE_CONNECTIONS
        if soft != resource.RLIM_INFINITY and soft < wanted:
            raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            if raised < wanted:  # the limit is reached first here, where the oldest make room
                self.max_connections = max(16, raised - FILES_BESIDE_CONNECTIONS)
                self.log.warning("open files are limited to %d: at most %d connections, not --max-connections %d",
                                 raised, self.max_connections, self.limits.max_connections)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        super().init_process()

    # -- the event loop -------------------------------------------------------------------

    def run(self):
        for sock in self.sockets:
            sock.setblocking(False)
            self.listeners.append((sock, partial(self.accept, sock.getsockname())))
        self.poller.register(self._wake_r, selectors.EVENT_READ, self._woken)
        next_sweep = 0.0
        while self.alive:
            self.notify()
            self._accept_new(self._has_room() and time.monotonic() >= self.paused_until)
            for key, _ in self.poller.select(SWEEP_SECONDS):
                key.data(key.fileobj)
            now = time.monotonic()
            self._take_returned(now)
            if now >= next_sweep:
                next_sweep = now + SWEEP_SECONDS
                self._enforce_deadlines(now)
                self.futures = deque(f for f in self.futures if not f.done())
                if not self.is_parent_alive():
                    break
        self._accept_new(False)
        for sock in self.sockets:
            sock.close()
        for conn in list(self.conns.values()):
            if conn.state != BUSY:
                self._close(conn)
        self.tpool.shutdown(False)
        futures.wait(self.futures, timeout=self.cfg.graceful_timeout)
        self.poller.close()

    def _has_room(self) -> bool:
        """Under the limit, or a connection to close for a new one (any not being answered)."""
        return len(self.conns) < self.max_connections or any(
            c.state != BUSY for c in self.conns.values())

    def _make_room(self) -> None:
        """At the limit: close a connection for the new one. First one lingering after a refusal,
        else the oldest that has sent nothing (idle), else the oldest still sending its request
        (answered 503): so floods of slow connections cannot keep new clients out, whose requests
        take milliseconds."""
        candidates = [c for c in self.conns.values() if c.state != BUSY]
        if not candidates:
            return
        # bytes waiting unread (the loop accepted before reading) make a connection a sender too
        sent = {id(c): c.got_bytes or (c.state == HEAD and _has_pending(c.sock)) for c in candidates}
        victim = min(candidates, key=lambda c: (c.state != DRAIN, sent[id(c)], c.started))
        if victim.state == DRAIN or not sent[id(victim)]:
            self._close(victim)
        else:
            self._refuse(victim, Refused(503, "server_busy", "the server holds too many connections; this one, "
                                                             "the longest in sending its request, was closed"))

    def _accept_new(self, accept: bool) -> None:
        if accept == self.accepting:
            return
        for sock, acceptor in self.listeners:
            if accept:
                self.poller.register(sock, selectors.EVENT_READ, acceptor)
            else:
                self.poller.unregister(sock)
        self.accepting = accept

    def accept(self, server, listener):
        try:
            sock, client = listener.accept()
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # out of descriptors or memory: free one, and let new clients wait in the queue a moment
                self.log.warning("cannot accept a connection (%s) with %d open", e.strerror, len(self.conns))
                for _ in range(16):
                    self._make_room()
                self._accept_new(False)
                self.paused_until = time.monotonic() + 0.1
            elif e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        if len(self.conns) >= self.max_connections:
            self._make_room()
        conn = Connection(self.cfg, sock, client, server, time.monotonic(), self.limits)
        self.conns[id(conn)] = conn
        self.nr_conns = len(self.conns)
        self.poller.register(sock, selectors.EVENT_READ, partial(self.on_readable, conn))
        if not self._has_room():
            self._accept_new(False)

    def on_readable(self, conn: Connection, sock) -> None:
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client is gone (or closed its side): nothing to answer
            self._close(conn)
            return
        if conn.state == DRAIN:
            return
        conn.buf += data
        try:
            self._advance(conn, time.monotonic())
        except Exception:  # noqa: BLE001 - a bug here must cost one connection, not the worker's
            self.log.exception("Error reading a request")
            self._close(conn)

    def _woken(self, fd) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _close(self, conn: Connection) -> None:
        if self.conns.pop(id(conn), None) is None:
            return
        self.nr_conns = len(self.conns)
        if conn.state != BUSY:
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
        if conn.state == DRAIN:
            # Closing with unread bytes would reset the connection, and the client would lose
            # the refusal it has not read yet: take what has arrived first.
            try:
                while conn.sock.recv(READ_SIZE):
                    pass
            except OSError:
                pass
        conn.close()

    def _enforce_deadlines(self, now: float) -> None:
        for conn in list(self.conns.values()):
            if conn.state == BUSY:
                continue
            deadline = conn.body_deadline() if conn.state not in (HEAD, DRAIN) else conn.deadline
            if now < deadline:
                continue
            if conn.state == DRAIN or not conn.got_bytes:
                self._close(conn)  # a silent connection, or an idle kept-alive one: no request to answer
            else:
                what = "headers" if conn.state == HEAD else "body"
                self._refuse(conn, Refused(408, "request_timeout", f"the request's {what} did not arrive in time "
                                           f"(the server allows {self.limits.read_timeout:g} s for the headers, and "
                                           f"then {self.limits.min_upload_rate:,} bytes a second for a body)"))

    # -- reading one request ----------------------------------------------------------------

    def _advance(self, conn: Connection, now: float) -> None:
        """Take what ``conn.buf`` holds as far as it goes; hand the request over once whole."""
        try:
            while conn.state != BUSY:
                if conn.state == HEAD:
                    if not self._read_head(conn, now):
                        return
                elif not self._read_body(conn):
                    return
        except Refused as refusal:
            self._refuse(conn, refusal)

    def _read_head(self, conn: Connection, now: float) -> bool:
        if not conn.got_bytes:
            while conn.buf[:2] == b"\r\n":  # an empty line before a request is to be ignored (RFC 9112)
                del conn.buf[:2]
            if not conn.buf:
                return False
            conn.got_bytes = True
            if conn.kept_alive:  # from its first byte, a request has read_timeout for its headers
                conn.started, conn.deadline = now, now + self.limits.read_timeout
        buf = conn.buf
        if conn.line_end < 0:  # found once: a later read must not search past it again
            conn.line_end = buf.find(b"\r\n", max(0, conn.scanned - 1), REQUEST_LINE_LIMIT + 2)
            if conn.line_end < 0:
                if len(buf) > REQUEST_LINE_LIMIT:
                    raise Refused(414, "uri_too_long", f"the request line is over {REQUEST_LINE_LIMIT:,} bytes")
                conn.scanned = len(buf)
                return False
        line_end = conn.line_end
        end = buf.find(b"\r\n\r\n", max(line_end, conn.scanned - 3))
        if end < 0:
            if len(buf) - line_end > HEADERS_LIMIT:
                raise Refused(431, "headers_too_large", f"the request headers are over {HEADERS_LIMIT:,} bytes")
            conn.scanned = len(buf)
            return False
        if end - line_end > HEADERS_LIMIT:
            raise Refused(431, "headers_too_large", f"the request headers are over {HEADERS_LIMIT:,} bytes")
        conn.head = head = bytes(buf[:end + 4])
        del buf[:end + 4]
        conn.requests += 1
        try:
            conn.req = req = Request(self.cfg, IterUnreader([head]), conn.client, conn.requests)
        except http_errors.LimitRequestHeaders:
            raise Refused(431, "headers_too_large", "a request header is over 8,190 bytes, or there are "
                                                    f"over {self.cfg.limit_request_fields} of them") from None
        except http_errors.UnsupportedTransferCoding as e:
            raise Refused(501, "not_implemented", f"unsupported transfer coding: {str(e)[:200]}") from None
        except (http_errors.ParseException, http_errors.NoMoreData, ValueError) as e:
            raise Refused(400, "bad_request", f"the request cannot be read: {str(e)[:200]}") from None
        expects = any(name == "EXPECT" and value.lower() == "100-continue" for name, value in req.headers)
        req.headers = [(n, v) for n, v in req.headers if n != "EXPECT"]  # answered here, never by gunicorn
        conn.limit = body_limit(self.wsgi.config, req.path)
        if isinstance(req.body.reader, LengthReader):
            conn.remaining = req.body.reader.length
            conn.state = BODY
            if conn.remaining > conn.limit:
                raise Refused(413, "payload_too_large", f"the request body is {conn.remaining} bytes; "
                                                        f"the limit is {conn.limit}")
        elif isinstance(req.body.reader, ChunkedReader):
            conn.state = CHUNK_SIZE
        else:
            raise Refused(400, "bad_request", "the request's body has no length")
        if expects and (conn.state == CHUNK_SIZE or conn.remaining):
            try:
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            except OSError:
                pass
        conn.body_started = now
        conn.body = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
        if conn.state == BODY and not conn.remaining:
            self._dispatch(conn)
        return True

    def _read_body(self, conn: Connection) -> bool:
        buf = conn.buf
        if conn.state in (BODY, CHUNK_DATA):
            take = min(conn.remaining, len(buf))
            if take:
                conn.body.write(buf[:take])
                del buf[:take]
                conn.remaining -= take
                if conn.state == BODY:
                    conn.body_size += take
            if conn.remaining:
                return False
            if conn.state == BODY:
                self._dispatch(conn)
            else:
                conn.state = CHUNK_END
            return True
        if conn.state == CHUNK_END:
            if len(buf) < 2:
                return False
            if buf[:2] != b"\r\n":
                raise Refused(400, "bad_request", "a chunk of the body does not end with CRLF")
            del buf[:2]
            conn.state = CHUNK_SIZE
            return True
        end = buf.find(b"\r\n")
        if end < 0:
            if len(buf) > 4096:
                raise Refused(400 if conn.state == CHUNK_SIZE else 431, "bad_request" if conn.state == CHUNK_SIZE
                              else "headers_too_large", "a chunk size or trailer line is over 4,096 bytes")
            return False
        line = bytes(buf[:end])
        del buf[:end + 2]
        if conn.state == TRAILERS:
            conn.trailer_bytes += end + 2
            if conn.trailer_bytes > HEADERS_LIMIT:
                raise Refused(431, "headers_too_large", f"the body's trailers are over {HEADERS_LIMIT:,} bytes")
            if not line:
                self._dispatch(conn)
            return True
        size, *ext = line.split(b";", 1)  # as gunicorn reads it (RFC 9112 7.1.1)
        if ext:
            size = size.rstrip(b" \t")
        if not size or len(size) > 15 or any(c not in b"0123456789abcdefABCDEF" for c in size):
            raise Refused(400, "bad_request", "a chunk size of the body is not a hexadecimal number")
        size = int(size, 16)
        if conn.body_size + size > conn.limit:
            raise Refused(413, "payload_too_large", f"the request body (chunked) is over the limit of "
                                                    f"{conn.limit} bytes")
        conn.body_size += size
        conn.chunks += 1
        if conn.chunks > max_chunks(conn.limit):
            raise Refused(413, "payload_too_large", f"the request body comes in over {max_chunks(conn.limit):,} "
                                                    "chunks; send it in larger ones")
        conn.remaining = size
        conn.state = CHUNK_DATA if size else TRAILERS
        return True

    # -- handing over, answering ------------------------------------------------------------

    def _dispatch(self, conn: Connection) -> None:
        """The request is whole: its body becomes the WSGI input, and a thread takes it."""
        req = conn.req
        conn.body.seek(0)
        req.body = conn.body
        if any(name == "TRANSFER-ENCODING" for name, _ in req.headers):  # de-chunked: say its length
            req.headers = [(n, v) for n, v in req.headers if n not in ("TRANSFER-ENCODING", "CONTENT-LENGTH")]
            req.headers.append(("CONTENT-LENGTH", str(conn.body_size)))
        self._submit(conn)

    def _refuse(self, conn: Connection, refusal: Refused) -> None:
        """Answer ``refusal`` through the app (its error shape), then close the connection."""
        conn.refused = refusal
        if conn.req is None or conn.state == HEAD:
            conn.req = _stand_in_request(self.cfg, conn)
        if conn.body is not None:
            conn.body.close()
        conn.req.body = conn.body = io.BytesIO()
        conn.req.force_close()
        self._submit(conn)

    def _submit(self, conn: Connection) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.state = BUSY
        conn.sock.setblocking(True)
        conn.sock.settimeout(self.limits.write_timeout)
        future = self.tpool.submit(self.handle, conn)
        future.conn = conn
        self.futures.append(future)
        future.add_done_callback(self.finish_request)

    def finish_request(self, future):
        """In the thread that answered: hand the connection back to the loop."""
        try:
            keepalive = not future.cancelled() and future.result()[0]
        except Exception:  # noqa: BLE001 - handle() logs what it must; the connection closes
            keepalive = False
        self.returned.append((keepalive, future.conn))
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: the loop is waking anyway

    def _take_returned(self, now: float) -> None:
        while self.returned:
            keepalive, conn = self.returned.popleft()
            if id(conn) not in self.conns:  # never happens: a connection being answered stays listed
                conn.close()
                continue
            if conn.body is not None:
                conn.body.close()
                conn.body = None
            if conn.refused is not None:
                self._linger(conn, now)
            elif keepalive and self.alive:
                conn.sock.setblocking(False)
                conn.new_request(now, kept_alive=True)
                self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_readable, conn))
                if conn.buf:  # a request sent before the answer to the previous one (pipelining)
                    self._advance(conn, now)
            else:
                self._close(conn)

    def _linger(self, conn: Connection, now: float) -> None:
        """After a refusal the client may still be sending: read and drop it for a moment before
        closing, so that its side does not reset the connection before it has read the answer."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.sock.setblocking(False)
        conn.state, conn.deadline = DRAIN, now + LINGER_SECONDS
        conn.buf.clear()
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_readable, conn))

    def handle(self, conn: Connection):
        """In a thread: answer the whole request ``conn.req``; (keepalive, conn)."""
        try:
            return self.handle_request(conn.req, conn), conn
        except TimeoutError:
            self.log.info("closed a connection whose client read its answer too slowly (over %g s)",
                          self.limits.write_timeout)
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("Socket error processing request.")
        except Exception:  # noqa: BLE001 - the app answers its own errors; this is the server's
            self.log.exception("Error handling request")
        return False, conn

    def handle_request(self, req, conn: Connection) -> bool:
        """gunicorn's ``ThreadWorker.handle_request``, with the refusal (if any) in the environ
        and the connection closed after it."""
        environ, resp = {}, None
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(req, conn.sock, conn.client, conn.server, self.cfg)
            environ["wsgi.multithread"] = True
            if conn.refused is not None:
                environ[SERVER_ERROR] = (conn.refused.status, conn.refused.code, conn.refused.message)
                resp.force_close()
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
                resp.force_close()
            if not self.alive or not self.cfg.keepalive:
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ, datetime.now() - request_start)
                if hasattr(respiter, "close"):
                    respiter.close()
            return not resp.should_close()
        except OSError:
            raise
        except Exception:
            if resp is not None and resp.headers_sent:
                # the answer was under way: only closing the connection can say it failed
                self.log.exception("Error handling request")
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return False
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:  # noqa: BLE001 - as gunicorn does
                self.log.exception("Exception in post_request hook")


def _stand_in_request(cfg, conn: Connection) -> Request:
    """A request to answer a refusal with when the real one could not be read: its method and
    path when they can be made out (the path decides JSON or the error page), else ``GET /api``."""
    seen = conn.head or bytes(conn.buf[:REQUEST_LINE_LIMIT])
    line = seen.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    method = parts[0].decode("latin-1") if parts and 3 <= len(parts[0]) <= 20 and parts[0].isalpha() else "GET"
    target = parts[1] if len(parts) > 1 else b""
    path = target.split(b"?", 1)[0].split(b"#", 1)[0][:2048].decode("latin-1")
    if not path.startswith("/") or any(c in path for c in "\0\r\n\t "):
        path = "/api"
    head = f"{method.upper()} {path} HTTP/1.1\r\nConnection: close\r\n\r\n".encode("latin-1")
    try:
        return Request(cfg, IterUnreader([head]), conn.client, 1)
    except (http_errors.ParseException, http_errors.NoMoreData, ValueError):
        return Request(cfg, IterUnreader([b"GET /api HTTP/1.1\r\nConnection: close\r\n\r\n"]), conn.client, 1)

