"""``starscope serve`` for real: gunicorn workers, request ids, no submitted code in the logs,
a graceful stop, and clients that are slow, hostile or both, over real sockets."""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from indexer.build import build_index

from .conftest import FIB, corpus_rows, live_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_serve_logs_request_ids_and_never_the_submitted_code(tmp_path):
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus_rows()))
    build_index([tmp_path / "c.jsonl"], tmp_path / "index", progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "search_api", "serve", str(tmp_path / "index"),
                             "--port", str(port), "--workers", "2", "--threads", "2"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={k: v for k, v in os.environ.items() if k != "STARSCOPE_ADMIN_TOKEN"})
    base = f"http://127.0.0.1:{port}"
    secret = "zq_private_marker_8731"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/api/health", timeout=1)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.1)
        text = f"# {secret}\n{FIB}"
        req = urllib.request.Request(base + "/api/attribution", data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json", "X-Request-ID": "trace-42"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.headers["X-Request-ID"] == "trace-42"
            assert json.loads(r.read())["spans"]
        with urllib.request.urlopen(f"{base}/api/search?q={secret}", timeout=30) as r:
            generated = r.headers["X-Request-ID"]
            assert len(generated) == 32 and json.loads(r.read())["total"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, out
    assert secret not in out
    assert '"POST /api/attribution" 200' in out and "id=trace-42" in out and f"id={generated}" in out
    assert "Shutting down" in out or "Handling signal: term" in out


@pytest.mark.slow
def test_parallel_clients_get_exactly_the_sequential_answers(tmp_path):
    """16 clients at once, mixing search, membership and attribution, against 2 workers of 4
    threads: no errors, and every answer equal to the one the same request got alone."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus_rows()))
    build_index([tmp_path / "c.jsonl"], tmp_path / "index", progress=False)
    def call(request):
        path, body = request
        req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"} if body else {})
        with urllib.request.urlopen(req, timeout=60) as r:
            answer = json.loads(r.read())
        answer.pop("took_ms", None)
        return r.status, answer

    text = "# generated\n" + FIB + "\nx = widget_number(3)\n"
    requests = ([(f"/api/search?q={q}", None) for q in ("widget", "fibonacci", "helper", "party", "os.path")]
                + [("/api/search?q=%22i%2B%2B%22&sort=stars", None), ("/api/search?q=widget&page=2&size=7", None)]
                + [("/api/membership", {"text": text}), ("/api/membership", {"text": text, "exact": True}),
                   ("/api/attribution", {"text": text}), ("/overlap", {"document": text})])
    with live_server([tmp_path / "index", "--workers", "2", "--threads", "4", "--rate-limit", "off",
                      "--search-rate-limit", "off"],
                     tmp_path / "server.log") as base:
        alone = {i: call(r) for i, r in enumerate(requests)}
        load = [i for i in range(len(requests)) for _ in range(12)]
        random.Random(3).shuffle(load)
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: (i, call(requests[i])), load))
    assert len(answers) == len(load)
    for i, answer in answers:
        assert answer == alone[i], requests[i]
    assert all(status == 200 for status, _ in alone.values())


def test_serve_with_a_model_generates(demo_model, tmp_path):
    """The master must not load torch before gunicorn forks (the workers would hang)."""
    with live_server([demo_model.index, "--model", demo_model.path, "--device", "cpu", "--workers", "2"],
                     tmp_path / "server.log", wait_s=120) as base:
        req = urllib.request.Request(base + "/api/generate", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"prompt": "def ", "max_new_tokens": 8, "temperature": 0}).encode())
        with urllib.request.urlopen(req, timeout=60) as r:
            assert json.loads(r.read())["generation"]["new_tokens"] >= 1
        req = urllib.request.Request(base + "/api/generate", headers={"Content-Type": "application/json"}, data=json.dumps(
            {"prompt": "def ", "max_new_tokens": 8, "temperature": 0, "stream": True}).encode())
        with urllib.request.urlopen(req, timeout=60) as r:  # streamed as it comes, not buffered whole
            assert r.headers["Content-Type"].startswith("text/event-stream")
            assert r.headers["Transfer-Encoding"] == "chunked"
            events = r.read().decode()
        assert events.count("data: ") >= 2 and "event: done" in events
    bad = subprocess.run([sys.executable, "-m", "search_api", "serve", str(demo_model.index), "--model",
                          str(tmp_path / "none")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "no model at" in bad.stderr


# -- hostile and slow clients, over real sockets ------------------------------------------------

SLOW_KINDS = ("silent", "one byte", "trickled headers", "unfinished body")
UNFINISHED = (b"POST /api/attribution HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100000\r\n\r\n{\"text\": \"def ")


@contextmanager
def slow_clients(base: str, n: int):
    """``n`` connections of the four kinds in turn: one that sends nothing, one that sends a byte
    and stops, one that trickles its headers a byte every 0.2 s for as long as the server
    listens, one that sends its headers and part of its body and stops."""
    port = int(base.rsplit(":", 1)[1])
    conns = []
    for i in range(n):
        kind = SLOW_KINDS[i % len(SLOW_KINDS)]
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall({"silent": b"", "one byte": b"G", "trickled headers": b"", "unfinished body": UNFINISHED}[kind])
        conns.append((kind, s))
    stop = threading.Event()

    def trickle():
        head = b"GET /api/health HTTP/1.1\r\nHost: t\r\nX-Slow: "
        trickling = [s for kind, s in conns if kind == "trickled headers"]
        sent = 0
        while trickling and not stop.wait(0.2):
            answered, _, _ = select.select(trickling, [], [], 0)
            trickling = [s for s in trickling if s not in answered]
            for s in list(trickling):
                try:
                    s.send(head[sent:sent + 1] if sent < len(head) else b"a")
                except OSError:
                    trickling.remove(s)
            sent += 1

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield conns
    finally:
        stop.set()
        thread.join()
        for _, s in conns:
            s.close()


def received(s: socket.socket, timeout: float = 60) -> bytes:
    """All the server sends until it closes the connection."""
    s.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = s.recv(1 << 16)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def parsed(raw: bytes) -> tuple[int, dict, bytes]:
    """(status, headers with lowercase names, body) of one HTTP/1.1 answer, interim 100s skipped."""
    while raw.startswith(b"HTTP/1.1 100"):
        raw = raw.split(b"\r\n\r\n", 1)[1]
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]))
    return int(lines[0].split()[1]), headers, body


def error_code(raw: bytes, status: int) -> str:
    """The code of an answer that must be ``status`` in the API's one error shape."""
    got, headers, body = parsed(raw)
    assert got == status, raw[:300]
    assert headers["content-type"] == "application/json", raw[:300]
    error = json.loads(body)["error"]
    assert set(json.loads(body)) == {"error"} and error["message"]
    return error["code"]


@pytest.fixture(scope="module")
def served_index(tmp_path_factory):
    base = tmp_path_factory.mktemp("serve")
    (base / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus_rows()))
    build_index([base / "c.jsonl"], base / "index", progress=False)
    return base / "index"


@pytest.mark.slow
def test_slow_clients_hold_no_thread(served_index, tmp_path):
    """50 slow connections against 2 workers of 2 threads: health and search are answered beside
    them (gthread gave each its own thread, and answered no one)."""
    with live_server([served_index, "--threads", "2", "--read-timeout", "60"], tmp_path / "server.log") as base, \
            slow_clients(base, 50) as conns:
        with urllib.request.urlopen(base + "/api/health", timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(base + "/api/search?q=widget", timeout=10) as r:
            assert json.loads(r.read())["total"] == 25
        for kind, s in conns:  # all still open: answered beside them, not once they were gone
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(1)


@pytest.mark.slow
def test_slow_clients_are_dropped_after_the_read_timeout(served_index, tmp_path):
    """Silent ones are closed; the others, trickling ones included, get a JSON 408."""
    with live_server([served_index, "--read-timeout", "2"], tmp_path / "server.log") as base, \
            slow_clients(base, 50) as conns:
        for kind, s in conns:
            raw = received(s)
            if kind == "silent":
                assert raw == b""
            else:
                assert error_code(raw, 408) == "request_timeout", kind


@pytest.mark.slow
def test_a_flood_of_connections_cannot_keep_new_clients_out(served_index, tmp_path):
    """At --max-connections a new connection takes the place of the slowest one."""
    with live_server([served_index, "--read-timeout", "60", "--max-connections", "8"],
                     tmp_path / "server.log") as base, slow_clients(base, 40) as conns:
        for _ in range(5):
            with urllib.request.urlopen(base + "/api/health", timeout=10) as r:
                assert r.status == 200
        with urllib.request.urlopen(base + "/api/search?q=widget", timeout=10) as r:
            assert json.loads(r.read())["total"] == 25
        readable, _, _ = select.select([s for _, s in conns], [], [], 5)
        answers = [received(s, timeout=10) for s in readable]
    assert {error_code(raw, 503) for raw in answers if raw} == {"server_busy"}


def exchange(base: str, request: bytes) -> bytes:
    """Send ``request`` on a new connection; all the server answers until it closes it."""
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1]))) as s:
        s.sendall(request)
        return received(s)


