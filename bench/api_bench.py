"""The HTTP API against calling the same functions in-process, in one run.

A real server (``starscope serve``: gunicorn, ``--workers`` x ``--threads``) is started on the
index; for each workload the same requests are timed three ways:

* in-process: the function the endpoint calls (``store.search``, ``MembershipIndex.test`` /
  ``attribute``) plus the JSON encoding of its answer, in this process;
* HTTP, one client: sequential requests over one keep-alive connection (the overhead per request
  is the difference of the p50s);
* HTTP under load: ``--clients`` threads for ``--seconds`` each, requests/s and p50/p99.

Workloads: keyword search (identifiers drawn from the corpus), membership of 1 KB and 4 KB
windows of corpus files, attribution of 1 KB windows (near-duplicates off: they cost the same on
both sides and would dominate).

    .venv/bin/python bench/api_bench.py --index var/demo/index
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_throughput import ROOT, machine_info, machine_line, markdown_table  # noqa: E402
from search_latency import percentile  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{5,}")


def workloads(store, rng: random.Random, n: int) -> dict[str, list[tuple[str, dict | None]]]:
    """(path, body) requests per workload, drawn from stored documents."""
    docs = []
    for repo, _ in store.repos("", limit=200):
        docs += store.docs_with_terms("repo", [repo], limit=5)
    big = [d.content for d in docs if len(d.content) >= 6000]
    words = sorted({w for d in docs for w in IDENT.findall(d.content[:4000])})
    out = {"search": [(f"/api/search?q={w}", None) for w in rng.sample(words, min(n, len(words)))]}
    for label, size, path in (("membership 1 KB", 1000, "/api/membership"),
                              ("membership 4 KB", 4000, "/api/membership"),
                              ("attribution 1 KB", 1000, "/api/attribution")):
        reqs = []
        for text in rng.sample(big, min(n, len(big))):
            s = rng.randrange(0, len(text) - size)
            body = {"text": text[s:s + size]}
            if path == "/api/attribution":
                body["near_duplicates"] = False
            reqs.append((path, body))
        out[label] = reqs
    return out


def in_process(store, index, path: str, body: dict | None):
    from indexer.query import parse_query
    from indexer.store import Page

    if path.startswith("/api/search"):
        q = path.split("q=", 1)[1]
        return json.dumps(store.search(parse_query(q), page=Page(1, 10)).to_json())
    if path == "/api/membership":
        return json.dumps(index.test(body["text"]).to_json())
    return json.dumps(index.attribute(body["text"], near_duplicates=False).to_json())


class Client:
    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, path: str, body: dict | None) -> float:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        for attempt in (0, 1):  # the server closes idle keep-alive connections: reconnect once
            t0 = time.perf_counter()
            try:
                self.conn.request("POST" if data else "GET", path, body=data, headers=headers)
                r = self.conn.getresponse()
                r.read()
                break
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.conn.host, self.conn.port, timeout=120)
        dt = (time.perf_counter() - t0) * 1e3
        if r.status != 200:
            raise RuntimeError(f"{path}: HTTP {r.status}")
        return dt


def start_server(index: Path, workers: int, threads: int, log: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "search_api", "serve", str(index), "--port", str(port),
                             "--workers", str(workers), "--threads", str(threads), "--no-access-log",
                             "--rate-limit", "off", "--search-rate-limit", "off"],
                            cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            Client(port).call("/api/health", None)
            return proc, port
        except (OSError, RuntimeError, http.client.HTTPException):
            if proc.poll() is not None:
                raise RuntimeError(log.read_text())
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def under_load(port: int, reqs: list, clients: int, seconds: float) -> dict:
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def run(k: int):
        c, i = Client(port), k
        mine = []
        while time.perf_counter() < stop:
            path, body = reqs[i % len(reqs)]
            i += clients
            try:
                mine.append(c.call(path, body))
            except Exception:
                errors[0] += 1
                c = Client(port)
        with lock:
            times.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"requests": len(times), "rps": len(times) / wall, "p50": percentile(times, 50),
            "p99": percentile(times, 99), "errors": errors[0]}


def main(argv=None) -> int:
    from indexer.stores import open_index
    from indexer.index_dir import IndexDir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--n", type=int, default=60, help="requests per workload")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)
    store = open_index(args.index)
    store.warm()
    index = IndexDir(args.index, store=store).membership()
    loads = workloads(store, random.Random(5), args.n)
    log = Path("/tmp") / f"api-bench-{int(time.time())}.log"
    proc, port = start_server(args.index, args.workers, args.threads, log)
    rows, raw = [], {}
    try:
        client = Client(port)
        for label, reqs in loads.items():
            local, remote = [], []
            for path, body in reqs:
                in_process(store, index, path, body)
                client.call(path, body)
                ts, tr = [], []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    in_process(store, index, path, body)
                    ts.append((time.perf_counter() - t0) * 1e3)
                    tr.append(client.call(path, body))
                local.append(statistics.median(ts))
                remote.append(statistics.median(tr))
            load = under_load(port, reqs, args.clients, args.seconds)
            r = {"n": len(reqs), "local_p50": percentile(local, 50), "local_p99": percentile(local, 99),
                 "http_p50": percentile(remote, 50), "http_p99": percentile(remote, 99), "load": load}
            raw[label] = r
            rows.append([label, r["n"], f"{r['local_p50']:.2f} / {r['local_p99']:.2f}",
                         f"{r['http_p50']:.2f} / {r['http_p99']:.2f}", f"{r['http_p50'] - r['local_p50']:.2f}",
                         f"{load['rps']:.0f}", f"{load['p50']:.1f} / {load['p99']:.1f}",
                         f"{load['requests']:,}", load["errors"]])
            print(f"  {label} done", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    print(machine_line(machine_info()) + f"; server: {args.workers} workers x {args.threads} threads; "
          f"load: {args.clients} clients x {args.seconds:g} s, same machine")
    print()
    print(markdown_table(["workload", "n", "in-process ms p50 / p99", "HTTP ms p50 / p99 (1 client)",
                          "HTTP overhead p50 ms", "req/s under load", "under load ms p50 / p99",
                          "requests", "errors"], rows))
    if args.json_out:
        args.json_out.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
