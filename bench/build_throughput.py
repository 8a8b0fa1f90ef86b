"""Index-build throughput: StarScope's ``build_index`` against plain tantivy on the same shards.

Both sides read the same parquet shards with pyarrow and write a tantivy index into a fresh
temporary directory with the same writer heap and thread count (``TantivyConfig`` defaults):

* **ours**: ``indexer.build.build_index`` — git-sha dedup, content indexed as words (tantivy's
  ``simple`` tokenizer, lowercased, with positions) plus each document's camel words (found
  with numpy per batch), term fields, a commit per shard, and the membership sketch: each
  content's normalized 50-character chunk hashes as u64 terms, a per-shard hash log and the
  Bloom filter built from it;
* **plain**: one stored ``content`` field with tantivy's default tokenizer and a raw ``id``
  field, every non-empty row added, one commit at the end.

Each side's reading (pyarrow batches to Python strings; for ours also the ``Document``
construction with its git sha) is timed in a separate read-only pass and subtracted, so
"index MB/s" excludes reading for both in the same way; end-to-end numbers are shown too.
Runs alternate (ours, plain, plain, ours, ...) and the best run of each side is reported.

    .venv/bin/python bench/build_throughput.py --shards var/demo/shards
    .venv/bin/python bench/build_throughput.py --shards var/demo/shards --limit-mb 20 --repeat 1

Pure measurement: nothing here asserts on time. The helpers ``prefix_shards``,
``machine_info``, ``dir_bytes`` and ``markdown_table`` are shared with ``search_latency.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

READ_BATCH_ROWS = 1024


# -- shared helpers --------------------------------------------------------------------------
def machine_info() -> dict:
    """Cores, CPU model, memory and library versions, for the table header."""
    import tantivy

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1e6, 1)
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"nproc": nproc, "cpu": model, "mem_gb": mem_gb, "python": platform.python_version(),
            "tantivy": getattr(tantivy, "__version__", "?"), "pyarrow": pa.__version__}


def machine_line(info: dict) -> str:
    return (f"machine: {info['nproc']} cores ({info['cpu']}), {info['mem_gb']} GB RAM; "
            f"Python {info['python']}, tantivy-py {info['tantivy']}, pyarrow {info['pyarrow']}")


def dir_bytes(path: Path) -> int:
    """Bytes of all regular files under ``path`` (the index size on disk)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            p = Path(root, name)
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
    return total


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def prefix_shards(shards: list[Path], out_dir: Path, limit_bytes: int, *,
                  text_column: str = "content") -> list[Path]:
    """Copy the first rows of ``shards`` (in order) into ``out_dir`` until their text holds
    ``limit_bytes`` UTF-8 bytes; return the new shard paths (numbered names, same schema)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written, out = 0, []
    for i, path in enumerate(shards):
        if written >= limit_bytes:
            break
        pf = pq.ParquetFile(path)
        dest = out_dir / f"{i:04d}-{path.name}"  # shards of several directories may share names
        with pq.ParquetWriter(dest, pf.schema_arrow, compression="zstd") as writer:
            for batch in pf.iter_batches(batch_size=READ_BATCH_ROWS):
                if batch.num_rows == 0:
                    continue
                lengths = pc.binary_length(batch.column(text_column)).fill_null(0)
                cumulative = written + pc.cumulative_sum(lengths).to_numpy()
                keep = int((cumulative < limit_bytes).sum()) + 1  # the row crossing the limit too
                keep = min(keep, batch.num_rows)
                writer.write_batch(batch.slice(0, keep))
                written = int(cumulative[keep - 1])
                if written >= limit_bytes:
                    break
        out.append(dest)
    return out


def resolve_shards(paths: list[Path], limit_mb: float | None, workdir: Path) -> list[Path]:
    """The shard list of ``paths``, cut to a ``limit_mb`` prefix (copied under ``workdir``)."""
    from indexer.corpus import list_shards

    shards = list_shards(paths)
    if limit_mb:
        shards = prefix_shards(shards, workdir / "shards-prefix", int(limit_mb * 1e6))
    return shards


# -- the two builders ------------------------------------------------------------------------
def read_ours(shards: list[Path]) -> dict:
    """Our reading alone: every Document the build would see (sha computed), nothing stored."""
    from indexer.corpus import iter_documents

    stats: Counter = Counter()
    t0 = time.perf_counter()
    for path in shards:
        for _ in iter_documents(path, stats=stats):
            pass
    return {"seconds": time.perf_counter() - t0, "docs": stats["docs_read"], "bytes": stats["bytes_read"]}


def _plain_batches(shards: list[Path]):
    for path in shards:
        pf = pq.ParquetFile(path)
        columns = [c for c in ("content", "hexsha") if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=READ_BATCH_ROWS, columns=columns):
            contents = batch.column("content").to_pylist()
            ids = (batch.column("hexsha").to_pylist() if "hexsha" in columns
                   else [f"{path.name}:{i}" for i in range(len(contents))])
            yield contents, ids


def read_plain(shards: list[Path]) -> dict:
    """The plain builder's reading alone: pyarrow batches to Python strings."""
    t0 = time.perf_counter()
    docs = nbytes = 0
    for contents, _ in _plain_batches(shards):
        for c in contents:
            if c:
                docs += 1
                nbytes += len(c.encode("utf-8"))
    return {"seconds": time.perf_counter() - t0, "docs": docs, "bytes": nbytes}