def chunked_upload(base: str, path: str, size: int, content_type: str) -> bytes:
    """POST ``size`` bytes of JSON-ish text in 1 MiB chunks; what the server answers."""
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1]))) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n"
                  f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode())
        line = (json.dumps({"text": FIB * 20}) + "\n").encode()
        chunk = line * ((1 << 20) // len(line))
        try:
            for _ in range(size // len(chunk) + 1):
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            s.sendall(b"0\r\n\r\n")
        except OSError:  # refused before the end: the answer is waiting
            pass
        return received(s)


@pytest.fixture(scope="module")
def server(served_index, tmp_path_factory):
    with live_server([served_index, "--rate-limit", "off"], tmp_path_factory.mktemp("log") / "server.log") as base:
        yield base


def test_a_query_over_the_limit_reaches_the_app_however_encoded(server):
    """The request line holds the longest query percent-encoded, so a longer one gets the API's
    413 ``query_too_long`` (gunicorn answered HTML 400 past 4,094 bytes)."""
    from indexer.query import MAX_QUERY_CHARS

    every_byte = "".join(f"%{b:02X}" for b in " ".join(["widget"] * (MAX_QUERY_CHARS // 7)).encode())
    with urllib.request.urlopen(f"{server}/api/search?q={every_byte}", timeout=30) as r:
        assert json.loads(r.read())["total"] == 25
    for char in ("x", "é", "😀"):
        q = urllib.parse.quote(char * (MAX_QUERY_CHARS + 1), safe="")
        raw = exchange(server, f"GET /api/search?q={q}&size=5 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        assert error_code(raw, 413) == "query_too_long"


def test_what_the_server_refuses_is_answered_in_the_one_shape(server):
    """Errors of the server layer itself (gunicorn answered them in HTML)."""
    raw = exchange(server, f"GET /api/search?q={'x' * 100_000} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    assert error_code(raw, 414) == "uri_too_long"
    status, headers, _ = parsed(exchange(server, f"GET /{'x' * 100_000} HTTP/1.1\r\n\r\n".encode()))
    assert status == 414 and headers["content-type"].startswith("text/html")  # a page: the error page
    raw = exchange(server, b"GET /api/health HTTP/1.1\r\nHost: t\r\n" + b"X-Big: " + b"y" * 8000 + b"\r\n" * 1
                   + b"".join(b"X-Many-%d: %s\r\n" % (i, b"z" * 4000) for i in range(10)) + b"\r\n")
    assert error_code(raw, 431) == "headers_too_large"
    assert error_code(exchange(server, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"), 400) == "bad_request"
    assert error_code(exchange(server, b"GET /api/health HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: "
                                       b"chunked\r\n\r\n"), 400) == "bad_request"
    raw = exchange(server, b"POST /api/membership HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 2000000\r\nX-Request-ID: big-1\r\n\r\n")
    assert error_code(raw, 413) == "payload_too_large" and parsed(raw)[1]["x-request-id"] == "big-1"


def test_headers_over_their_limit_are_refused_however_they_arrive(server):
    """A head read in pieces is held to the same 32 KiB: the search for the request line's end
    resumed where the last read stopped, so a 48 KB head sent as 16 KB then the rest passed."""
    head = (b"GET /api/health HTTP/1.1\r\nHost: t\r\n" + b"X-Big: " + b"y" * 8000 + b"\r\n"
            + b"".join(b"X-Many-%d: %s\r\n" % (i, b"z" * 4000) for i in range(10)) + b"\r\n")
    for split in (100, 8_100, 16_000, 24_000, 40_000):
        with socket.create_connection(("127.0.0.1", int(server.rsplit(":", 1)[1]))) as s:
            s.sendall(head[:split])
            time.sleep(0.3)  # read by the server on its own before the rest comes
            try:
                s.sendall(head[split:])
            except OSError:  # refused before the end: the answer is waiting
                pass
            assert error_code(received(s), 431) == "headers_too_large", split


def test_chunked_bodies_over_their_limit_are_413_before_they_are_read(server):
    """1 MiB for a JSON body, 64 MiB (MAX_BATCH_BYTES) for the batch: a chunked body is held to
    the same limit as one that says its length (it was a truncated 400, and the batch's an HTML
    500 after minutes of CPU)."""
    raw = chunked_upload(server, "/api/membership", 2 << 20, "application/json")
    assert error_code(raw, 413) == "payload_too_large"
    raw = chunked_upload(server, "/api/attribution/batch", 65 << 20, "application/x-ndjson")
    assert error_code(raw, 413) == "payload_too_large"
    # a small body in 1-byte chunks: each chunk costs the server's loop, so their number is bounded too
    body = json.dumps({"text": FIB * 100}).encode()
    raw = exchange(server, b"POST /api/membership HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                   + b"".join(b"1\r\n%c\r\n" % byte for byte in body) + b"0\r\n\r\n")
    assert error_code(raw, 413) == "payload_too_large" and len(body) > 6000


def test_a_chunked_batch_streams_its_answer(server):
    body = "".join(json.dumps({"id": i, "text": "# mine\n" + FIB}) + "\n" for i in range(5)).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100]) for i in range(0, len(body), 100))
    raw = exchange(server, b"POST /api/attribution/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-ndjson\r\n"
                           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
    status, headers, payload = parsed(raw)
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    lines = [json.loads(x) for x in http_chunks(payload).splitlines()]
    assert [(r["id"], r["result"]["spans"][0]["sources"][0]["repo"]) for r in lines] == [(i, "math/fib") for i in range(5)]


def http_chunks(payload: bytes) -> bytes:
    """A chunked HTTP body decoded."""
    out = b""
    while True:
        size, _, payload = payload.partition(b"\r\n")
        size = int(size, 16)
        if not size:
            return out
        out, payload = out + payload[:size], payload[size + 2:]


def test_keep_alive_pipelining_and_expect_continue(server):
    with socket.create_connection(("127.0.0.1", int(server.rsplit(":", 1)[1]))) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: t\r\n\r\nGET /api/search?q=widget HTTP/1.1\r\nHost: t\r\n\r\n")
        answers = read_answers(s, 2)
        assert [status for status, _ in answers] == [200, 200] and json.loads(answers[1][1])["total"] == 25
        body = json.dumps({"text": FIB}).encode()
        s.sendall(b"POST /api/membership HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        s.settimeout(10)
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        [(status, answer)] = read_answers(s, 1)
        assert status == 200 and json.loads(answer)["member"] is True


def read_answers(s: socket.socket, n: int) -> list[tuple[int, bytes]]:
    """``n`` answers with a Content-Length from a kept-alive connection."""
    def more() -> bytes:
        chunk = s.recv(1 << 16)
        assert chunk, "the server closed the connection"
        return chunk

    s.settimeout(10)
    data, answers = b"", []
    while len(answers) < n:
        while b"\r\n\r\n" not in data:
            data += more()
        status, headers, rest = parsed(data)
        size = int(headers["content-length"])
        while len(rest) < size:
            rest += more()
        answers.append((status, rest[:size]))
        data = rest[size:]
    return answers


@pytest.mark.slow
def test_a_client_that_does_not_read_its_answer_frees_its_thread(served_index, tmp_path):
    """One thread; a client asks for a long answer and reads none of it: after --write-timeout
    the thread is free again (it would have waited on it forever)."""
    log = tmp_path / "server.log"
    with live_server([served_index, "--workers", "1", "--threads", "1", "--write-timeout", "2", "--rate-limit", "off"],
                     log) as base:
        with socket.socket() as reader:
            reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            reader.connect(("127.0.0.1", int(base.rsplit(":", 1)[1])))
            body = "".join(json.dumps({"id": i, "text": "# x\n" + FIB * 3}) + "\n" for i in range(1000)).encode()
            reader.sendall(b"POST /api/attribution/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-ndjson\r\n"
                           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            while "POST /api/attribution/batch" not in log.read_text():
                with urllib.request.urlopen(base + "/api/health", timeout=60) as r:
                    assert r.status == 200
                time.sleep(0.2)
    assert "closed a connection whose client read its answer too slowly" in log.read_text()
