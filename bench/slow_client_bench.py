"""Slow clients: how a real server answers while hostile connections hold on, and what a batch
body costs it to read.

``starscope serve INDEX`` on loopback (its options after ``--serve-args``), then:

1. **alone**: ``--probes`` sequential ``/api/health`` and search requests, one at a time;
2. **beside slow clients**: ``--slow`` connections opened first, of four kinds in turn (one that
   sends nothing, one that sends a byte and stops, one that trickles its headers a byte every
   0.2 s as long as the server listens, one that sends its headers and part of its body and
   stops), then the same probes, each with a ``--probe-timeout`` (10 s): p50/p99 of the answered
   ones and the count of unanswered ones (a kind of probe stops after 3 unanswered in a row);
3. **dropped**: how long the server takes to close each slow connection, and what it said
   (a 408, a 503 or nothing), waiting at most ``--drop-wait`` seconds;
4. with ``--batch-mib N``: the CPU time the server's processes spend (utime + stime, from
   /proc) on one ``/api/attribution/batch`` body of N MiB sent chunked, made of 64 KiB lines that
   fail validation (an unknown field), so no attribution runs: the cost of reading the body, per
   MiB, and the answer's status.

    .venv/bin/python bench/slow_client_bench.py --index var/demo/index --batch-mib 16
    .venv/bin/python bench/slow_client_bench.py --index var/demo/index --root OLD_CHECKOUT --serve-args=""

``--root`` serves from another checkout (the code before a change) with its own ``search_api``;
``--serve-args`` replaces the default server options (``--rate-limit off``; the read timeout
is the server's default, 10 s, so the slow connections stay open during the probes).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_latency import percentile  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("silent", "one byte", "trickled headers", "unfinished body")
UNFINISHED = (b"POST /api/attribution HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100000\r\n\r\n{\"text\": \"def ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, index: Path, port: int, args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "search_api", "serve", str(index), "--port", str(port), *args],
                            cwd=root, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"the server stopped: {log.read_text()[-2000:]}")
            time.sleep(0.2)
    proc.kill()
    sys.exit("the server did not answer in 120 s")


def probe(url: str, timeout: float) -> float | None:
    """Seconds to a 200, or None when there was no answer in ``timeout``."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            r.read()
            return time.perf_counter() - start if r.status == 200 else None
    except OSError:
        return None


def probes(base: str, n: int, timeout: float, query: str, give_up: int = 3) -> dict:
    """``n`` probes of each kind, one at a time; a kind stops after ``give_up`` unanswered in a row."""
    out = {}
    for name, url in (("health", base + "/api/health"), ("search", f"{base}/api/search?q={query}")):
        times: list = []
        while len(times) < n and times[-give_up:] != [None] * give_up:
            times.append(probe(url, timeout))
        answered = [t for t in times if t is not None]
        out[name] = {"answered": len(answered), "unanswered": len(times) - len(answered),
                     "p50_ms": round(percentile(answered, 50) * 1000, 1) if answered else None,
                     "p99_ms": round(percentile(answered, 99) * 1000, 1) if answered else None}
    return out


def open_slow(port: int, n: int, stop: threading.Event) -> list[tuple[str, socket.socket, float]]:
    conns = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall({"one byte": b"G", "unfinished body": UNFINISHED}.get(kind, b""))
        conns.append((kind, s, time.monotonic()))

    def trickle():
        head = b"GET /api/health HTTP/1.1\r\nHost: b\r\nX-Slow: "
        trickling = [s for kind, s, _ in conns if kind == "trickled headers"]
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

    threading.Thread(target=trickle, daemon=True).start()
    return conns


def dropped(conns, wait: float) -> dict:
    """Per kind: how many the server closed within ``wait`` s, after how long, saying what."""
    end = time.monotonic() + wait
    pending = {s: (kind, opened, b"") for kind, s, opened in conns}
    closed: dict[str, list] = {kind: [] for kind in KINDS}
    while pending and time.monotonic() < end:
        readable, _, _ = select.select(list(pending), [], [], max(0.0, end - time.monotonic()))
        for s in readable:
            kind, opened, data = pending[s]
            try:
                chunk = s.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                pending[s] = (kind, opened, data + chunk)
                continue
            del pending[s]
            status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
            closed[kind].append((time.monotonic() - opened, status))
    out = {}
    for kind in KINDS:
        times = [t for t, _ in closed[kind]]
        out[kind] = {"closed": len(times), "open": sum(1 for k, _, _ in pending.values() if k == kind),
                     "max_s": round(max(times), 1) if times else None,
                     "answers": sorted({status for _, status in closed[kind]})}
    return out


def server_cpu_s(pid: int) -> float:
    """utime + stime of a process and its children (gunicorn's master and workers), seconds."""
    total, todo = 0, [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def batch_cpu(port: int, pid: int, mib: int) -> dict:
    """CPU of one chunked batch body of ``mib`` MiB whose lines all fail validation."""
    line = (json.dumps({"text": "x = 1\n" * ((64 << 10) // 6), "not_a_field": 1}) + "\n").encode()
    lines = max(1, (mib << 20) // len(line))
    before = server_cpu_s(pid)
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /api/attribution/batch HTTP/1.1\r\nHost: b\r\nContent-Type: application/x-ndjson\r\n"
                  b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        chunk = line * 16
        for i in range(0, lines, 16):
            part = chunk if i + 16 <= lines else line * (lines - i)
            s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        s.sendall(b"0\r\n\r\n")
        s.settimeout(600)
        answer = b""
        while chunk := s.recv(1 << 16):
            answer += chunk
    seconds = time.perf_counter() - start
    time.sleep(0.5)  # let the workers' counters settle
    cpu = server_cpu_s(pid) - before
    sent = lines * len(line) / (1 << 20)
    records = answer.count(b'"line"')
    return {"mib": round(sent, 1), "lines": lines, "status": answer.split(b" ", 2)[1].decode() if answer else "none",
            "records": records, "cpu_s": round(cpu, 2), "cpu_s_per_mib": round(cpu / sent, 3),
            "wall_s": round(seconds, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve from (default: this one)")
    ap.add_argument("--serve-args", default="--rate-limit off", help="server options (default: %(default)s)")
    ap.add_argument("--slow", type=int, default=50)
    ap.add_argument("--probes", type=int, default=50)
    ap.add_argument("--probe-timeout", type=float, default=10.0)
    ap.add_argument("--drop-wait", type=float, default=45.0)
    ap.add_argument("--query", default="import")
    ap.add_argument("--batch-mib", type=int, default=0)
    ap.add_argument("--log", type=Path, default=Path("/tmp/slow_client_bench.log"))
    args = ap.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(args.root.resolve(), args.index.resolve(), port, shlex.split(args.serve_args), args.log)
    report = {"serve_args": args.serve_args, "root": str(args.root)}
    try:
        report["alone"] = probes(base, args.probes, args.probe_timeout, args.query)
        stop = threading.Event()
        conns = open_slow(port, args.slow, stop)
        report["beside_slow"] = probes(base, args.probes, args.probe_timeout, args.query)
        report["dropped"] = dropped(conns, args.drop_wait)
        stop.set()
        for _, s, _ in conns:
            s.close()
        if args.batch_mib:
            report["batch"] = batch_cpu(port, proc.pid, args.batch_mib)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
