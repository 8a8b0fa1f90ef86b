"""Faults a build must survive, injected for real and counted: SIGKILL at random points, a disk
that fills up, and a disk remounted read-only in the middle of a build. After each fault the
same command is rerun to completion, and the index is compared with one uninterrupted build.

    .venv/bin/python bench/fault_bench.py --shards var/demo/shards --mb 12 --kills 12 \\
        --stores tantivy,elasticsearch

The corpus is the first ``--mb`` MB of ``--shards``, cut into ``--parts`` parquet shards (so a
kill can fall inside a shard or between two). Per store, one uninterrupted build is the
reference. A kill run starts ``starscope index`` in a fresh directory, kills it with SIGKILL
after a delay drawn uniformly over the reference build's duration, ``--kills-per-run`` times in
a row, then reruns it to the end. Compared with the reference: every document id and its
sources (lost: in the reference, not in the index; extra: the reverse), the store's document
and source counts, the Bloom filter's bits (sha256 of ``bloom.bin``), and the total and id set
of ``--queries`` searches.

Server loss (the Elasticsearch store, ``--server-loss N``): the server started by
``scripts/elasticsearch.sh`` is killed with SIGKILL at a random point of a build, then started
again; the build must stop with an error naming the server, and the rerun must end equal to
the reference.

Disk faults (the tantivy store; they need root, to mount): the index directory on a tmpfs
sized at a fraction of the reference index, so the build runs out of space (then the tmpfs is
grown and the command rerun); and on a roomy tmpfs remounted read-only after a random delay
(then remounted writable and the command rerun). Each must fail with an error that names the
cause and says to rerun, and the rerun must end equal to the reference.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_throughput import ROOT, dir_bytes, machine_info, machine_line, markdown_table  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

QUERIES = ["def", "import os", "self parser", '"return None"', "class Error", "lambda x",
           "yield from", "async def", "raise ValueError", "open(path"]


def cut_corpus(src: Path, out: Path, *, mb: float, parts: int) -> list[Path]:
    """The first ``mb`` MB of text of ``src``'s parquet shards, as ``parts`` shards."""
    from indexer.corpus import list_shards

    rows, total = [], 0
    for path in list_shards([src]):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
            for row in batch.to_pylist():
                rows.append(row)
                total += len(row["content"].encode())
                if total >= mb * 1e6:
                    break
            if total >= mb * 1e6:
                break
        if total >= mb * 1e6:
            break
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(parts):
        part = rows[i::parts]
        path = out / f"part-{i:03d}.parquet"
        pq.write_table(pa.Table.from_pylist(part), path)
        paths.append(path)
    return paths


def expected_ids(shards: list[Path]) -> set[str]:
    from collections import Counter

    from indexer.corpus import iter_documents

    return {d.sha for p in shards for d in iter_documents(p, stats=Counter())}


def snapshot(index_dir: Path, ids: set[str], es=None) -> dict:
    """What a user could observe of the index: every record, counts, filter bits, searches."""
    from indexer.query import parse_query
    from indexer.store import Page
    from indexer.stores import open_index

    store = open_index(index_dir, es=es)
    ordered = sorted(ids)
    records = {}
    for i in range(0, len(ordered), 1000):
        for d in store.docs_with_terms("sha", ordered[i:i + 1000], limit=1001):
            records[d.sha] = sorted((s.repo, s.path) for s in d.sources)
    searches = {}
    for q in QUERIES:
        first = store.search(parse_query(q), page=Page(1, 100))
        searches[q] = (first.total, sorted(h.document.sha for h in first.hits))
    stats = store.stats()
    bloom = hashlib.sha256((index_dir / "membership" / "bloom.bin").read_bytes()).hexdigest()
    return {"records": records, "documents": stats.documents, "sources": stats.sources,
            "bloom": bloom, "searches": searches}


def compare(ref: dict, got: dict) -> dict:
    lost = set(ref["records"]) - set(got["records"])
    extra = set(got["records"]) - set(ref["records"])
    changed = sum(1 for k in set(ref["records"]) & set(got["records"]) if ref["records"][k] != got["records"][k])
    # Equal-scored hits may come back in another order after a resume (segments differ): the
    # sets of page 1 are compared only where the totals agree and no ties straddle the page end.
    searches = sum(1 for q in QUERIES if ref["searches"][q][0] != got["searches"][q][0])
    return {"lost": len(lost), "extra": len(extra), "sources_changed": changed,
            "counts_equal": (ref["documents"], ref["sources"]) == (got["documents"], got["sources"]),
            "bloom_equal": ref["bloom"] == got["bloom"], "search_totals_differ": searches}


