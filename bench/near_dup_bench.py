"""Near-duplicates: MinHash signing, LSH index and query, and detection quality, in one run.

Corpus: a prefix of the shards (``--limit-mb``), one copy per content (git sha, over-size
documents skipped), as ``build_index`` keeps them. Every side signs the same shingle sets:
5-token shingles of BigCode's plain tokens (``[A-Za-z_0-9]+`` runs), 256 permutations,
datasketch 2.0's default scheme (``affine32``, seed 1).

1. **Signing throughput** (plain tokens). Every side's timer covers the whole way from the text
   to a signature: tokenizing, joining and deduplicating shingles, hashing and the minima.

   * datasketch per-document loop: ``m = MinHash(num_perm=256)`` then ``m.update(sh)`` per
     shingle; and the same with ``m.update_batch(shingles)``. The shingles come from
     :func:`membership.minhash.tokens` and :func:`~membership.minhash.shingle_set` (BigCode's
     Python-level recipe);
   * rensa (``pip install -e '.[bench]'``): ``RMinHash(256, seed).update(shingles)`` per
     document, and its bulk ``RMinHash.digest_matrix_from_token_byte_sets`` over batches of
     documents (rows copied into numpy). Same shingle sets, but rensa hashes and permutes them
     its own way, so its signatures are **not** datasketch's: compared on speed only;
   * ours: ``MinHasher.sign_texts(texts, workers=1)`` and ``workers=2`` (its own bytes-level
     tokenizer; the pool of ``workers=2`` is started by a warm-up before timing).

   Sides alternate (reversed every other round), ``--repeat`` rounds, medians reported. Our
   signatures must equal datasketch's on every document (exit 1 otherwise, with the first
   mismatches printed). Abstracted signing (pygments token stream, identifiers as ``ID``) is
   ours only (1 and 2 workers, alternating the same way); 100 of its signatures are checked against
   datasketch's ``update_batch`` over the same abstracted shingles.

2. **Index and query** against datasketch's in-memory ``MinHashLSH(threshold=0.7,
   num_perm=256)`` (25 bands × 10 rows, as ours). Like our index, the LSH side holds both
   signatures of every document (two ``MinHashLSH``, plain and abstracted, keyed by sha). Each
   side runs in its own subprocess (``--repeat`` times, alternating), so ``ru_maxrss`` gives an
   honest peak: the LSH process loads the precomputed signature matrices first, then measures
   the growth of inserting them (``LeanMinHash`` objects through ``insertion_session``); our
   process measures the growth from opening the index (``IndexDir.membership``) through all
   the queries. On disk, ours is measured as the store of a normal ``build_index`` less the
   store of the same build with MinHash signing switched off (bench-only patch of the build's
   sketch step, ``SketchStep.sign``): the stored signatures and band terms; the difference of the two
   build times is the MinHash share of the build (both signatures, ``minhash_workers=2``).
   ``--queries`` documents of the prefix are queried (each finds itself); per query the median
   over runs, then p50/p99 over queries.

3. **Quality.** (a) Up to 1,500 documents of the prefix, all pairs: exact Jaccard of the plain
   shingle sets (sparse matrix product) against band-key collision. Recall of the pairs with
   Jaccard >= 0.8, and the empirical S-curve per Jaccard bucket beside
   ``collision_probability(s, 25, 10)`` (averaged over the bucket's pairs, and at its center);
   datasketch's ``MinHashLSH`` over the same signatures must give the same candidate pairs.
   (b) Mutated copies of 100 Python files of the prefix (comments stripped and the code
   re-spaced by ``tokenize.untokenize``; lines reordered within blocks and top-level
   definitions shuffled; identifiers defined in the file renamed consistently; all three
   together) queried through ``MembershipIndex.near_duplicates(text, lang="python")``: is the
   original the top candidate, and through which signature (plain or abstracted)?

    .venv/bin/python bench/near_dup_bench.py --shards var/demo/shards --limit-mb 5
    .venv/bin/python bench/near_dup_bench.py --shards var/demo/shards --json-out near_dups.json

Pure measurement: nothing here asserts on time. Exits 1 only if one of our signatures differs
from datasketch's.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import io
import json
import keyword
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tokenize
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_throughput import (ROOT, dir_bytes, machine_info, machine_line,  # noqa: E402
                              markdown_table, resolve_shards)
from search_latency import percentile  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

NUM_PERM, THRESHOLD = 256, 0.7
RENSA_BATCH = 256  # documents per bulk rensa call
WARMUP_BYTES = 1_000_000  # text signed by every side before timing (imports, caches, pool)
QUALITY_DOCS = 1500
MUTATED_FILES = 100
ABSTRACT_CHECKS = 100
MUTATIONS = ("stripped + reformatted", "reordered", "renamed", "renamed + reordered + stripped")
# Jaccard buckets of the S-curve: (label, low, high, center); identical shingle sets apart.
BUCKETS = (("< 0.3", 0.0, 0.3, None), ("0.3-0.45", 0.3, 0.45, None), ("0.45-0.55", 0.45, 0.55, 0.5),
           ("0.55-0.65", 0.55, 0.65, 0.6), ("0.65-0.75", 0.65, 0.75, 0.7), ("0.75-0.85", 0.75, 0.85, 0.8),
           ("0.85-0.95", 0.85, 0.95, 0.9), ("0.95-1 (not identical)", 0.95, 1.0, None),
           ("1.0 (identical sets)", 1.0, 1.0 + 1e-9, 1.0))


@dataclass
class Record:
    """One unique content with the language and path its signatures are made with."""

    sha: str
    content: str
    lang: str
    path: str
    repo: str
    nbytes: int


def load_records(shards: list[Path], max_doc_bytes: int) -> list[Record]:
    """Every content the build would index, once, with its most-starred source (the build's
    ``primary``, whose path chooses the abstracted lexer)."""
    from indexer.corpus import iter_documents

    best: dict[str, tuple] = {}
    order: list[str] = []
    stats: Counter = Counter()
    for path in shards:
        for d in iter_documents(path, stats=stats):
            size = d.size
            if size > max_doc_bytes:
                continue
            key = (-d.stars, d.repo, d.path)
            prev = best.get(d.sha)
            if prev is None:
                order.append(d.sha)
            if prev is None or key < prev[0]:
                best[d.sha] = (key, d, size)
    return [Record(sha, best[sha][1].content, best[sha][1].lang, best[sha][1].path, best[sha][1].repo,
                   best[sha][2]) for sha in order]


# -- 1. signing --------------------------------------------------------------------------------
def _shingles(text: str, cfg) -> set[bytes]:
    """BigCode's recipe in Python: the same set as ``MinHasher.shingles(text)``."""
    from membership.minhash import shingle_set, tokens

    return shingle_set(tokens(text)[:cfg.max_tokens], cfg.shingle)


def sign_datasketch_loop(texts: list[str], cfg) -> list:
    from datasketch import MinHash

    out = []
    for text in texts:
        sh = _shingles(text, cfg)
        if not sh:
            out.append(None)
            continue
        m = MinHash(num_perm=cfg.num_perm)
        for s in sh:
            m.update(s)
        out.append(m.hashvalues)
    return out