def build_ours(shards: list[Path], out: Path, *, membership: bool = True) -> dict:
    from indexer.build import BuildConfig, build_index

    t0 = time.perf_counter()
    manifest = build_index(shards, out, progress=False, config=BuildConfig(membership=membership))
    seconds = time.perf_counter() - t0
    counts = manifest["counts"]
    return {"seconds": seconds, "docs": counts["docs_read"], "bytes": counts["bytes_read"],
            "indexed_docs": counts["documents"], "index_bytes": dir_bytes(out)}


def build_plain(shards: list[Path], out: Path) -> dict:
    import tantivy

    from indexer.tantivy_store import TantivyConfig

    cfg = TantivyConfig()
    t0 = time.perf_counter()
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("content", stored=True)
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    out.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(sb.build(), path=str(out))
    writer = index.writer(heap_size=cfg.heap_bytes, num_threads=cfg.num_threads)
    docs = nbytes = 0
    for contents, ids in _plain_batches(shards):
        for content, doc_id in zip(contents, ids):
            if not content:
                continue
            writer.add_document(tantivy.Document(content=content, id=doc_id))
            docs += 1
            nbytes += len(content.encode("utf-8"))
    writer.commit()
    writer.wait_merging_threads()
    seconds = time.perf_counter() - t0
    index.reload()
    return {"seconds": seconds, "docs": docs, "bytes": nbytes,
            "indexed_docs": index.searcher().num_docs, "index_bytes": dir_bytes(out)}


def time_ingest(workdir: Path, max_bytes: int) -> dict:
    from indexer.corpus.ingest import ingest_python_env

    out = workdir / "ingest"
    t0 = time.perf_counter()
    stats = ingest_python_env(out, max_total_bytes=max_bytes)
    seconds = time.perf_counter() - t0
    docs = stats.get("docs_written", stats.get("docs_read", 0))
    nbytes = stats.get("bytes_written", stats.get("bytes_read", 0))
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "docs": docs, "bytes": nbytes, "stats": dict(stats)}


# -- report ----------------------------------------------------------------------------------
def _best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


