"""Soak: a real server under a bounded loopback load of mixed requests for a few minutes.

``starscope serve`` (gunicorn, ``--workers`` x ``--threads``, rate limits off) on an index, with
the demo model when ``--model`` is given; ``--clients`` threads send a fixed mix for
``--seconds``: searches (keywords, exact literals, pages), documents, repositories, membership
and attribution of corpus windows, generation (short), and bad requests that must fail cleanly
(a malformed id, an unknown parameter, an oversize body, a too-short text). Reported:
requests, errors (a 5xx, a dropped connection, or a status other than the one expected), p50/p99
per kind, and the resident memory of the server's processes sampled every 10 s (flat means the
last minute's samples stay within a few percent of the first minute's).

With ``--rebuild-from SHARDS`` the server serves a link to the index, and meanwhile the index is
rebuilt from SHARDS into a new directory (``starscope index --optouts-from``), switched to
(``starscope switch``) and the directory before it deleted once every worker follows, again and
again: the load must see no error through any of it. Reported: rebuilds, their build time, and
how long the workers took to follow each switch.

    .venv/bin/python bench/soak_bench.py --index var/bench/index-api --model var/bench/demo-model --seconds 180
    .venv/bin/python bench/soak_bench.py --index var/bench/index-api --seconds 600 --rebuild-from var/demo/shards
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_bench import IDENT  # noqa: E402
from build_throughput import ROOT, machine_info, machine_line, markdown_table  # noqa: E402
from search_latency import percentile  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from indexer.manifest import read_manifest  # noqa: E402


def server_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (gunicorn's master and workers), MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo += [int(c) for c in children]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def mix(store, rng: random.Random, with_model: bool) -> list[tuple[str, str, str, dict | None, int]]:
    """(kind, method, path, body, expected status) requests drawn from stored documents."""
    docs = []
    for repo, _ in store.repos("", limit=100):
        docs += store.docs_with_terms("repo", [repo], limit=3)
    big = [d for d in docs if len(d.content) >= 3000]
    words = sorted({w for d in docs for w in IDENT.findall(d.content[:3000])})
    out = []
    for _ in range(400):
        d = rng.choice(big)
        s = rng.randrange(0, len(d.content) - 1200)
        window = d.content[s:s + 1000]
        literal = next((line.strip() for line in window.splitlines() if 12 < len(line.strip()) < 60), "import")
        out += [("search", "GET", f"/api/search?q={quote(rng.choice(words))}&page=1", None, 200),
                ("search exact", "GET", "/api/search?" + urlencode({"q": literal, "exact": 1}),
                 None, 200),
                ("document", "GET", f"/api/documents/{d.sha}?q={quote(rng.choice(words))}&syntax=1", None, 200),
                ("repos", "GET", f"/api/repos?q={quote(d.sources[0].repo[:2])}", None, 200),
                ("membership", "POST", "/api/membership", {"text": window}, 200),
                ("attribution", "POST", "/api/attribution", {"text": window}, 200),
                ("bad id", "GET", "/api/documents/nothex", None, 400),
                ("bad param", "GET", "/api/search?q=x&colour=red", None, 400),
                ("too short", "POST", "/api/membership", {"text": "x = 1"}, 400),
                ("oversize", "POST", "/api/membership", {"text": "y" * (1 << 20)}, 413)]
        if with_model:
            out.append(("generate", "POST", "/api/generate", {"prompt": window[:200], "max_new_tokens": 16,
                                                              "temperature": 0}, 200))
    rng.shuffle(out)
    return out


def main(argv=None) -> int:
    from indexer.stores import open_index

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--model", type=Path)
    p.add_argument("--seconds", type=float, default=180)
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--rebuild-from", type=Path, help="rebuild from these shards and switch, over and over")
    p.add_argument("--rebuild-pause", type=float, default=10, help="seconds between a switch and the next rebuild")
    args = p.parse_args(argv)

    requests = mix(open_index(args.index), random.Random(3), args.model is not None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    served = args.index
    live_dir = ROOT / "var" / "soak-live"
    if args.rebuild_from:
        from indexer.live import switch

        shutil.rmtree(live_dir, ignore_errors=True)
        live_dir.mkdir(parents=True)
        served = live_dir / "index"
        switch(served, args.index)
    cmd = [sys.executable, "-m", "search_api", "serve", str(served), "--port", str(port), "--workers",
           str(args.workers), "--threads", str(args.threads), "--rate-limit", "off",
           "--search-rate-limit", "off", "--no-access-log"]
    if args.model:
        cmd += ["--model", str(args.model), "--device", "cpu"]
    log = open(ROOT / "var" / "soak-server.log", "wb")
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/api/health")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start: see {log.name}")
                time.sleep(0.2)
        lat, errors, counts = defaultdict(list), defaultdict(list), defaultdict(int)
        lock = threading.Lock()
        stop = time.monotonic() + args.seconds

        def client(i: int):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            k = i
            while time.monotonic() < stop:
                kind, method, path, body, want = requests[k % len(requests)]
                k += args.clients
                payload = json.dumps(body).encode() if body is not None else None
                t0 = time.perf_counter()
                try:
                    conn.request(method, path, body=payload, headers={"Content-Type": "application/json"} if payload else {})
                    resp = conn.getresponse()
                    data = resp.read()
                    status = resp.status
                except (OSError, http.client.HTTPException) as e:
                    status, data = 0, repr(e).encode()
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    counts[kind] += 1
                    lat[kind].append(ms)
                    if status != want or status >= 500:
                        errors[kind].append((status, data[:200]))

        rebuilds: list[dict] = []

        def rebuilder():
            from indexer.live import switch

            k, previous = 0, None
            while time.monotonic() < stop - 5:
                k += 1
                out = live_dir / f"index-{k}"
                t0 = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "indexer", "index", str(args.rebuild_from), "--out",
                                       str(out), "--optouts-from", str(served), "--no-progress"],
                                      cwd=ROOT, capture_output=True, text=True)
                if done.returncode != 0:
                    rebuilds.append({"error": done.stderr[-500:]})
                    return
                built = time.perf_counter() - t0
                switch(served, out)
                t1, under_load = time.perf_counter(), time.monotonic() < stop
                while time.perf_counter() < t1 + 60:  # until a run of answers all come from the new directory
                    served_now = set()
                    for _ in range(4 * args.workers):
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                        c.request("GET", "/api/health")
                        index = json.loads(c.getresponse().read())["index"]  # which build answers
                        served_now.add((index["corpus_fingerprint"], index["updated"]))
                        c.close()
                    manifest = read_manifest(out)
                    if served_now == {(manifest["corpus_fingerprint"], manifest["updated"])}:
                        break
                    time.sleep(0.1)
                rebuilds.append({"build_s": built, "follow_s": time.perf_counter() - t1, "under_load": under_load})
                if previous is not None:
                    shutil.rmtree(previous)  # every worker has left it
                previous = out
                time.sleep(args.rebuild_pause)

        samples = []
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        if args.rebuild_from:
            threads.append(threading.Thread(target=rebuilder))
        for t in threads:
            t.start()
        started = time.monotonic()
        while any(t.is_alive() for t in threads):
            samples.append((round(time.monotonic() - started), server_rss_mb(server.pid)))
            time.sleep(10)
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(timeout=60)
    total, bad = sum(counts.values()), sum(len(v) for v in errors.values())
    print(machine_line(machine_info()))
    print(f"{args.seconds:g} s, {args.clients} clients, server {args.workers} workers x {args.threads} threads"
          f"{' with the demo model' if args.model else ''}: {total:,} requests ({total / args.seconds:.0f}/s), "
          f"**{bad} errors**")
    print()
    print(markdown_table(["request", "count", "p50 ms", "p99 ms", "errors"],
                         [[k, f"{counts[k]:,}", f"{percentile(sorted(v), 50):.1f}", f"{percentile(sorted(v), 99):.1f}",
                           len(errors[k])] for k, v in sorted(lat.items())]))
    print()
    print("server memory (RSS of master and workers, MB) every 10 s: " +
          ", ".join(f"{t}s {mb:.0f}" for t, mb in samples))
    if args.rebuild_from:
        ok = [r for r in rebuilds if "error" not in r and r["under_load"]]
        print(f"rebuilds from {args.rebuild_from} switched to under load: {len(ok)} (and "
              f"{sum(1 for r in rebuilds if not r.get('under_load', True))} after the load ended); build "
              + ", ".join(f"{r['build_s']:.0f}" for r in ok) + " s; every worker on the new index after "
              + ", ".join(f"{r['follow_s']:.2f}" for r in ok) + " s")
        for r in rebuilds:
            if "error" in r:
                print(f"a rebuild failed: {r['error']}")
                bad += 1
        shutil.rmtree(live_dir, ignore_errors=True)
    for kind, errs in errors.items():
        if errs:
            print(f"errors in {kind}: {errs[:3]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