def sign_datasketch_batch(texts: list[str], cfg) -> list:
    from datasketch import MinHash

    out = []
    for text in texts:
        sh = _shingles(text, cfg)
        if not sh:
            out.append(None)
            continue
        m = MinHash(num_perm=cfg.num_perm)
        m.update_batch(list(sh))
        out.append(m.hashvalues)
    return out


def sign_rensa(texts: list[str], cfg) -> list:
    from rensa import RMinHash

    out = []
    for text in texts:
        sh = _shingles(text, cfg)
        if not sh:
            out.append(None)
            continue
        m = RMinHash(num_perm=cfg.num_perm, seed=cfg.seed)
        m.update(list(sh))
        out.append(np.asarray(m.digest(), dtype=np.uint32))
    return out


def sign_rensa_bulk(texts: list[str], cfg) -> list:
    from rensa import RMinHash

    out: list = []
    for s in range(0, len(texts), RENSA_BATCH):
        sets = [_shingles(t, cfg) for t in texts[s:s + RENSA_BATCH]]
        present = [x for x in sets if x]
        rows = iter(np.asarray(RMinHash.digest_matrix_from_token_byte_sets(present, cfg.num_perm, cfg.seed)
                               .to_rows(), dtype=np.uint32)) if present else iter(())
        out.extend(next(rows) if x else None for x in sets)
    return out


def rensa_available() -> str | None:
    try:
        import rensa  # noqa: F401
    except ImportError as e:
        return f"rensa is not installed ({e}); pip install -e '.[bench]'"
    return None


def signing_sides(hasher, with_rensa: bool) -> dict:
    """name -> (sign function of a text list, what its timer covers)."""
    cfg = hasher.config
    sides = {
        "datasketch `MinHash.update` loop": (
            lambda t: sign_datasketch_loop(t, cfg),
            "`tokens`+`shingle_set` (Python), `MinHash()` per doc, `update` per shingle"),
        "datasketch `update_batch`": (
            lambda t: sign_datasketch_batch(t, cfg),
            "same shingles, `MinHash()` per doc, one `update_batch`"),
    }
    if with_rensa:
        sides["rensa `RMinHash` per doc"] = (
            lambda t: sign_rensa(t, cfg),
            "same shingles, `RMinHash(256, 1)`, `update(list)`, `digest()` to numpy")
        sides["rensa bulk `digest_matrix_from_token_byte_sets`"] = (
            lambda t: sign_rensa_bulk(t, cfg),
            f"same shingles, one call per {RENSA_BATCH} docs, `to_rows()` to numpy")
    sides["StarScope `sign_texts(workers=1)`"] = (
        lambda t: hasher.sign_texts(t, workers=1), "bytes tokenizer, shingles, SHA-1, minima, all in")
    sides["StarScope `sign_texts(workers=2)`"] = (
        lambda t: hasher.sign_texts(t, workers=2), "the same over a 2-process pool (started in warm-up)")
    return sides