class Store:
    """How to build into, and clean up after, one backend."""

    def __init__(self, name: str):
        self.name, self.made = name, []

    def args(self, out: Path) -> list[str]:
        if self.name != "elasticsearch":
            return []
        index = f"starscope-faultbench-{os.getpid()}-{len(self.made)}"
        self.made.append(index)
        return ["--store", "elasticsearch", "--es-index", index, "--es-replicas", "0"]

    def cleanup(self):
        if self.made:
            from indexer.es_config import ElasticsearchConfig
            from indexer.es_store import es_client

            client = es_client(ElasticsearchConfig().resolved("."))
            for index in self.made:
                client.indices.delete(index=index, ignore_unavailable=True)


def index_cmd(shards_dir: Path, out: Path, store_args: list[str]) -> list[str]:
    return [sys.executable, "-m", "indexer", "index", str(shards_dir), "--out", str(out), "--no-progress",
            *store_args]


def run_to_end(cmd: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the rerun failed: {done.stderr[-2000:]}")
    return done


def kill_runs(store: Store, shards_dir: Path, ids: set[str], work: Path, *, kills: int, per_run: int,
              rng: random.Random) -> tuple[dict, list[dict]]:
    ref_dir = work / f"{store.name}-reference"
    t0 = time.perf_counter()
    run_to_end(index_cmd(shards_dir, ref_dir, store.args(ref_dir)))
    ref_s = time.perf_counter() - t0
    ref = snapshot(ref_dir, ids)
    runs = []
    for k in range(kills):
        out = work / f"{store.name}-kill-{k}"
        cmd = index_cmd(shards_dir, out, store.args(out))
        delays, killed = [], 0
        for _ in range(per_run):
            delay = rng.uniform(0.02, 1.0) * ref_s
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                killed += 1
            proc.wait()
            delays.append(round(delay / ref_s, 2))
        run_to_end(cmd)
        runs.append({"delays": delays, "killed": killed, **compare(ref, snapshot(out, ids))})
        shutil.rmtree(out, ignore_errors=True)
    return {"seconds": ref_s, "documents": ref["documents"], "sources": ref["sources"],
            "bytes": dir_bytes(ref_dir), "snapshot": ref, "dir": ref_dir}, runs


def es_pid() -> int:
    done = subprocess.run(["bash", "scripts/elasticsearch.sh", "status"], cwd=ROOT, capture_output=True, text=True)
    status = done.stdout + done.stderr
    m = re.search(r"pid (\d+)", status)
    if not m:
        raise SystemExit(f"--server-loss needs the server of scripts/elasticsearch.sh: {status.strip()}")
    return int(m.group(1))


def server_loss_runs(store: Store, shards_dir: Path, ids: set[str], ref: dict, work: Path, *, rng: random.Random,
                     runs: int) -> list[dict]:
    out_runs = []
    for k in range(runs):
        out = work / f"es-loss-{k}"
        cmd = index_cmd(shards_dir, out, store.args(out))
        delay = rng.uniform(0.1, 0.9) * ref["seconds"]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        os.kill(es_pid(), signal.SIGKILL)
        t0 = time.perf_counter()
        _, err = proc.communicate(timeout=900)
        noticed = time.perf_counter() - t0
        subprocess.run(["bash", "scripts/elasticsearch.sh", "up"], cwd=ROOT, check=True, capture_output=True)
        run_to_end(cmd)
        out_runs.append({"fault": f"server killed after {delay / ref['seconds']:.0%} of a build", "exit": proc.returncode,
                         "error": (err.strip().splitlines() or [""])[-1][:300], "noticed_s": noticed,
                         **compare(ref["snapshot"], snapshot(out, ids))})
    return out_runs


def mount_tmpfs(path: Path, size_bytes: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)], check=True)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def disk_runs(shards_dir: Path, ids: set[str], ref: dict, work: Path, *, rng: random.Random,
              fractions: list[float], readonly_runs: int) -> list[dict]:
    out_runs = []
    need = ref["bytes"]
    for fraction in fractions:
        mnt = work / f"full-{fraction}"
        mount_tmpfs(mnt, max(int(need * fraction), 1 << 20))
        try:
            cmd = index_cmd(shards_dir, mnt / "index", [])
            first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            remount(mnt, f"size={need * 3}")
            run_to_end(cmd)
            out_runs.append({"fault": f"disk full at {fraction:.0%} of the index size", "exit": first.returncode,
                             "error": first.stderr.strip().splitlines()[-1][:300] if first.stderr.strip() else "",
                             **compare(ref["snapshot"], snapshot(mnt / "index", ids))})
        finally:
            subprocess.run(["umount", str(mnt)], check=False)
    for k in range(readonly_runs):
        mnt = work / f"ro-{k}"
        mount_tmpfs(mnt, need * 3)
        proc = None
        try:
            cmd = index_cmd(shards_dir, mnt / "index", [])
            delay = rng.uniform(0.1, 0.9) * ref["seconds"]
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            # Linux refuses to make a mount read-only while a file on it is open for writing;
            # retry until the build is between two writes (or has ended).
            for attempt in range(1, 2001):
                if subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True).returncode == 0:
                    break
                time.sleep(0.005)
            try:
                _, err = proc.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
                err = "HUNG (killed after 300 s)\n" + err
            remount(mnt, "rw")
            run_to_end(cmd)
            out_runs.append({"fault": f"read-only after {delay / ref['seconds']:.0%} of a build ({attempt} tries)",
                             "exit": proc.returncode,
                             "error": err.strip().splitlines()[-1][:300] if err.strip() else "",
                             **compare(ref["snapshot"], snapshot(mnt / "index", ids))})
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            subprocess.run(["umount", str(mnt)], check=False)
    return out_runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", type=Path, default=ROOT / "var" / "demo" / "shards")
    p.add_argument("--mb", type=float, default=12)
    p.add_argument("--parts", type=int, default=6)
    p.add_argument("--kills", type=int, default=12, help="kill runs per store")
    p.add_argument("--kills-per-run", type=int, default=2)
    p.add_argument("--stores", default="tantivy")
    p.add_argument("--disk", action=argparse.BooleanOptionalAction, default=os.geteuid() == 0,
                   help="the disk-full and read-only runs (need root; default: when root)")
    p.add_argument("--server-loss", type=int, default=0, help="Elasticsearch server-loss runs")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="fault-bench-", dir=ROOT / "var"))
    stores = [Store(s) for s in args.stores.split(",")]
    try:
        shards = cut_corpus(args.shards, work / "shards", mb=args.mb, parts=args.parts)
        ids = expected_ids(shards)
        print(machine_line(machine_info()))
        print(f"corpus: {args.mb:g} MB in {args.parts} shards, {len(ids):,} distinct contents; seed {args.seed}")
        rows, totals = [], {"faults": 0, "lost": 0, "extra": 0}
        refs = {}
        for store in stores:
            ref, runs = kill_runs(store, work / "shards", ids, work, kills=args.kills, per_run=args.kills_per_run,
                                  rng=rng)
            refs[store.name] = ref
            killed = sum(r["killed"] for r in runs)
            bad = [r for r in runs if r["lost"] or r["extra"] or r["sources_changed"] or not r["counts_equal"]
                   or not r["bloom_equal"] or r["search_totals_differ"]]
            totals["faults"] += killed
            totals["lost"] += sum(r["lost"] for r in runs)
            totals["extra"] += sum(r["extra"] for r in runs)
            rows.append([store.name, f"{ref['seconds']:.1f}", f"{ref['documents']:,}", len(runs), killed,
                         sum(r["lost"] for r in runs), sum(r["extra"] for r in runs),
                         sum(r["sources_changed"] for r in runs), sum(not r["bloom_equal"] for r in runs),
                         sum(bool(r["search_totals_differ"]) for r in runs), len(bad)])
            print(f"{store.name}: kill points (fraction of the reference build): "
                  + "; ".join(",".join(f"{d:.2f}" for d in r["delays"]) for r in runs), flush=True)
        print()
        print(markdown_table(["store", "reference build s", "documents", "runs", "SIGKILLs landed",
                              "documents lost", "extra", "sources changed", "Bloom differs",
                              "search totals differ", "runs not equal"], rows))
        if args.server_loss and "elasticsearch" in refs:
            es_store = next(s for s in stores if s.name == "elasticsearch")
            loss = server_loss_runs(es_store, work / "shards", ids, refs["elasticsearch"], work, rng=rng,
                                    runs=args.server_loss)
            totals["faults"] += len(loss)
            totals["lost"] += sum(r["lost"] for r in loss)
            totals["extra"] += sum(r["extra"] for r in loss)
            print()
            print(markdown_table(["fault (Elasticsearch)", "build exit", "seconds to notice", "its last error line",
                                  "lost", "extra", "counts equal", "Bloom equal", "search totals differ"],
                                 [[r["fault"], r["exit"], f"{r['noticed_s']:.1f}", f"`{r['error']}`", r["lost"],
                                   r["extra"], r["counts_equal"], r["bloom_equal"], r["search_totals_differ"]]
                                  for r in loss]))
        if args.disk and "tantivy" in refs:
            disk = disk_runs(work / "shards", ids, refs["tantivy"], work, rng=rng, fractions=[0.25, 0.6, 0.9],
                             readonly_runs=3)
            totals["faults"] += len(disk)
            totals["lost"] += sum(r["lost"] for r in disk)
            totals["extra"] += sum(r["extra"] for r in disk)
            print()
            print(markdown_table(["fault (tantivy, tmpfs)", "first run exit", "its last error line", "lost",
                                  "extra", "counts equal", "Bloom equal", "search totals differ"],
                                 [[r["fault"], r["exit"], f"`{r['error']}`", r["lost"], r["extra"], r["counts_equal"],
                                   r["bloom_equal"], r["search_totals_differ"]] for r in disk]))
        print()
        print(f"**faults injected: {totals['faults']}, documents lost: {totals['lost']}, "
              f"extra documents: {totals['extra']}**")
        return 1 if totals["lost"] or totals["extra"] else 0
    finally:
        for store in stores:
            store.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