def report(info: dict, shards: list[Path], results: dict, repeat: int) -> str:
    ours, plain = _best(results["ours"]), _best(results["plain"])
    search = _best(results["search-only"])
    r_ours, r_plain = results["read_ours"], results["read_plain"]
    mb = ours["bytes"] / 1e6
    lines = [machine_line(info),
             f"corpus: {len(shards)} shard(s), {mb:.1f} MB of content, {ours['docs']} documents "
             f"({ours['indexed_docs']} unique contents); best of {repeat} alternating run(s) per side",
             ""]
    rows = []
    for name, run, read in (("StarScope build_index (search + membership sketch)", ours, r_ours),
                            ("StarScope build_index --no-membership (search only)", search, r_ours),
                            ("plain tantivy", plain, r_plain)):
        index_s = max(run["seconds"] - read["seconds"], 1e-9)
        rows.append([name, f"{run['seconds']:.2f}", f"{read['seconds']:.2f}", f"{index_s:.2f}",
                     f"{run['bytes'] / 1e6 / index_s:.1f}", f"{run['docs'] / index_s:.0f}",
                     f"{run['bytes'] / 1e6 / run['seconds']:.1f}",
                     run["indexed_docs"], f"{run['index_bytes'] / 1e6:.1f}",
                     f"{run['index_bytes'] / max(run['bytes'], 1):.2f}x"])
    index_plain = max(plain["seconds"] - r_plain["seconds"], 1e-9)
    for name, run in (("ratio ours/plain", ours), ("ratio search-only/plain", search)):
        index_run = max(run["seconds"] - r_ours["seconds"], 1e-9)
        rows.append([name, f"{run['seconds'] / plain['seconds']:.2f}", "",
                     f"**{index_run / index_plain:.2f}**", "", "", "", "",
                     f"{run['index_bytes'] / plain['index_bytes']:.2f}", ""])
    lines.append(markdown_table(
        ["builder", "end-to-end s", "read-only s", "index s (excl. read)", "index MB/s",
         "index docs/s", "end-to-end MB/s", "docs in index", "index MB", "index/content"], rows))
    lines += ["", "Reading = pyarrow batches to Python strings (ours: plus `Document` and its git "
              "sha), timed in a separate pass over the same shards and subtracted from each build; "
              f"both writers: heap {results['heap_bytes'] / 1e6:.0f} MB, num_threads="
              f"{results['num_threads']} (0 = tantivy's choice). Ours keeps one copy per content "
              "sha; plain tantivy indexes every row."]
    if "ingest" in results:
        ing = results["ingest"]
        lines += ["", markdown_table(
            ["step", "seconds", "MB", "docs", "MB/s", "docs/s"],
            [["ingest_python_env", f"{ing['seconds']:.1f}", f"{ing['bytes'] / 1e6:.1f}", ing["docs"],
              f"{ing['bytes'] / 1e6 / ing['seconds']:.1f}", f"{ing['docs'] / ing['seconds']:.0f}"]])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time StarScope's build_index against plain tantivy on the same parquet "
                    "shards (same heap and threads), side by side; prints a markdown table.")
    parser.add_argument("--shards", type=Path, nargs="+", required=True,
                        help="shard files or directories (Stack-format parquet)")
    parser.add_argument("--limit-mb", type=float, default=None,
                        help="use only a prefix of the shards holding this many MB of content")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs per side, alternating ours/plain/plain/ours... (default 2)")
    parser.add_argument("--ingest", action="store_true",
                        help="also time ingest_python_env into a temp dir (size: --limit-mb, "
                             "else --ingest-mb)")
    parser.add_argument("--ingest-mb", type=float, default=200.0,
                        help="corpus size for --ingest without --limit-mb (default 200)")
    parser.add_argument("--tmp-dir", type=Path, default=None,
                        help="where the temporary indexes go (default: the system temp dir)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")

    from indexer.tantivy_store import TantivyConfig

    info = machine_info()
    cfg = TantivyConfig()
    results: dict = {"ours": [], "search-only": [], "plain": [], "heap_bytes": cfg.heap_bytes, "num_threads": cfg.num_threads}
    with tempfile.TemporaryDirectory(prefix="starscope-bench-", dir=args.tmp_dir) as tmp:
        work = Path(tmp)
        shards = resolve_shards(args.shards, args.limit_mb, work)
        print(f"{len(shards)} shard(s); read-only passes...", file=sys.stderr)
        read_plain(shards)  # warms the page cache for both sides
        results["read_plain"] = read_plain(shards)
        results["read_ours"] = read_ours(shards)
        order = []
        for i in range(args.repeat):
            sides = ["ours", "search-only", "plain"]
            order += sides if i % 2 == 0 else sides[::-1]
        builders = {"ours": build_ours, "search-only": lambda s, o: build_ours(s, o, membership=False),
                    "plain": build_plain}
        for n, side in enumerate(order):
            out = work / f"{side}-{n}"
            run = builders[side](shards, out)
            print(f"  {side}: {run['seconds']:.1f} s, {run['bytes'] / 1e6:.1f} MB, "
                  f"index {run['index_bytes'] / 1e6:.1f} MB", file=sys.stderr)
            results[side].append(run)
            shutil.rmtree(out, ignore_errors=True)
        if args.ingest:
            limit = int((args.limit_mb or args.ingest_mb) * 1e6)
            print("ingest_python_env...", file=sys.stderr)
            results["ingest"] = time_ingest(work, limit)
    text = report(info, shards, results, args.repeat)
    print(text)
    if args.json_out:
        args.json_out.write_text(json.dumps({"machine": info, "shards": [str(s) for s in shards],
                                             **results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