def time_signing(records: list[Record], hasher, repeat: int, with_rensa: bool) -> tuple[dict, dict]:
    """Median seconds per side over ``repeat`` alternating rounds, and each side's signatures."""
    texts = [r.content for r in records]
    sides = signing_sides(hasher, with_rensa)
    warm, size = [], 0
    for t in texts:
        warm.append(t)
        size += len(t)
        if size >= WARMUP_BYTES:
            break
    for name, (fn, _) in sides.items():
        fn(warm * (1 + (2 * 262_144) // max(size, 1)))  # big enough to start the pool
    runs: dict = {name: [] for name in sides}
    sigs: dict = {}
    names = list(sides)
    for rnd in range(repeat):
        for name in (names if rnd % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            out = sides[name][0](texts)
            runs[name].append(time.perf_counter() - t0)
            sigs[name] = out
            print(f"  signing {name}: {runs[name][-1]:.2f} s", file=sys.stderr)
    nbytes = sum(r.nbytes for r in records)
    result = {}
    for name, (_, covers) in sides.items():
        sec = statistics.median(runs[name])
        result[name] = {"seconds": sec, "runs": runs[name], "mb_s": nbytes / 1e6 / sec,
                        "docs_s": len(texts) / sec, "covers": covers}
    return result, sigs


def compare_signatures(a: list, b: list) -> tuple[int, list[int]]:
    """How many documents agree (both None, or equal arrays), and the first disagreeing ones."""
    same, bad = 0, []
    for i, (x, y) in enumerate(zip(a, b)):
        if (x is None and y is None) or (x is not None and y is not None and np.array_equal(x, y)):
            same += 1
        elif len(bad) < 5:
            bad.append(i)
    return same, bad


def time_abstracted(records: list[Record], hasher, repeat: int) -> tuple[dict, list]:
    """Ours only: abstracted signing with 1 and 2 workers, alternating, medians."""
    texts = [r.content for r in records]
    langs, paths = [r.lang for r in records], [r.path for r in records]
    nbytes = sum(r.nbytes for r in records)
    runs: dict = {1: [], 2: []}
    sigs = None
    for rnd in range(repeat):
        for workers in ((1, 2) if rnd % 2 == 0 else (2, 1)):
            t0 = time.perf_counter()
            s = hasher.sign_texts(texts, abstracted=True, langs=langs, paths=paths, workers=workers)
            runs[workers].append(time.perf_counter() - t0)
            print(f"  abstracted signing, workers={workers}: {runs[workers][-1]:.2f} s", file=sys.stderr)
            if sigs is None:
                sigs = s
            elif compare_signatures(sigs, s)[0] != len(s):
                raise RuntimeError("abstracted signatures differ between workers=1 and workers=2")
    out = {}
    for workers, secs in runs.items():
        sec = statistics.median(secs)
        out[f"StarScope `sign_texts(abstracted=True, workers={workers})`"] = {
            "seconds": sec, "runs": secs, "mb_s": nbytes / 1e6 / sec, "docs_s": len(texts) / sec,
            "covers": "pygments lexing, ID/STR/NUM abstraction, shingles, signing"}
    return out, sigs


def check_abstracted(records: list[Record], sigs: list, hasher, rng: random.Random) -> dict:
    """A sample of abstracted signatures against datasketch's over the same shingles."""
    from datasketch import MinHash

    idx = rng.sample(range(len(records)), min(ABSTRACT_CHECKS, len(records)))
    same, bad = 0, []
    for i in idx:
        r = records[i]
        sh = hasher.shingles(r.content, abstracted=True, lang=r.lang, path=r.path)
        if not sh:
            ok = sigs[i] is None
        else:
            m = MinHash(num_perm=hasher.config.num_perm)
            m.update_batch(list(sh))
            ok = sigs[i] is not None and np.array_equal(m.hashvalues, sigs[i])
        same += ok
        if not ok:
            bad.append(r.sha)
    return {"checked": len(idx), "same": same, "bad": bad[:5]}


# -- 2. index and query ------------------------------------------------------------------------
def build_ours(shards: list[Path], out: Path, *, signatures: bool = True) -> dict:
    """``build_index`` into ``out``; ``signatures=False`` patches MinHash signing out of the
    build's sketch step (bench only) to measure what signatures and band terms cost."""
    from indexer.build import build_index
    from indexer.sketching import SketchStep
    from membership.sketch import NO_SIGNATURES

    original = SketchStep.sign
    if not signatures:
        SketchStep.sign = lambda self, records: [NO_SIGNATURES] * len(records)
    try:
        t0 = time.perf_counter()
        manifest = build_index(shards, out, progress=False)
        seconds = time.perf_counter() - t0
    finally:
        SketchStep.sign = original
    return {"seconds": seconds, "contents": manifest["counts"]["documents"],
            "index_bytes": dir_bytes(out), "store_bytes": dir_bytes(out / "store")}


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) to the current RSS (Linux >= 4.0), so
    that transient allocations before the measured step (imports, loading) do not hide it."""
    import gc

    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_kb() -> dict:
    """This process's memory in KiB from ``/proc/self/status``: ``peak`` (``VmHWM``), ``rss``
    (``VmRSS``), ``anon`` (``RssAnon``: heap, what the process itself holds) and ``file``
    (``RssFile``: mapped files such as an index, page cache the kernel can drop)."""
    names = {"VmHWM": "peak", "VmRSS": "rss", "RssAnon": "anon", "RssFile": "file"}
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in names:
            out[names[key]] = int(value.split()[0])
    if "peak" not in out:
        out["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out


def memory_growth(before: dict, after: dict) -> dict:
    return {f"{k}_growth_kb": after.get(k, 0) - before.get(k, 0) for k in ("peak", "rss", "anon", "file")}


def worker_lsh(data: Path, queries_path: Path, out_path: Path) -> None:
    """In a subprocess: two MinHashLSH (plain, abstracted) of precomputed signatures; memory
    growth of the inserts; query timings (query only, and signing + query)."""
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    from membership.minhash import MinHashConfig, MinHasher

    z = np.load(data)
    keys = [str(k) for k in z["keys"]]
    mats = {"plain": (z["plain"], z["plain_ok"]), "abstracted": (z["abstracted"], z["abstracted_ok"])}
    queries = json.loads(queries_path.read_text())
    hasher = MinHasher(MinHashConfig())
    for m, ok in mats.values():  # touch the matrices, so loading them is not counted below
        int(m.sum()), int(ok.sum())
    reset = reset_peak_rss()
    before = rss_kb()
    t0 = time.perf_counter()
    lshs = {kind: MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM) for kind in mats}
    half = len(keys) // 2
    for lo, hi in ((0, half), (half, len(keys))):  # in two halves: the growth of the second is the slope
        for kind, (m, ok) in mats.items():
            with lshs[kind].insertion_session() as session:
                for i in np.flatnonzero(ok[lo:hi]) + lo:
                    session.insert(keys[i], LeanMinHash(seed=1, hashvalues=m[i], scheme="affine32"))
        if lo == 0:
            middle = rss_kb()
    build_s = time.perf_counter() - t0
    after = rss_kb()
    where = {k: i for i, k in enumerate(keys)}
    res = {"build_s": build_s, **memory_growth(before, after), "peak_reset": reset,
           "baseline_kb": before["rss"],
           "second_half_anon_per_doc": (after["anon"] - middle["anon"]) * 1024 / max(len(keys) - half, 1),
           "b": lshs["plain"].b, "r": lshs["plain"].r,
           "inserted": {k: int(ok.sum()) for k, (_, ok) in mats.items()},
           "query_ms": [], "sign_query_ms": [], "candidates": [], "self_found": 0}

    def query_only(i):
        found = set()
        for kind, (m, ok) in mats.items():
            if ok[i]:
                found.update(lshs[kind].query(LeanMinHash(seed=1, hashvalues=m[i], scheme="affine32")))
        return found

    def sign_query(q):
        found = set()
        for kind in mats:
            sh = hasher.shingles(q["text"], abstracted=kind == "abstracted", lang=q["lang"], path=q["path"])
            if sh:
                mh = MinHash(num_perm=NUM_PERM)
                mh.update_batch(list(sh))
                found.update(lshs[kind].query(mh))
        return found

    for rnd in range(2):  # a warm-up pass, then the timed one
        for q in queries:
            i = where[q["sha"]]
            t0 = time.perf_counter()
            found = query_only(i)
            t1 = time.perf_counter()
            sign_query(q)
            t2 = time.perf_counter()
            if rnd:
                res["query_ms"].append((t1 - t0) * 1e3)
                res["sign_query_ms"].append((t2 - t1) * 1e3)
                res["candidates"].append(len(found))
                res["self_found"] += q["sha"] in found
    out_path.write_text(json.dumps(res))


def worker_ours(index_dir: Path, queries_path: Path, out_path: Path) -> None:
    """In a subprocess: memory growth from opening our index through all the queries, and
    ``near_duplicates`` timings (and of its signing part alone)."""
    from indexer.index_dir import IndexDir

    from membership.lexers import abstract_tokens
    from membership.minhash import MinHashConfig, MinHasher

    queries = json.loads(queries_path.read_text())
    # Load the lexers the queries need first: code, not index (the LSH process measures none).
    warm = MinHasher(MinHashConfig())
    for q in queries:
        abstract_tokens(q["text"][:2000], lang=q["lang"], path=q["path"])
        warm.sign(warm.shingles(q["text"][:2000], abstracted=True, lang=q["lang"], path=q["path"]))
    reset = reset_peak_rss()
    before = rss_kb()
    index = IndexDir(index_dir).membership()
    opened = rss_kb()
    hasher = index.near.hasher
    res = {"query_ms": [], "sign_ms": [], "candidates": [], "self_top": 0, "self_found": 0,
           "open_anon_growth_kb": opened["anon"] - before["anon"]}
    for rnd in range(2):  # a warm-up pass, then the timed one
        for q in queries:
            t0 = time.perf_counter()
            for abstracted in (False, True):
                hasher.sign(hasher.shingles(q["text"], abstracted=abstracted, lang=q["lang"], path=q["path"]))
            t1 = time.perf_counter()
            found = index.near_duplicates(q["text"], lang=q["lang"], path=q["path"])
            t2 = time.perf_counter()
            if rnd:
                res["sign_ms"].append((t1 - t0) * 1e3)
                res["query_ms"].append((t2 - t1) * 1e3)
                res["candidates"].append(found.candidates)
                shas = [n.sha for n in found.near_duplicates]
                res["self_top"] += bool(shas) and shas[0] == q["sha"]
                res["self_found"] += q["sha"] in shas
    res.update(**memory_growth(before, rss_kb()), peak_reset=reset, baseline_kb=before["rss"])
    out_path.write_text(json.dumps(res))


def run_worker(kind: str, *args: Path) -> dict:
    out = args[-1]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def index_and_query(records: list[Record], plain: list, abstracted: list, shards: list[Path],
                    work: Path, queries: list[Record], repeat: int) -> dict:
    print("building our index, with and without MinHash signatures...", file=sys.stderr)
    build = {"with": build_ours(shards, work / "ours"),
             "without": build_ours(shards, work / "ours-nosig", signatures=False)}
    for side in ("with", "without"):
        print(f"  build_index ({side} signatures): {build[side]['seconds']:.1f} s, store "
              f"{build[side]['store_bytes'] / 1e6:.1f} MB", file=sys.stderr)
    n = len(records)
    mats = {}
    for kind, sigs in (("plain", plain), ("abstracted", abstracted)):
        m = np.zeros((n, NUM_PERM), dtype=np.uint32)
        ok = np.zeros(n, dtype=bool)
        for i, s in enumerate(sigs):
            if s is not None:
                m[i], ok[i] = s, True
        mats[kind], mats[f"{kind}_ok"] = m, ok
    np.savez(work / "sigs.npz", keys=np.array([r.sha for r in records]), **mats)
    qpath = work / "queries.json"
    qpath.write_text(json.dumps([{"sha": q.sha, "text": q.content, "lang": q.lang, "path": q.path}
                                 for q in queries]))
    runs: dict = {"lsh": [], "ours": []}
    for rnd in range(repeat):
        for side in (("lsh", "ours") if rnd % 2 == 0 else ("ours", "lsh")):
            out = work / f"{side}-{rnd}.json"
            r = (run_worker("lsh", work / "sigs.npz", qpath, out) if side == "lsh"
                 else run_worker("ours", work / "ours", qpath, out))
            runs[side].append(r)
            print(f"  query run {rnd} {side}: p50 {percentile(r['query_ms'], 50):.2f} ms, peak RSS growth "
                  f"{r['peak_growth_kb'] / 1024:.1f} MB", file=sys.stderr)
    return {"build": build, "runs": runs, "signed": {k: int(mats[f"{k}_ok"].sum()) for k in ("plain", "abstracted")}}


def per_query_median(runs: list[dict], key: str) -> list[float]:
    return [statistics.median(v) for v in zip(*(r[key] for r in runs))]


# -- 3a. LSH against brute force ---------------------------------------------------------------
def lsh_quality(records: list[Record], plain: list, hasher, rng: random.Random, limit: int) -> dict:
    from datasketch import LeanMinHash, MinHashLSH
    from scipy import sparse

    from membership.minhash import collision_probability

    cfg = hasher.config
    signed = [i for i, s in enumerate(plain) if s is not None]
    idx = sorted(rng.sample(signed, min(limit, len(signed))))
    n = len(idx)
    vocab: dict[bytes, int] = {}
    rows, cols, sizes = [], [], []
    for k, i in enumerate(idx):
        sh = hasher.shingles(records[i].content)
        ids = [vocab.setdefault(s, len(vocab)) for s in sh]
        rows.extend([k] * len(ids))
        cols.extend(ids)
        sizes.append(len(ids))
    a = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(n, len(vocab)))
    inter = (a @ a.T).toarray().astype(np.float64)
    size = np.array(sizes, dtype=np.float64)
    jac = inter / (size[:, None] + size[None, :] - inter)
    iu = np.triu_indices(n, 1)
    j_pairs = jac[iu]

    # band-key collisions, as the store's terms give them
    collide = np.zeros((n, n), dtype=bool)
    groups: dict[str, list[int]] = {}
    for k, i in enumerate(idx):
        for key in hasher.band_keys(plain[i], kind="p"):
            groups.setdefault(key, []).append(k)
    for members in groups.values():
        if len(members) > 1:
            m = np.array(members)
            collide[np.ix_(m, m)] = True
    c_pairs = collide[iu]

    # datasketch's MinHashLSH over the same signatures: the same candidate pairs?
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    lean = [LeanMinHash(seed=cfg.seed, hashvalues=plain[i], scheme=cfg.scheme) for i in idx]
    for k, m in enumerate(lean):
        lsh.insert(k, m)
    ds_pairs = {(min(k, j), max(k, j)) for k, m in enumerate(lean) for j in lsh.query(m) if j != k}
    ours_pairs = set(zip(*(x[c_pairs] for x in iu)))
    ours_pairs = {(int(x), int(y)) for x, y in ours_pairs}

    sig = np.stack([plain[i] for i in idx])
    buckets = []
    for label, lo, hi, center in BUCKETS:
        sel = (j_pairs >= lo) & (j_pairs < hi)
        cnt = int(sel.sum())
        row = {"bucket": label, "pairs": cnt, "colliding": int(c_pairs[sel].sum()),
               "theory_mean": float(np.mean(collision_probability(j_pairs[sel], cfg.bands, cfg.rows)))
               if cnt else None,
               "theory_center": collision_probability(center, cfg.bands, cfg.rows) if center else None,
               "estimate_abs_error": None}
        if cnt and lo >= 0.3:
            pi, pj = iu[0][sel], iu[1][sel]
            est = (sig[pi] == sig[pj]).mean(axis=1)
            row["estimate_abs_error"] = float(np.mean(np.abs(est - j_pairs[sel])))
        buckets.append(row)
    high = j_pairs >= 0.8
    return {"docs": n, "pairs": int(len(j_pairs)), "bands": cfg.bands, "rows": cfg.rows, "buckets": buckets,
            "high_pairs": int(high.sum()), "high_found": int(c_pairs[high].sum()),
            "high_expected": float(np.mean(collision_probability(j_pairs[high], cfg.bands, cfg.rows)))
            if high.any() else None,
            "candidate_pairs": int(c_pairs.sum()), "candidates_below_05": int((c_pairs & (j_pairs < 0.5)).sum()),
            "datasketch_pairs": len(ds_pairs), "datasketch_same": ds_pairs == ours_pairs,
            "lsh_b": lsh.b, "lsh_r": lsh.r}


# -- 3b. mutated copies ------------------------------------------------------------------------
_KEEP_NAMES = set(dir(builtins)) | set(keyword.kwlist) | {"self", "cls"}
_SIMPLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Import, ast.ImportFrom, ast.Pass,
           ast.Delete, ast.Global, ast.Nonlocal, ast.Assert)


def _lines(src: str) -> list[str]:
    return io.StringIO(src).readlines()  # the same line split as tokenize's readline


def _tokens(src: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(src).readline))


def rename_identifiers(src: str, rng: random.Random) -> tuple[str, int]:
    """Every name the file defines (functions, classes, arguments, assigned names, ``self.x``
    attributes) renamed consistently; dunder names, builtins and ``self``/``cls`` kept.
    Returns the new text and how many names were renamed."""
    tree = ast.parse(src)
    names, attrs = [], []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
            attrs.append(node.name)
        elif isinstance(node, ast.arg):
            names.append(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.append(node.name)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
              and isinstance(node.value, ast.Name) and node.value.id == "self"):
            attrs.append(node.attr)
    keep = lambda n: n in _KEEP_NAMES or (n.startswith("__") and n.endswith("__"))  # noqa: E731
    ordered = [n for n in dict.fromkeys(names + attrs) if not keep(n)]
    syllables = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "su")
    mapping = {n: "".join(rng.choice(syllables) for _ in range(3)) + f"_{i}" for i, n in enumerate(ordered)}
    dotted = set(attrs)
    lines = _lines(src)
    prev = None
    edits = []
    for tok in _tokens(src):
        if tok.type == tokenize.NAME and tok.string in mapping:
            after_dot = prev is not None and prev.type == tokenize.OP and prev.string == "."
            if not after_dot or tok.string in dotted:
                edits.append((tok.start, tok.end, mapping[tok.string]))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            prev = tok
    for (row, col), (erow, ecol), new in sorted(edits, reverse=True):
        assert row == erow
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[ecol:]
    return "".join(lines), len(mapping)


def strip_and_reformat(src: str) -> str:
    """Comments dropped; every token re-spaced by ``tokenize.untokenize``'s compatible mode
    (``def f (a ,b ):``), indentation kept."""
    toks = [(t.type, t.string) for t in _tokens(src) if t.type != tokenize.COMMENT]
    return tokenize.untokenize(toks)


def reorder_lines(src: str, rng: random.Random) -> str:
    """Runs of consecutive one-line simple statements shuffled within their block, then the
    top-level functions and classes (with their decorators) shuffled."""
    tree = ast.parse(src)
    lines = _lines(src)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if not isinstance(body, list):
                continue
            run: list[int] = []
            for stmt in body + [None]:
                ok = (stmt is not None and isinstance(stmt, _SIMPLE) and stmt.lineno == stmt.end_lineno
                      and (not run or stmt.lineno == run[-1] + 1))
                if ok:
                    run.append(stmt.lineno)
                    continue
                if len(run) > 1 and len(set(run)) == len(run):
                    moved = [lines[i - 1] for i in run]
                    rng.shuffle(moved)
                    for i, text in zip(run, moved):
                        lines[i - 1] = text
                run = [stmt.lineno] if (stmt is not None and isinstance(stmt, _SIMPLE)
                                        and stmt.lineno == stmt.end_lineno) else []
    defs = [s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    # the longest run of consecutive top-level definitions
    best: list = []
    cur: list = []
    for s in tree.body:
        if s in defs:
            cur.append(s)
            if len(cur) > len(best):
                best = list(cur)
        else:
            cur = []
    if len(best) > 1:
        starts = [min([d.lineno for d in s.decorator_list] + [s.lineno]) - 1 for s in best]
        end = best[-1].end_lineno
        blocks = [lines[a:b] for a, b in zip(starts, starts[1:] + [end])]
        rng.shuffle(blocks)
        lines[starts[0]:end] = [ln for b in blocks for ln in b]
    return "".join(lines)


def mutate(src: str, kind: str, rng: random.Random) -> str:
    if kind == "stripped + reformatted":
        return strip_and_reformat(src)
    if kind == "reordered":
        return reorder_lines(src, rng)
    if kind == "renamed":
        return rename_identifiers(src, rng)[0]
    return strip_and_reformat(reorder_lines(rename_identifiers(src, rng)[0], rng))


def pick_python(records: list[Record], rng: random.Random, want: int) -> list[tuple[Record, dict]]:
    """Python files of 1-50 KB that parse and define at least 5 renameable names, with their
    mutated copies (every mutation must succeed)."""
    pool = [r for r in records if r.lang == "python" and 1000 <= r.nbytes <= 50_000]
    rng.shuffle(pool)
    out = []
    for r in pool:
        try:
            if rename_identifiers(r.content, random.Random(0))[1] < 5:
                continue
            seed = rng.randrange(1 << 30)
            copies = {k: mutate(r.content, k, random.Random(seed + i)) for i, k in enumerate(MUTATIONS)}
        except (SyntaxError, ValueError, tokenize.TokenError, IndentationError, AssertionError, RecursionError):
            continue
        if any(c == r.content for c in copies.values()):
            continue
        out.append((r, copies))
        if len(out) >= want:
            break
    return out


def rank_one_signature(index, text: str, kind: str) -> list[tuple[float, str]]:
    """(estimate, sha) of the candidates of one signature alone (its band terms, its stored
    signatures), best first: the LSH of that token stream without the other."""
    hasher = index.near.hasher
    sig = hasher.sign(hasher.shingles(text, abstracted=kind == "abstracted", lang="python"))
    if sig is None:
        return []
    keys = hasher.band_keys(sig, kind="a" if kind == "abstracted" else "p")
    cands = index.store.signed_contents_with_bands(keys, limit=index.near.max_candidates)
    col = 1 if kind == "plain" else 2
    scored = [(float(np.mean(sig == c[col])), c[0].sha) for c in cands
              if c[col] is not None and len(c[col]) == len(sig)]
    return sorted(scored, reverse=True)


def _first(scored: list[tuple[float, str]], sha: str) -> bool:
    """Whether ``sha`` has the best estimate (ties count)."""
    return any(s == sha and est == scored[0][0] for est, s in scored)


def _best_of(row) -> float:
    """A row's better estimate of its two signatures."""
    return max(row.estimated_plain or 0.0, row.estimated_abstracted or 0.0)


def mutated_recall(index, files: list[tuple[Record, dict]], hasher) -> dict:
    from membership.minhash import jaccard

    out: dict = {k: [] for k in MUTATIONS}
    for r, copies in files:
        orig_sh = {False: hasher.shingles(r.content),
                   True: hasher.shingles(r.content, abstracted=True, lang="python")}
        for kind, text in copies.items():
            t0 = time.perf_counter()
            res = index.near_duplicates(text, lang="python")
            ms = (time.perf_counter() - t0) * 1e3
            rows = res.near_duplicates
            mine = [n for n in rows if n.sha == r.sha]
            top = rows[0] if rows else None
            out[kind].append({
                "sha": r.sha, "repo": r.repo, "path": r.path, "ms": ms, "candidates": res.candidates,
                "jaccard_plain": jaccard(hasher.shingles(text), orig_sh[False]),
                "jaccard_abstracted": jaccard(hasher.shingles(text, abstracted=True, lang="python"), orig_sh[True]),
                "top": bool(top) and top.sha == r.sha,
                "top_tied": bool(mine) and mine[0].estimated_jaccard == top.estimated_jaccard,
                "found": bool(mine), "rank": rows.index(mine[0]) + 1 if mine else None,
                "top_by_max": bool(mine) and _best_of(mine[0]) == max(map(_best_of, rows)),
                "plain_only_first": _first(rank_one_signature(index, text, "plain"), r.sha),
                "abstracted_only_first": _first(rank_one_signature(index, text, "abstracted"), r.sha),
                "signature": mine[0].signature if mine else None,
                "estimated_plain": mine[0].estimated_plain if mine else None,
                "estimated_abstracted": mine[0].estimated_abstracted if mine else None,
                "top_row": ({"sha": top.sha, "repo": top.repo, "path": top.path, "signature": top.signature,
                             "estimated_jaccard": top.estimated_jaccard} if top else None)})
    return out


# -- report ------------------------------------------------------------------------------------
def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "n/a"


def report(info: dict, corpus: dict, signing: dict, sig_check: dict, abstracted: dict, abs_check: dict,
           iq: dict, quality: dict, mutated: dict, rensa_note: str | None) -> str:
    loop = signing["datasketch `MinHash.update` loop"]
    lines = [machine_line(info),
             f"libraries: datasketch {info['datasketch']}, rensa {info.get('rensa', 'not installed')}, "
             f"pygments {info['pygments']}, numpy {info['numpy']}",
             f"corpus: {corpus['shards']} shard(s), {corpus['mb']:.1f} MB in {corpus['contents']} unique contents "
             f"({corpus['plain_signed']} with a plain signature, {corpus['abstracted_signed']} with an abstracted "
             f"one); MinHash {NUM_PERM} permutations, 5-token shingles, affine32 seed 1, "
             f"{corpus['bands']} bands x {corpus['rows']} rows",
             "load average (1/5/15 min) at start " + "/".join(f"{x:.2f}" for x in info["load_start"])
             + ", at end " + "/".join(f"{x:.2f}" for x in info["load_end"]) + f" on {info['nproc']} cores", ""]

    # targets
    ours1 = signing["StarScope `sign_texts(workers=1)`"]
    ours2 = signing["StarScope `sign_texts(workers=2)`"]
    identical = sig_check["all_equal"]
    runs = iq["runs"]
    ours_p50 = percentile(per_query_median(runs["ours"], "query_ms"), 50)
    per_doc = lambda side, k: statistics.median(r[k] for r in runs[side]) * 1024 / corpus["contents"]  # noqa: E731
    lsh_ram, ours_ram = per_doc("lsh", "anon_growth_kb"), per_doc("ours", "anon_growth_kb")
    r1 = loop["seconds"] / ours1["seconds"]
    targets = [["signing: datasketch loop s / ours (workers=1) s, identical signatures",
                f"{r1:.1f}x ({'identical' if identical else '**not identical**'}); workers=2: "
                f"{loop['seconds'] / ours2['seconds']:.1f}x", ">= 3x, identical",
                "yes" if r1 >= 3 and identical else "**no**"],
               ["`near_duplicates` p50 (both signatures, re-rank, exact Jaccard)", f"{ours_p50:.1f} ms",
                "< 10 ms", "yes" if ours_p50 < 10 else "**no**"],
               ["RAM per indexed document (process heap growth, `RssAnon`): ours open + queries / "
                "MinHashLSH inserts",
                f"{ours_ram:.0f} B / {lsh_ram:.0f} B = {ours_ram / max(lsh_ram, 1e-9):.2f}", "well below (<= 0.5)",
                "yes" if ours_ram <= 0.5 * lsh_ram else "**no**"]]
    lines += ["### Targets", "", markdown_table(["target", "measured", "target", "met"], targets), ""]

    # 1. signing
    rows = []
    for name, s in signing.items():
        if name.startswith("rensa"):
            same = f"no ({sig_check['rensa_same']}/{corpus['plain_signed']} signed documents equal: own hashing)"
        elif name == "datasketch `MinHash.update` loop":
            same = "reference"
        else:
            same = _pct(sig_check["same"][name], corpus["contents"])
        rows.append([name, s["covers"], f"{s['seconds']:.2f}", f"{s['mb_s']:.1f}", f"{s['docs_s']:.0f}",
                     f"{loop['seconds'] / s['seconds']:.2f}x", same])
    for name, s in abstracted.items():
        rows.append([name, s["covers"], f"{s['seconds']:.2f}", f"{s['mb_s']:.1f}", f"{s['docs_s']:.0f}", "",
                     f"{abs_check['same']}/{abs_check['checked']} sampled equal to `update_batch`"])
    note = (f"Plain tokens unless named; median of {corpus['repeat']} alternating rounds over all "
            f"{corpus['contents']} contents ({corpus['mb']:.1f} MB, UTF-8), after a warm-up of every side "
            "(abstracted signing: its two rows alternate the same way). Documents under 5 tokens count in MB/s and "
            "docs/s but get no signature (on every side).")
    if rensa_note:
        note += f" rensa not run: {rensa_note}."
    else:
        note += (" rensa gets the same shingle sets but hashes and permutes its own way "
                 "(`RMinHash`, seed 1): its signatures are not datasketch's, so it is compared on speed only.")
    lines += ["### 1. Signing throughput", "", markdown_table(
        ["side", "timer covers", "median s", "MB/s", "docs/s", "speed / datasketch loop",
         "signatures = datasketch's"], rows), "", note, ""]

    # 2. index and query
    b = iq["build"]
    extra_disk = b["with"]["store_bytes"] - b["without"]["store_bytes"]
    extra_build = b["with"]["seconds"] - b["without"]["seconds"]
    lsh_build = statistics.median(r["build_s"] for r in runs["lsh"])
    med = lambda side, k: statistics.median(r[k] for r in runs[side]) / 1024  # noqa: E731  (MB)
    n = corpus["contents"]
    reset_ok = all(r.get("peak_reset") for rs in runs.values() for r in rs)
    plain2 = signing.get("StarScope `sign_texts(workers=2)`", {}).get("seconds", float("nan"))
    abs2 = abstracted.get("StarScope `sign_texts(abstracted=True, workers=2)`", {}).get("seconds", float("nan"))
    rows = [["datasketch 2x `MinHashLSH` (plain + abstracted), in RAM",
             f"{lsh_build:.2f} (inserts of {sum(runs['lsh'][0]['inserted'].values())} `LeanMinHash`; "
             "signing not included)", f"{med('lsh', 'peak_growth_kb'):.1f}", f"{med('lsh', 'anon_growth_kb'):.1f}",
             f"{med('lsh', 'file_growth_kb'):.1f}",
             f"{lsh_ram:.0f} (second half of the inserts alone: "
             f"{statistics.median(r['second_half_anon_per_doc'] for r in runs['lsh']):.0f})",
             "0 (nothing persisted)", ""],
            ["StarScope band terms + stored signatures (tantivy store)",
             f"{extra_build:.1f} (build_index {b['with']['seconds']:.1f} with MinHash, "
             f"{b['without']['seconds']:.1f} without; includes signing both streams, 2 workers)",
             f"{med('ours', 'peak_growth_kb'):.1f}", f"{med('ours', 'anon_growth_kb'):.1f}",
             f"{med('ours', 'file_growth_kb'):.1f}",
             f"{ours_ram:.0f} (of which open: {per_doc('ours', 'open_anon_growth_kb'):.0f})",
             f"{extra_disk / 1e6:.2f}",
             f"{extra_disk / n:.0f}"]]
    lines += ["### 2. Index and query", "", markdown_table(
        ["side", "build s", "RAM peak growth MB", "heap growth MB (`RssAnon`)", "mapped-file growth MB "
         "(`RssFile`)", "heap growth / doc (B)", "disk MB", "disk / doc (B)"], rows), "",
        "Memory, in a fresh subprocess per run (median of "
        f"{len(runs['lsh'])} runs per side): for the LSH from after loading the precomputed signature "
        "matrices to after the inserts; for ours from before `IndexDir.membership` (after loading the "
        "queries' pygments lexers, which the LSH process never loads) to after a warm-up and a timed "
        "pass of the queries. Peak: `VmHWM` "
        + ("reset to the current RSS through `/proc/self/clear_refs` just before the step"
           if reset_ok else "(**its reset was refused here**: the peak includes earlier steps)")
        + "; heap and mapped-file: current `RssAnon` and `RssFile` after the step (mapped index pages are "
        f"page cache the kernel can drop). Per document: divided by the {n} contents. The LSH holds "
        "every band of every document in Python objects, so its heap grows with each insert (they run in "
        "two halves; the second half's growth per document is its slope); ours keeps band terms and "
        "signatures on disk and its heap is the opened reader plus what the queries leave behind (doc-store "
        "cache, allocator), so dividing it by the documents describes this corpus size only. Disk: the store built with "
        "MinHash less the store built without (stored `sig_plain`/`sig_abstract` and the `band` terms; "
        f"whole index {b['with']['index_bytes'] / 1e6:.1f} MB, store {b['with']['store_bytes'] / 1e6:.1f} MB). "
        f"The LSH's build excludes signing, which table 1 puts at {plain2:.1f} s (plain) + {abs2:.1f} s "
        "(abstracted) with 2 workers, and it keeps no signatures to re-rank with. Process baselines: LSH "
        f"{med('lsh', 'baseline_kb'):.0f} MB, ours {med('ours', 'baseline_kb'):.0f} MB.", ""]

    q = len(runs["ours"][0]["query_ms"])
    rows = []
    specs = [("datasketch `MinHashLSH.query` x2", "lsh", "query_ms",
              "`LeanMinHash` of precomputed signatures, query plain + abstracted LSH, union of keys"),
             ("datasketch sign + query", "lsh", "sign_query_ms",
              "our tokenizers (pygments for abstracted), `MinHash().update_batch` x2, both queries"),
             ("StarScope signing only", "ours", "sign_ms", "`shingles` + `sign`, plain and abstracted"),
             ("StarScope `near_duplicates`", "ours", "query_ms",
              "sign both, band-term lookup, fetch candidates + signatures, re-rank, exact Jaccard of top 10")]
    for name, side, key, covers in specs:
        vals = per_query_median(runs[side], key)
        self_found = statistics.median(r["self_found"] for r in runs[side])
        rows.append([name, covers, q, f"{percentile(vals, 50):.2f}", f"{percentile(vals, 99):.2f}",
                     f"{statistics.median(statistics.median(r['candidates']) for r in runs[side]):.0f}"
                     if key != "sign_ms" else "",
                     _pct(int(self_found), q) if key != "sign_ms" else ""])
    lines += [markdown_table(["query", "timer covers", "queries", "p50 ms", "p99 ms", "median candidates",
                              "query doc found"], rows), "",
              f"{q} documents of the prefix (median {corpus['query_median_bytes']} B, max "
              f"{corpus['query_max_bytes']} B), lang and path given; one warm-up pass and one timed pass "
              f"per run, {len(runs['ours'])} runs per side alternating; per-query median over runs, "
              f"p50/p99 over queries. Ours: query document ranked first in "
              f"{_pct(int(statistics.median(r['self_top'] for r in runs['ours'])), q)} (ties with identical "
              "copies included otherwise).", ""]

    # 3a
    qa = quality
    rows = []
    for bk in qa["buckets"]:
        rows.append([bk["bucket"], bk["pairs"], bk["colliding"],
                     f"{bk['colliding'] / bk['pairs']:.3f}" if bk["pairs"] else "",
                     f"{bk['theory_mean']:.3f}" if bk["theory_mean"] is not None else "",
                     f"{bk['theory_center']:.3f}" if bk["theory_center"] is not None else "",
                     f"{bk['estimate_abs_error']:.3f}" if bk["estimate_abs_error"] is not None else ""])
    lines += ["### 3. Quality", "",
              f"(a) LSH vs brute force: {qa['docs']} documents of the prefix, {qa['pairs']:,} pairs, exact "
              "Jaccard of plain shingle sets.", "",
              markdown_table(["exact Jaccard", "pairs", "share a band key", "empirical", "theory (mean over pairs)",
                              "theory at center", "mean abs(estimate - exact)"], rows), "",
              f"Recall of pairs with exact Jaccard >= 0.8: {_pct(qa['high_found'], qa['high_pairs'])} (theory "
              + (f"{qa['high_expected']:.3f}" if qa["high_expected"] is not None else "n/a")
              + f"). Candidate pairs: {qa['candidate_pairs']:,}, of which {qa['candidates_below_05']} below "
              f"Jaccard 0.5. datasketch `MinHashLSH` ({qa['lsh_b']} x {qa['lsh_r']}) over the same signatures: "
              f"{qa['datasketch_pairs']:,} candidate pairs, "
              + ("the same pairs." if qa["datasketch_same"] else "**different pairs**."), ""]

    # 3b
    if not any(mutated.values()):
        lines.append("(b) No Python file of 1-50 KB in the prefix parses with 5+ renameable names: "
                     "mutated copies not run; raise --limit-mb.")
        return "\n".join(lines)
    rows = []
    for kind, rs in mutated.items():
        k = len(rs)
        sigc = Counter(r["signature"] for r in rs if r["found"])
        rows.append([kind, k, f"{statistics.mean(r['jaccard_plain'] for r in rs):.2f}",
                     f"{statistics.mean(r['jaccard_abstracted'] for r in rs):.2f}",
                     _pct(sum(r["top"] for r in rs), k), _pct(sum(r["top_tied"] for r in rs), k),
                     _pct(sum(r["found"] for r in rs), k), _pct(sum(r["top_by_max"] for r in rs), k),
                     _pct(sum(r["plain_only_first"] for r in rs), k),
                     _pct(sum(r["abstracted_only_first"] for r in rs), k),
                     sigc.get("plain", 0), sigc.get("abstracted", 0),
                     f"{percentile([r['ms'] for r in rs], 50):.1f}"])
    lines += [f"(b) Mutated copies of {len(next(iter(mutated.values())))} Python files of the prefix, "
              "`near_duplicates(text, lang=\"python\")`:", "",
              markdown_table(["mutation", "files", "mean exact J plain", "mean exact J abstracted",
                              "original ranked first", "first or tied with first", "in the results (top 10)",
                              "first if the 10 rows were ranked by max(plain, abstracted)",
                              "plain signature alone: first", "abstracted signature alone: first",
                              "matched via plain", "via abstracted", "p50 ms"], rows), "",
              "Exact J: Jaccard of the copy's and the original's shingle sets per token stream. "
              "\"Matched via\": the signature of the original's row (plain wins when its estimate "
              "reaches `min_jaccard` 0.5, and the rows are ranked by the estimate of the signature that "
              "matched, so a plain match of 0.58 ranks below another file's abstracted 0.68). The re-ranked "
              "column sorts the returned rows by their better estimate (rows cut by the top-10 limit are not "
              "seen). \"Alone\": the store's band terms and stored signatures of one token stream only, "
              "candidates ranked by that signature's estimate (ties with the first count). Mutations: "
              "comments dropped and tokens re-spaced by `tokenize.untokenize` (`f (a ,b .c )`); runs of one-line statements shuffled within blocks and "
              "top-level definitions shuffled; names defined in the file (functions, classes, "
              "arguments, assigned names, `self.x`) renamed consistently; all three together."]
    misses = [(kind, r) for kind, rs in mutated.items() for r in rs if not r["top_tied"]]
    if misses:
        lines += ["", f"Copies whose original is not first ({len(misses)}; up to 8 shown):", ""]
        for kind, r in misses[:8]:
            top = r["top_row"]
            lines.append(
                f"- [{kind}] {r['repo']}/{r['path']}: exact J plain {r['jaccard_plain']:.2f}, abstracted "
                f"{r['jaccard_abstracted']:.2f}; original "
                + (f"rank {r['rank']} via {r['signature']} (est. plain {r['estimated_plain']}, abstracted "
                   f"{r['estimated_abstracted']})" if r["found"] else f"not listed ({r['candidates']} candidates)")
                + (f"; first: {top['repo']}/{top['path']} via {top['signature']} est. {top['estimated_jaccard']:.3f}"
                   if top else "; no results"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        kind, *paths = argv[1:]
        {"lsh": worker_lsh, "ours": worker_ours}[kind](*map(Path, paths))
        return 0
    parser = argparse.ArgumentParser(
        description="Near-duplicate detection side by side: MinHash signing against datasketch and "
                    "rensa, our store-backed LSH against datasketch's in-memory MinHashLSH, LSH recall "
                    "against brute force and recall of mutated copies; prints markdown tables and exits "
                    "1 if one of our signatures differs from datasketch's.")
    parser.add_argument("--shards", type=Path, nargs="+", required=True,
                        help="shard files or directories (Stack-format parquet)")
    parser.add_argument("--limit-mb", type=float, default=20.0,
                        help="use a prefix of the shards holding this many MB of content (default 20)")
    parser.add_argument("--queries", type=int, default=200, help="query documents for latency (default 200)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="alternating rounds of signing, and query runs per side (default 3)")
    parser.add_argument("--seed", type=int, default=20240611, help="sampling and mutation seed")
    parser.add_argument("--tmp-dir", type=Path, default=None, help="where temporary files go")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    if args.queries < 1 or args.repeat < 1 or args.limit_mb <= 0:
        parser.error("--queries and --repeat must be >= 1 and --limit-mb > 0")

    import datasketch
    import pygments

    from indexer.build import BuildConfig
    from indexer.index_dir import IndexDir
    from membership.attribution import AttributionConfig
    from membership.minhash import MinHashConfig, MinHasher, close_worker_pools

    info = machine_info()
    info.update(datasketch=datasketch.__version__, pygments=pygments.__version__, numpy=np.__version__)
    rensa_note = rensa_available()
    if rensa_note is None:
        from importlib.metadata import version

        info["rensa"] = version("rensa")
    else:
        print(f"rensa not run: {rensa_note}", file=sys.stderr)
    info["load_start"] = os.getloadavg()
    rng = random.Random(args.seed)
    hasher = MinHasher(MinHashConfig())
    failures = []
    try:
        with tempfile.TemporaryDirectory(prefix="starscope-neardup-", dir=args.tmp_dir) as tmp:
            work = Path(tmp)
            shards = resolve_shards(args.shards, args.limit_mb, work)
            records = load_records(shards, BuildConfig().max_doc_bytes)
            print(f"{len(records)} unique contents in {len(shards)} shard(s); signing...", file=sys.stderr)

            signing, sigs = time_signing(records, hasher, args.repeat, rensa_note is None)
            ref = sigs["datasketch `MinHash.update` loop"]
            sig_check = {"same": {}, "rensa_same": 0}
            for name, s in sigs.items():
                if name == "datasketch `MinHash.update` loop":
                    continue
                same, bad = compare_signatures(ref, s)
                if name.startswith("rensa"):
                    sig_check["rensa_same"] = sum(x is not None and y is not None and np.array_equal(x, y)
                                                  for x, y in zip(ref, s))
                    continue
                sig_check["same"][name] = same
                if same != len(records) and name.startswith("StarScope"):
                    failures.append({"side": name, "equal": same, "docs": len(records),
                                     "first_mismatches": [records[i].sha for i in bad]})
            sig_check["all_equal"] = not failures
            plain = sigs["StarScope `sign_texts(workers=1)`"]
            abstracted, abs_sigs = time_abstracted(records, hasher, args.repeat)
            abs_check = check_abstracted(records, abs_sigs, hasher, rng)

            max_chars = AttributionConfig().max_chars
            eligible = [r for r, s in zip(records, plain) if s is not None and len(r.content) <= max_chars]
            queries = rng.sample(eligible, min(args.queries, len(eligible)))
            iq = index_and_query(records, plain, abs_sigs, shards, work, queries, args.repeat)

            print("quality: LSH against brute force...", file=sys.stderr)
            quality = lsh_quality(records, plain, hasher, rng, QUALITY_DOCS)
            print("quality: mutated copies...", file=sys.stderr)
            files = pick_python(records, rng, MUTATED_FILES)
            index = IndexDir(work / "ours").membership()
            mutated = mutated_recall(index, files, hasher)
            del index
            qsizes = sorted(q.nbytes for q in queries)
            corpus = {"shards": len(shards), "mb": sum(r.nbytes for r in records) / 1e6,
                      "contents": len(records), "plain_signed": iq["signed"]["plain"],
                      "abstracted_signed": iq["signed"]["abstracted"], "bands": hasher.config.bands,
                      "rows": hasher.config.rows, "repeat": args.repeat,
                      "query_median_bytes": qsizes[len(qsizes) // 2], "query_max_bytes": qsizes[-1],
                      "seed": args.seed, "limit_mb": args.limit_mb}
    finally:
        close_worker_pools()

    info["load_end"] = os.getloadavg()
    print(report(info, corpus, signing, sig_check, abstracted, abs_check, iq, quality, mutated, rensa_note))
    if failures:
        print("\n**Signatures differing from datasketch's:**")
        for f in failures:
            print(f"- {f['side']}: {f['equal']}/{f['docs']} equal; first mismatching contents "
                  f"{f['first_mismatches']}")
    if args.json_out:
        args.json_out.write_text(json.dumps({
            "machine": info, "corpus": corpus, "signing": signing, "signature_check": sig_check,
            "abstracted": abstracted, "abstracted_check": abs_check, "index_and_query": iq,
            "quality_lsh": quality, "mutated": mutated, "failures": failures,
            "queries": [q.sha for q in queries]}, indent=1, default=str))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
