"""The chunk-hash suffix array (``membership/chunk_sa.py``) on real shards: build time and size
per MB of corpus, and the query primitives' time per 4 KB input.

Reads the ``content`` column of the parquet shards under ``--shards`` (all of them, or a
``--limit-mb`` prefix in sorted path order), keeps each distinct content once (as an index does),
and times, one after the other:

* **chunks**: ``content_chunks``, each content's chunk hashes and each chunk's raw offset, in
  batches of 512 contents (``membership.chunks.document_chunks``: what the build computes and
  logs);
* **build**: ``ChunkSA.build`` on those (token ranks, suffix array by prefix doubling, tables,
  the two wavelet matrices), with a random permutation as the documents' ranks;
* **save** and **verify** of the file; its size and the size of each array.

Queries (``--n`` inputs per kind, ``--seed``): 4 KB windows of corpus contents (``corpus``),
4 KB of files under ``--novel`` (``novel``; not checked against the corpus, so a few windows may
hit) and 2 KB of each (``half``). For each input: **hashing**, the windows at every offset (as today's
query does); **probe**, a Bloom filter of the distinct hashes at 0.1% (as the index's own) and
the tokens of its hits (``ChunkSA.tokens``); **chains**, in each of the 50 residue classes every
run of consecutive hits covered greedily by ``ChunkSA.match`` (a match, then the rest of the run
after it; isolated hits in one ``first_ranges`` step); **counts**, the same plus each match's
distinct documents (``count_documents``: a short range scanned, a long one through the wavelet
matrix, ``O(log N)``); **docs**, that plus the first 10 documents of every match by rank in one
``first_documents_many`` call (short ranges scanned together, long ones through the rank wavelet
matrix, ``O(k log N)``), as attribution asks for a query's spans; **docs each**, the same with one
``first_documents`` call per match; **total**, hashing + probe + docs. p50/p90/p99/max over
inputs, each the median of ``--repeat`` runs.

    .venv/bin/python bench/chunk_sa_bench.py --shards /work/wt/scale/var/scale/shards/python-env
    .venv/bin/python bench/chunk_sa_bench.py --shards /work/wt/scale/var/scale/shards --limit-mb 1000

Pure measurement: nothing here asserts on time.
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

import numpy as np
import pyarrow.parquet as pq
import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_throughput import machine_info, machine_line, markdown_table  # noqa: E402
from search_latency import percentile  # noqa: E402

from membership.bloom import BloomConfig, BloomFilter  # noqa: E402
from membership.chunk_sa import _ARRAYS, ChunkSA, content_chunks, verify  # noqa: E402
from membership.chunks import ChunkConfig, normalize, window_hashes  # noqa: E402

STRIDE = ChunkConfig().stride


def read_contents(root: Path, limit_mb: float | None) -> tuple[list[str], int, int]:
    """Distinct contents of the shards under ``root`` in path order, up to ``limit_mb`` MB of
    UTF-8; returns them, their bytes, and how many rows were read."""
    limit = None if limit_mb is None else int(limit_mb * 1e6)
    seen, contents, nbytes, rows = set(), [], 0, 0
    for path in sorted(root.rglob("*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(columns=["content"], batch_size=2048):
            for text in batch.column(0).to_pylist():
                rows += 1
                if text is None:
                    continue
                raw = text.encode("utf-8", "surrogatepass")
                key = xxhash.xxh3_128_digest(raw)
                if key in seen:
                    continue
                seen.add(key)
                contents.append(text)
                nbytes += len(raw)
                if limit is not None and nbytes >= limit:
                    return contents, nbytes, rows
    return contents, nbytes, rows


def inputs(contents: list[str], novel_root: Path, n: int, seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    big = [c for c in contents if len(c) >= 4096]
    novel_files = sorted(p for p in novel_root.rglob("*") if p.is_file() and 4096 <= p.stat().st_size < 1 << 20)
    novel_texts = []
    for p in rng.sample(novel_files, min(len(novel_files), 4 * n)):
        text = p.read_text(encoding="utf-8", errors="replace")
        if len(text) >= 4096:
            novel_texts.append(text)

    def window(texts: list[str], size: int) -> str:
        text = texts[rng.randrange(len(texts))]
        start = rng.randrange(len(text) - size + 1)
        return text[start:start + size]

    out = {"corpus": [window(big, 4096) for _ in range(n)]}
    if novel_texts:
        out["novel"] = [window(novel_texts, 4096) for _ in range(n)]
        out["half"] = [window(big, 2048) + window(novel_texts, 2048) for _ in range(n)]
    return out


def probe(index: ChunkSA, bloom: BloomFilter, hashes: np.ndarray) -> np.ndarray:
    """Every window's token (-1 where the corpus lacks it): the Bloom filter first, so that only
    its hits are searched in the table of distinct hashes (mapping all ~4,000 windows of 4 KB
    reads ~1-2 ms of cache misses on a 25 MB table)."""
    tokens = np.full(len(hashes), -1, np.int64)
    maybe = np.flatnonzero(bloom.contains(hashes))
    tokens[maybe] = index.tokens(hashes[maybe])
    return tokens


def query(index: ChunkSA, tokens: np.ndarray, *, docs: str) -> tuple[int, int]:
    """Cover every run of hit windows of every residue class greedily with ``match``; ``docs``:
    "" nothing more, "count" each match's distinct documents, "first" those and the first 10
    documents of all matches in one batch, "each" the same one match at a time; returns
    (matches, tokens matched)."""
    hit = np.flatnonzero(tokens >= 0)
    # Hits by (residue, step): a run is consecutive steps of one residue class.
    order = np.lexsort((hit // STRIDE, hit % STRIDE))
    hit = hit[order]
    breaks = np.flatnonzero((hit[1:] - hit[:-1]) != STRIDE) + 1
    starts = np.concatenate(([0], breaks)).tolist()
    ends = np.concatenate((breaks, [len(hit)])).tolist()
    matches = matched = 0
    singles, ls, rs = [], [], []
    for start, end in zip(starts, ends):
        if start == end:  # no hit at all
            continue
        if end - start == 1:  # an isolated hit: its range is one table lookup, done below for all
            singles.append(int(hit[start]))
            continue
        chain = tokens[int(hit[start]):int(hit[end - 1]) + 1:STRIDE]
        i = 0
        while i < len(chain):
            m = index.match(chain[i:])
            matches += 1
            matched += m.length
            if docs:
                index.count_documents(m.l, m.r)
            if docs == "each":
                index.first_documents(m.l, m.r, 10)
            ls.append(m.l)
            rs.append(m.r)
            i += max(1, m.length)
    if singles:
        sl, sr = index.first_ranges(tokens[singles])
        matches += len(singles)
        matched += len(singles)
        if docs:
            index.count_documents(sl, sr)  # one batch through the wavelet matrix
        if docs == "each":
            for l, r in zip(sl.tolist(), sr.tolist()):
                index.first_documents(l, r, 10)
        ls.extend(sl.tolist())
        rs.extend(sr.tolist())
    if docs == "first" and ls:
        index.first_documents_many(np.array(ls), np.array(rs), 10)
    return matches, matched


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=Path, required=True)
    ap.add_argument("--limit-mb", type=float)
    ap.add_argument("--novel", type=Path, default=Path("/usr/include"))
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args(argv)

    info = machine_info()
    result: dict = {"shards": str(args.shards), "limit_mb": args.limit_mb, "machine": info}
    t0 = time.perf_counter()
    contents, nbytes, rows = read_contents(args.shards, args.limit_mb)
    result["read_s"] = time.perf_counter() - t0
    mb = nbytes / 1e6
    result.update(rows=rows, contents=len(contents), mb=mb)
    print(f"{len(contents)} distinct contents of {rows} rows, {mb:.1f} MB ({result['read_s']:.1f} s to read)",
          flush=True)

    t0 = time.perf_counter()
    hashes, offsets, lengths = [], [], []
    for start in range(0, len(contents), 512):
        h, o, n = content_chunks(contents[start:start + 512])
        hashes += h
        offsets += o
        lengths += n
    result["chunks_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    doc_rank = np.random.default_rng(args.seed).permutation(len(contents))  # the index's: stars, then path
    index = ChunkSA.build(hashes, offsets, lengths, doc_rank=doc_rank)
    result["build_s"] = time.perf_counter() - t0
    del hashes, offsets
    print(f"{index!r}: chunks+offsets {result['chunks_s']:.1f} s, "
          f"build {result['build_s']:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chunks.sa"
        t0 = time.perf_counter()
        index.save(path)
        result["save_s"] = time.perf_counter() - t0
        result["file_bytes"] = path.stat().st_size
        t0 = time.perf_counter()
        verify(path)
        result["verify_s"] = time.perf_counter() - t0
        index = ChunkSA.open(path)  # query the mapped file, as a server would
        result["arrays"] = {name: int(getattr(index, name).nbytes) for name, _ in _ARRAYS}
        result.update(tokens=len(index.sa), distinct=len(index.hashes), docs=index.docs)

        # The index's own filter holds the same distinct hashes at the same rate.
        bloom = BloomFilter(BloomConfig.for_capacity(len(index.hashes), 0.001))
        bloom.add(np.asarray(index.hashes))
        kinds = inputs(contents, args.novel, args.n, args.seed)
        rows_out = []
        result["queries"] = {}
        for kind, texts in kinds.items():
            times = {"hashing": [], "probe": [], "chains": [], "counts": [], "docs": [], "docs each": [],
                     "total": []}
            stats = {"matches": [], "matched": [], "hits": []}
            for text in texts:
                runs = {k: [] for k in times}
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    wh = window_hashes(normalize(text).codes)
                    runs["hashing"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    tokens = probe(index, bloom, wh)
                    runs["probe"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    matches, matched = query(index, tokens, docs="")
                    runs["chains"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    query(index, tokens, docs="count")
                    runs["counts"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    query(index, tokens, docs="first")
                    runs["docs"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    query(index, tokens, docs="each")
                    runs["docs each"].append(time.perf_counter() - t0)
                    runs["total"].append(runs["hashing"][-1] + runs["probe"][-1] + runs["docs"][-1])
                for k in times:
                    times[k].append(statistics.median(runs[k]) * 1e3)
                stats["matches"].append(matches)
                stats["matched"].append(matched)
                stats["hits"].append(int((tokens >= 0).sum()))
            result["queries"][kind] = {"ms": times, **stats}
            for k, v in times.items():
                rows_out.append([kind, k, f"{percentile(v, 50):.2f}", f"{percentile(v, 90):.2f}",
                                 f"{percentile(v, 99):.2f}", f"{max(v):.2f}",
                                 f"{statistics.mean(stats['hits']):.0f}", f"{statistics.mean(stats['matches']):.0f}"])
            print(f"{kind} done", flush=True)
        index = None

    print()
    print(machine_line(info))
    print()
    print(markdown_table(
        ["corpus MB", "contents", "chunks", "distinct", "chunks+offsets s", "build s",
         "build s/MB", "file MB", "bytes/MB corpus", "verify s"],
        [[f"{mb:.1f}", result["contents"], result["tokens"], result["distinct"], f"{result['chunks_s']:.1f}",
          f"{result['build_s']:.1f}", f"{result['build_s'] / mb:.3f}",
          f"{result['file_bytes'] / 1e6:.1f}", f"{result['file_bytes'] / mb:.0f}", f"{result['verify_s']:.2f}"]]))
    print()
    print("arrays (MB): " + ", ".join(f"{k} {v / 1e6:.1f}" for k, v in result["arrays"].items()))
    print()
    print(markdown_table(["input (4 KB)", "step", "p50 ms", "p90 ms", "p99 ms", "max ms", "hit windows",
                          "matches"], rows_out))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
