"""The Elasticsearch store against the tantivy store, side by side in one run.

For each corpus size (an MB prefix of the shards) both stores get the same search-only build
(``--no-membership``: the store's own indexing cost, without the MinHash signing both share),
then the same query sets as ``search_latency.py`` (keyword, dotted, exact substring, symbols,
edge cases; every exact result set checked against ``grep -F``); at the largest size both also
get the full build (chunk terms, MinHash band keys and signatures), and attribution and
near-duplicate latency are measured on 1 KB and 4 KB windows of corpus files. Sizes are the
store's bytes on disk: the tantivy directory, and the Elasticsearch index's primary store after
a flush (``_stats/store``); both are single-node, one shard, no replicas.

    scripts/elasticsearch.sh up    # or ELASTICSEARCH_URL=... for another server
    .venv/bin/python bench/store_bench.py --shards var/demo/shards --sizes 50,200
    .venv/bin/python bench/store_bench.py --shards var/bench/shards800 var/bench/shards-more \
        --sizes 550 --no-full --classes keyword,dotted,"exact substring"
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_throughput import (ROOT, dir_bytes, machine_info, machine_line,  # noqa: E402
                              markdown_table, resolve_shards)
from search_latency import build_queries, load_unique, percentile, run, write_files  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BACKENDS = ("tantivy", "elasticsearch")


def es_info(config) -> dict:
    from indexer.es_store import es_client

    client = es_client(config)
    node = next(iter(client.nodes.stats(metric="jvm")["nodes"].values()))
    version = next(iter(client.nodes.info(metric="process")["nodes"].values()))["version"]
    return {"version": version, "heap_mb": round(node["jvm"]["mem"]["heap_max_in_bytes"] / 2**20)}


def store_bytes(store, out: Path) -> int:
    if hasattr(store, "_es"):
        store._es.indices.flush(index=store.name)
        stats = store._es.indices.stats(index=store.name, metric="store")
        return stats["_all"]["primaries"]["store"]["size_in_bytes"]
    return dir_bytes(out / "store")


def build(shards: list[Path], out: Path, backend: str, es, *, membership: bool) -> dict:
    from indexer.build import BuildConfig, build_index
    from indexer.stores import open_index

    config = BuildConfig(store=backend, membership=membership, es=es if backend == "elasticsearch" else None)
    t0 = time.perf_counter()
    manifest = build_index(shards, out, config=config, progress=False)
    seconds = time.perf_counter() - t0
    store = open_index(out)
    return {"seconds": seconds, "documents": manifest["counts"]["documents"],
            "bytes_read": manifest["counts"]["bytes_read"], "store_bytes": store_bytes(store, out),
            "store": store}


def latency_summary(summary: dict) -> dict:
    out = {}
    for cls, rows in summary.items():
        ms = [r["first_ms"] for r in rows]
        out[cls] = {"n": len(ms), "p50": percentile(ms, 50), "p99": percentile(ms, 99)}
    return out


def attribution_latency(out: Path, docs: dict[str, str], rng: random.Random, n: int, repeat: int) -> dict:
    from indexer.index_dir import IndexDir

    index = IndexDir(out).membership()
    big = [d for d in docs.values() if len(d) >= 6000]
    texts = {}
    for size in (1000, 4000):
        picks = []
        for d in rng.sample(big, min(n, len(big))):
            s = rng.randrange(0, len(d) - size)
            picks.append(d[s:s + size])
        texts[size] = picks
    result = {}
    for label, fn in (("attribute 1 KB", lambda t: index.attribute(t, near_duplicates=False)),
                      ("attribute 4 KB", lambda t: index.attribute(t, near_duplicates=False)),
                      ("near-dups 4 KB", lambda t: index.near_duplicates(t))):
        times, found = [], 0
        for t in texts[1000 if "1 KB" in label else 4000]:
            r = fn(t)
            found += bool(r.spans) if hasattr(r, "spans") else bool(r.near_duplicates)
            runs = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn(t)
                runs.append((time.perf_counter() - t0) * 1e3)
            times.append(statistics.median(runs))
        result[label] = {"n": len(times), "p50": percentile(times, 50), "p99": percentile(times, 99),
                         "found": found}
    return result


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "n/a"


def report(info: dict, es: dict, results: dict, full: dict, sizes: list[float]) -> str:
    lines = [f"{machine_line(info)}; Elasticsearch {es['version']} (heap {es['heap_mb']} MB, "
             "1 shard, 0 replicas, best_compression)", ""]
    rows = []
    for size in sizes:
        r = results[size]
        t, e = r["tantivy"], r["elasticsearch"]
        mb = t["bytes_read"] / 1e6
        rows.append([f"{mb:.0f} MB ({t['documents']:,} contents)", f"{t['seconds']:.1f}", f"{e['seconds']:.1f}",
                     ratio(e["seconds"], t["seconds"]), f"{mb / t['seconds']:.1f}", f"{mb / e['seconds']:.1f}",
                     f"{t['store_bytes'] / 1e6:.1f}", f"{e['store_bytes'] / 1e6:.1f}",
                     ratio(e["store_bytes"], t["store_bytes"])])
    lines += ["Search-only build (`--no-membership`):", "",
              markdown_table(["corpus", "tantivy s", "ES s", "ES/tantivy", "tantivy MB/s", "ES MB/s",
                              "tantivy MB", "ES MB", "size ES/tantivy"], rows), ""]
    if full:
        t, e = full["tantivy"], full["elasticsearch"]
        lines += [f"Full build at {full['size']:g} MB (membership sketch + MinHash):", "",
                  markdown_table(["store", "build s", "store MB"],
                                 [["tantivy", f"{t['seconds']:.1f}", f"{t['store_bytes'] / 1e6:.1f}"],
                                  ["Elasticsearch", f"{e['seconds']:.1f}", f"{e['store_bytes'] / 1e6:.1f}"],
                                  ["ES/tantivy", ratio(e["seconds"], t["seconds"]),
                                   ratio(e["store_bytes"], t["store_bytes"])]]), ""]
    rows = []
    for size in sizes:
        lt, le = results[size]["tantivy"]["latency"], results[size]["elasticsearch"]["latency"]
        for cls in lt:
            rows.append([f"{results[size]['tantivy']['bytes_read'] / 1e6:.0f} MB", cls, lt[cls]["n"], f"{lt[cls]['p50']:.1f} / {lt[cls]['p99']:.1f}",
                         f"{le[cls]['p50']:.1f} / {le[cls]['p99']:.1f}", ratio(le[cls]["p50"], lt[cls]["p50"])])
    lines += ["Search, first page of 10 (ms, p50 / p99):", "",
              markdown_table(["corpus", "queries", "n", "tantivy", "Elasticsearch", "p50 ES/tantivy"], rows), ""]
    mism = {size: {b: results[size][b]["mismatches"] for b in BACKENDS} for size in sizes}
    lines.append(f"Exact queries differing from grep: {json.dumps(mism)}")
    if full:
        rows = []
        for label in full["tantivy"]["attribution"]:
            a, b = full["tantivy"]["attribution"][label], full["elasticsearch"]["attribution"][label]
            rows.append([label, a["n"], f"{a['p50']:.1f} / {a['p99']:.1f}", f"{b['p50']:.1f} / {b['p99']:.1f}",
                         ratio(b["p50"], a["p50"]), f"{a['found']} / {b['found']}"])
        lines += ["", f"Attribution and near-duplicates at {full['size']:g} MB (ms, p50 / p99):", "",
                  markdown_table(["call", "n", "tantivy", "Elasticsearch", "p50 ES/tantivy", "found (t / ES)"], rows)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from indexer.es_config import ElasticsearchConfig
    from indexer.es_store import es_client

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", type=Path, nargs="+", required=True)
    p.add_argument("--sizes", default="50,200", help="corpus prefixes in MB, comma-separated")
    p.add_argument("--es-url", default=None, help="default: $ELASTICSEARCH_URL or http://127.0.0.1:9200")
    p.add_argument("--n-each", type=int, default=8, help="queries per class (as search_latency.py)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--max-pages", type=int, default=10)
    p.add_argument("--attr", type=int, default=60, help="attribution queries per size class")
    p.add_argument("--no-full", action="store_true", help="skip the full builds and attribution")
    p.add_argument("--classes", help="only these query classes, comma-separated (e.g. keyword,dotted)")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",")]
    info = machine_info()
    results, full = {}, {}
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        work = Path(tmp)
        tag = f"{int(time.time())}"
        es_base = ElasticsearchConfig(url=args.es_url, replicas=0).resolved(work)
        es = es_info(es_base)
        created = []
        try:
            for size in sizes:
                shards = resolve_shards(args.shards, size, work / f"in-{size:g}")
                docs = load_unique(shards, 10_000_000)
                files = work / f"files-{size:g}"
                files.mkdir(parents=True)
                write_files(docs, files)
                queries = build_queries(docs, random.Random(7), n_each=args.n_each)
                if args.classes:
                    queries = {c: q for c, q in queries.items() if c in args.classes.split(",")}
                results[size] = {}
                for backend in BACKENDS:
                    es_cfg = ElasticsearchConfig(url=es_base.url, replicas=0,
                                                 index=f"starscope-bench-{tag}-{size:g}-search")
                    created.append(es_cfg.index)
                    print(f"{size:g} MB: search-only build, {backend}", file=sys.stderr)
                    r = build(shards, work / f"{backend}-{size:g}", backend, es_cfg, membership=False)
                    r["store"].warm()
                    summary, mismatches = run(r.pop("store"), files, queries, args.repeat, args.max_pages)
                    r.update(latency=latency_summary(summary), mismatches=len(mismatches))
                    results[size][backend] = r
                if size == max(sizes) and not args.no_full:
                    full = {"size": size}
                    for backend in BACKENDS:
                        es_cfg = ElasticsearchConfig(url=es_base.url, replicas=0,
                                                     index=f"starscope-bench-{tag}-{size:g}-full")
                        created.append(es_cfg.index)
                        print(f"{size:g} MB: full build, {backend}", file=sys.stderr)
                        out = work / f"{backend}-{size:g}-full"
                        r = build(shards, out, backend, es_cfg, membership=True)
                        r.pop("store")
                        r["attribution"] = attribution_latency(out, docs, random.Random(11), args.attr, args.repeat)
                        full[backend] = r
        finally:
            client = es_client(es_base)
            for name in created:
                client.indices.delete(index=name, ignore_unavailable=True)
    text = report(info, es, results, full, sizes)
    print(text)
    if args.json_out:
        args.json_out.write_text(json.dumps({"machine": info, "elasticsearch": es, "results": results,
                                             "full": full}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
