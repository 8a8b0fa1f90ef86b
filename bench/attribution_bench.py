"""Attribution against infini-gram: build time and size, recall and precision on planted spans,
``attribute()`` latency, all in one run on the same documents.

Corpus: a prefix of the shards (``--limit-mb``). Both sides index the same unique contents
(one copy per git sha, over-size documents skipped, as ``build_index`` keeps them):

* **ours**: ``indexer.build.build_index`` into a fresh directory (the full-text store *and* the
  membership sketch). Its *membership extra* is ``<index>/membership/`` (Bloom filter,
  chunk-hash log, sequence log and span index: attribution's own suffix array, over chunk
  hashes) plus the ``chunk`` terms inside the store; tantivy keeps all fields in the
  same segment files, so that share is measured as the store's size less the store of a
  ``--no-membership`` build of the same shards.
* **infini-gram** (``pip install -e '.[bench]'``): a byte-level (``u8``, no tokenizer) suffix
  array built by ``python -m infini_gram.indexing`` from JSON lines. It indexes the
  **whitespace-normalized** text of every content (``membership.chunks.normalize``), and every
  query is normalized the same way before it is sent, so both sides answer the same question:
  maximal verbatim spans after normalization. Writing those JSON lines is timed as the peer's
  preparation and counted in its build.

Planted spans (``--queries``, ``--seed``): each query takes a span of 60-2000 raw characters
from a random corpus document and embeds it between two pieces of code from documents of the
shards *beyond* the prefix, cut at line boundaries; a piece is used only if our exact
membership test finds no corpus overlap in it (none of 99+ normalized characters). A planted
span is the normalized range of its raw characters, whitespace at its edges trimmed.

* **recall**: some reported span contains the planted range (maximal extension may make it
  longer). Every planted span of at least 99 normalized characters must be found (the chunk
  grid's guarantee); shorter ones are reported separately.
* **precision**: every reported span must be verbatim, after normalization, in each source
  it lists, at the raw offsets it lists; infini-gram's spans are checked at their byte
  pointers in its own text file (up to 10 occurrences per span, as we list up to 10 sources).
* infini-gram returns byte offsets into the normalized UTF-8 query; they are mapped to the
  characters wholly inside them before comparing, and ``min_len`` is 50 bytes against our 50
  characters (the same for ASCII). It is asked for every maximal span whatever its count
  (``max_cnt`` huge; OLMoTrace itself drops spans seen more than 10 times), because we report
  common spans too (flagged).

Latency: every planted query cut (around its planted span) or padded (with more filler) to
1 KB and 4 KB of raw text; each input runs once to warm up, then ``--repeat`` times per side
(sides alternate per input), and p50/p99 are over the per-input medians. infini-gram is timed
as ``attribute`` alone and with its sources (metadata of up to 10 documents per span, what our
``attribute`` returns); its timings include normalizing the query. Bloom-only
``MembershipIndex.test`` is timed on the 4 KB inputs.

    .venv/bin/python bench/attribution_bench.py --shards var/demo/shards
    .venv/bin/python bench/attribution_bench.py --shards var/demo/shards --limit-mb 20 --queries 50

Pure measurement: nothing here asserts on time. Exits 1 if our precision is below 100% or a
planted span of 99+ normalized characters was missed, after printing the failing cases.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_throughput import (ROOT, dir_bytes, machine_info, machine_line,  # noqa: E402
                              markdown_table, resolve_shards)
from search_latency import load_unique, percentile  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SPAN_CHARS = (60, 2000)  # raw characters of a planted span
FILLER_CHARS = (100, 1500)  # raw characters of each filler piece
FILLER_POOL = 3000  # documents beyond the prefix to draw filler from
SIZES = (1024, 4096)  # latency input sizes, raw characters
MIN_LENGTH = 50  # our min_length (normalized characters) and infini-gram's min_len (bytes)
MAX_SOURCES = 10  # sources per span: our default, and the peer's documents fetched per span
PEER_MAX_CNT = 1 << 40  # "any count": every maximal span, as ours reports common spans too
PEER_EOS, PEER_VOCAB = 254, 255  # the u8 engine takes vocab_size as a byte: at most 255


# -- corpus ------------------------------------------------------------------------------------
def filler_documents(all_shards: list[Path], prefix_shas: set[str], limit: int) -> list[str]:
    """Contents of documents beyond the prefix (last shards first), for filler."""
    from indexer.corpus import iter_documents, list_shards

    out: list[str] = []
    seen = set(prefix_shas)
    for path in reversed(list_shards(all_shards)):
        for d in iter_documents(path, stats=Counter()):
            if d.sha not in seen and 500 <= len(d.content) <= 200_000 and "\0" not in d.content:
                seen.add(d.sha)
                out.append(d.content)
                if len(out) >= limit:
                    return out
    return out


class FillerSource:
    """Line-aligned pieces of code that the corpus does not hold (checked, see module doc)."""

    def __init__(self, docs: list[str], index, rng: random.Random):
        self.docs, self.index, self.rng = docs, index, rng
        self.tried = self.rejected = 0

    def piece(self, lo: int = FILLER_CHARS[0], hi: int = FILLER_CHARS[1]) -> str:
        from membership.attribution import AttributionInputError

        for _ in range(1000):
            self.tried += 1
            lines = self.rng.choice(self.docs).split("\n")
            want = self.rng.randint(lo, hi)
            i = self.rng.randrange(len(lines))
            piece: list[str] = []
            size = 0
            while i < len(lines) and size < want:
                piece.append(lines[i])
                size += len(lines[i]) + 1
                i += 1
            text = "\n".join(piece)
            if len(text.strip()) < 20:
                continue
            try:
                clean = not self.index.test(text, exact=True).hits
            except AttributionInputError:
                clean = True  # under one chunk after normalization: nothing to overlap
            if clean:
                return text
            self.rejected += 1
        raise RuntimeError("no clean filler found in 1000 tries; use a smaller --limit-mb so more "
                           "of the shards lies beyond the prefix")


@dataclass
class Query:
    """A query text and its planted span: raw ``[start, end)`` and the source it came from."""

    text: str
    start: int
    end: int
    sha: str = ""
    doc_start: int = 0
    doc_end: int = 0


def plant_queries(docs: dict[str, str], filler: FillerSource, rng: random.Random, n: int) -> list[Query]:
    shas = [s for s in sorted(docs) if len(docs[s].strip()) >= SPAN_CHARS[0]]
    out = []
    while len(out) < n:
        sha = rng.choice(shas)
        doc = docs[sha]
        length = rng.randint(SPAN_CHARS[0], min(SPAN_CHARS[1], len(doc)))
        start = rng.randint(0, len(doc) - length)
        span = doc[start:start + length]
        if len(span.strip()) < 20:
            continue
        left, right = filler.piece(), filler.piece()
        text = left + "\n" + span + "\n" + right
        out.append(Query(text, len(left) + 1, len(left) + 1 + length, sha, start, start + length))
    return out


def sized(q: Query, size: int, filler: FillerSource) -> Query:
    """``q`` cut to ``size`` raw characters around its planted span, or padded with filler."""
    text, start, end = q.text, q.start, q.end
    while len(text) < size:
        text = text + "\n" + filler.piece()
    center = (start + end) // 2
    lo = min(max(0, center - size // 2), len(text) - size)
    return Query(text[lo:lo + size], max(start - lo, 0), min(end - lo, size), q.sha)


def trimmed(text: str, a: int, b: int) -> tuple[int, int]:
    """``[a, b)`` without whitespace at its edges. Ours never starts or ends a span on the
    whitespace between words or lines; a suffix array does, so both are compared trimmed."""
    while a < b and text[a] in " \n":
        a += 1
    while b > a and text[b - 1] in " \n":
        b -= 1
    return a, b


def planted_range(norm, q: Query) -> tuple[int, int]:
    """Normalized ``[a, b)`` of the planted raw range, edge whitespace trimmed (may be empty)."""
    a = int(np.searchsorted(norm.raw_starts, q.start, "left"))
    b = int(np.searchsorted(norm.raw_starts, q.end, "left"))
    return trimmed(norm.text, a, b)


def _extends(q: str, i: int, d: str, j: int, step: int) -> bool:
    """Whether a match ending before ``q[i]``/``d[j]`` (``step`` 1) or starting after them
    (``step`` -1) extends by a character other than one edge whitespace (see ``trimmed``)."""
    def same(i, j):
        return 0 <= i < len(q) and 0 <= j < len(d) and q[i] == d[j]
    if not same(i, j):
        return False
    return q[i] not in " \n" or same(i + step, j + step)


# -- our side ----------------------------------------------------------------------------------
def build_ours(shards: list[Path], out: Path) -> dict:
    from indexer.build import build_index

    t0 = time.perf_counter()
    manifest = build_index(shards, out, progress=False)
    seconds = time.perf_counter() - t0
    counts = manifest["counts"]
    return {"seconds": seconds, "docs": counts["docs_read"], "contents": counts["documents"],
            "content_bytes": counts["content_bytes"], "index_bytes": dir_bytes(out),
            "store_bytes": dir_bytes(out / "store"), "membership_bytes": dir_bytes(out / "membership"),
            "bloom_bytes": (out / "membership" / "bloom.bin").stat().st_size,
            "chunk_log_bytes": dir_bytes(out / "membership" / "chunks"),
            "sequence_log_bytes": dir_bytes(out / "membership" / "sequences"),
            "span_index_bytes": (out / "membership" / "spans.chunksa").stat().st_size,
            "span_text_bytes": (out / "membership" / "spans.text").stat().st_size,
            "sketch": manifest.get("configs", {}).get("membership", {})}


def chunk_terms_bytes(shards: list[Path], ours: dict, out: Path) -> dict:
    """Size of the store's chunk terms: the same shards built again without the membership
    sketch (``--no-membership``); the difference of the two stores is the chunk terms."""
    from indexer.build import BuildConfig, build_index

    t0 = time.perf_counter()
    build_index(shards, out, progress=False, config=BuildConfig(membership=False))
    search_only = dir_bytes(out / "store")
    return {"bytes": max(ours["store_bytes"] - search_only, 0), "search_only_store_bytes": search_only,
            "search_only_seconds": time.perf_counter() - t0}


def check_ours(index, q: Query, docs: dict[str, str], normalized: dict) -> dict:
    """Run ``attribute`` on ``q`` and check recall (planted range) and precision (sources)."""
    from membership.chunks import normalize

    res = index.attribute(q.text, min_length=MIN_LENGTH)
    norm = normalize(q.text)
    a, b = planted_range(norm, q)
    spans, bad, maximal = [], [], 0
    for s in res.spans:
        qs = int(np.searchsorted(norm.raw_starts, s.start, "left"))
        qe = qs + s.normalized_length
        problems = []
        if qs >= len(norm) or qe > len(norm) or norm.raw_span(qs, qe) != (s.start, s.end):
            problems.append(f"raw [{s.start}, {s.end}) is not normalized [{qs}, {qe})")
            qe = min(qe, len(norm))
        want = norm.text[qs:qe]
        if not s.sources:
            problems.append("no source listed")
        is_max = False
        for src in s.sources:
            if src.sha not in normalized:
                if src.sha not in docs:
                    problems.append(f"source {src.sha} is not a corpus content")
                    continue
                normalized[src.sha] = normalize(docs[src.sha])
            dn = normalized[src.sha]
            ds = int(np.searchsorted(dn.raw_starts, src.start, "left"))
            de = ds + (qe - qs)
            if de > len(dn) or dn.text[ds:de] != want or dn.raw_span(ds, de) != (src.start, src.end):
                where = dn.text.find(want)
                problems.append(f"{src.repo}/{src.path} [{src.start}, {src.end}) does not hold the span"
                                + (f" (it does at normalized {where})" if where >= 0 else " anywhere"))
                continue
            is_max |= (not _extends(norm.text, qs - 1, dn.text, ds - 1, -1)
                       and not _extends(norm.text, qe, dn.text, de, 1))
        maximal += is_max
        spans.append((qs, qe))
        if problems:
            bad.append({"start": s.start, "end": s.end, "normalized": [qs, qe], "problems": problems})
    found = [sp for sp in spans if sp[0] <= a and b <= sp[1]] if b > a else []
    return {"planted": [a, b], "planted_len": b - a, "found": bool(found),
            "containing": max(found, key=lambda sp: sp[1] - sp[0]) if found else None,
            "spans": len(spans), "verbatim": len(spans) - len(bad), "maximal": maximal,
            "outside": sum(1 for qs, qe in spans if qe <= a or qs >= b),
            "bad_spans": bad, "reported": spans}


# -- infini-gram -------------------------------------------------------------------------------
def peer_available() -> str | None:
    """None if infini-gram can run here, else why not."""
    try:
        import infini_gram.engine  # noqa: F401
        import infini_gram.indexing  # noqa: F401
    except ImportError as e:
        return f"infini-gram is not installed ({e}); pip install -e '.[bench]'"
    try:
        import transformers  # noqa: F401  (its indexing script imports it even without a tokenizer)
    except ImportError as e:
        return f"infini-gram's indexer needs transformers ({e}); pip install -e '.[bench]'"
    return None


def write_peer_corpus(docs: dict[str, str], data_dir: Path) -> dict:
    """The contents as JSON lines, normalized, with their sha as metadata."""
    from membership.chunks import normalize_text

    data_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    replaced = nbytes = 0
    with open(data_dir / "corpus.jsonl", "w", encoding="utf-8") as f:
        for sha, content in docs.items():
            text = normalize_text(content)
            try:
                nbytes += len(text.encode("utf-8"))
            except UnicodeEncodeError:  # lone surrogates: infini-gram encodes strictly
                text = text.encode("utf-8", "replace").decode("utf-8")
                nbytes += len(text.encode("utf-8"))
                replaced += 1
            f.write(json.dumps({"text": text, "sha": sha}) + "\n")
    return {"seconds": time.perf_counter() - t0, "bytes": nbytes, "docs": len(docs),
            "docs_with_surrogates_replaced": replaced}


def build_peer(data_dir: Path, save_dir: Path, log_path: Path) -> dict:
    """Run infini-gram's indexer (u8 tokens, no tokenizer) and time it end to end."""
    nproc = len(os.sched_getaffinity(0))
    avail_gib = 4
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            avail_gib = int(line.split()[1]) // (1 << 20)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    ulimit = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    cmd = [sys.executable, "-m", "infini_gram.indexing", "--data_dir", str(data_dir.resolve()),
           "--save_dir", str(save_dir.resolve()), "--token_dtype", "u8", "--version", "4",
           "--add_metadata", "--cpus", str(nproc), "--mem", str(max(1, avail_gib // 2)),
           "--ulimit", str(ulimit)]
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    log_text = log_path.read_text(errors="replace")
    ok = proc.returncode == 0 and (save_dir / "table.0").exists() and "went wrong" not in log_text
    m = re.search(r"Step 2 \(build_sa\): Done\. Took ([0-9.]+) seconds", log_text)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import infini_gram.indexing, transformers"], check=False)
    startup = time.perf_counter() - t0
    files = {p.name: p.stat().st_size for p in save_dir.iterdir() if p.is_file()} if ok else {}
    return {"ok": ok, "returncode": proc.returncode, "seconds": seconds, "command": cmd,
            "sa_seconds": float(m.group(1)) if m else None, "startup_seconds": startup,
            "index_bytes": sum(files.values()), "files": files,
            "log_tail": "\n".join(log_text.splitlines()[-15:]) if not ok else ""}


class Peer:
    """An opened infini-gram index and the raw bytes of its text, for checks."""

    def __init__(self, save_dir: Path):
        from infini_gram.engine import InfiniGramEngine

        # Prefetching (madvise ahead of the binary search) is for indexes on disk; here the
        # index is in the page cache and prefetching made attribute ~3x slower in a trial.
        self.engine = InfiniGramEngine(index_dir=str(save_dir), eos_token_id=PEER_EOS,
                                       vocab_size=PEER_VOCAB, version=4, token_dtype="u8",
                                       ds_prefetch_depth=0, sa_prefetch_depth=0, od_prefetch_depth=0)
        self._file = open(save_dir / "tokenized.0", "rb")
        self.ds = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)

    def attribute(self, text: str) -> tuple[bytes, list[dict]]:
        from membership.chunks import normalize_text

        qb = normalize_text(text).encode("utf-8", "replace")
        res = self.engine.attribute(list(qb), [], MIN_LENGTH, PEER_MAX_CNT, False)
        if "error" in res:
            raise RuntimeError(f"infini-gram attribute: {res['error']}")
        return qb, res["spans"]

    def sources(self, spans: list[dict]) -> list[dict]:
        """The metadata of up to ``MAX_SOURCES`` documents per span (what our ``attribute``
        lists). The wrapper's ``get_docs_by_ptrs_2`` rejects odd byte offsets (it assumes u16
        tokens), so the engine's own method is called."""
        requests = [(d["s"], d["ptr"], sp["length"], 0) for sp in spans for d in sp["docs"][:MAX_SOURCES]]
        docs = self.engine.engine.get_docs_by_ptrs_2(requests=requests) if requests else []
        return [json.loads(d.metadata) for d in docs]

    def timed(self, text: str, repeat: int) -> tuple[float, float]:
        """Median ms of ``attribute`` alone and with ``sources``, after one warm-up call."""
        def once():
            t0 = time.perf_counter()
            _, spans = self.attribute(text)
            t1 = time.perf_counter()
            self.sources(spans)
            return (t1 - t0) * 1e3, (time.perf_counter() - t0) * 1e3
        once()
        runs = [once() for _ in range(repeat)]
        return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)

    def close(self):
        self.ds.close()
        self._file.close()


def char_span(qb: bytes, l: int, r: int, starts: np.ndarray) -> tuple[int, int]:
    """The characters wholly inside bytes ``[l, r)`` of the UTF-8 ``qb`` (``starts``: byte
    offset of each character, plus the total)."""
    return int(np.searchsorted(starts, l, "left")), int(np.searchsorted(starts, r, "right")) - 1


def check_peer(peer: Peer, q: Query) -> dict:
    from membership.chunks import normalize

    qb, spans = peer.attribute(q.text)
    norm = normalize(q.text)
    a, b = planted_range(norm, q)
    lens = np.fromiter((len(c.encode("utf-8", "replace")) for c in norm.text), np.int64, len(norm.text))
    starts = np.concatenate(([0], np.cumsum(lens)))
    reported, bad = [], []
    for sp in spans:
        l, r = sp["l"], sp["r"]
        want = qb[l:r]
        wrong = [d["ptr"] for d in sp["docs"][:MAX_SOURCES] if peer.ds[d["ptr"]:d["ptr"] + r - l] != want]
        if wrong or not sp["docs"]:
            bad.append({"l": l, "r": r, "wrong_ptrs": wrong[:5]})
        reported.append(trimmed(norm.text, *char_span(qb, l, r, starts)))
    found = [sp for sp in reported if sp[0] <= a and b <= sp[1]] if b > a else []
    return {"planted": [a, b], "planted_len": b - a, "found": bool(found),
            "containing": max(found, key=lambda sp: sp[1] - sp[0]) if found else None,
            "spans": len(reported), "verbatim": len(reported) - len(bad),
            "outside": sum(1 for qs, qe in reported if qe <= a or qs >= b),
            "bad_spans": bad, "reported": reported}


# -- measurement -------------------------------------------------------------------------------
def timed(fn, repeat: int) -> float:
    """Median ms of ``repeat`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def summarize_checks(rows: list[dict], guaranteed: int) -> dict:
    long_ = [r for r in rows if r["planted_len"] >= guaranteed]
    short = [r for r in rows if 0 < r["planted_len"] < guaranteed]
    spans = sum(r["spans"] for r in rows)
    verbatim = sum(r["verbatim"] for r in rows)
    out = {"queries": len(rows), "long": len(long_), "long_found": sum(r["found"] for r in long_),
           "short": len(short), "short_found": sum(r["found"] for r in short),
           "spans": spans, "verbatim": verbatim, "outside": sum(r["outside"] for r in rows)}
    if rows and "maximal" in rows[0]:
        out["maximal"] = sum(r["maximal"] for r in rows)
    if rows and "peer_long" in rows[0]:
        out["peer_long"] = sum(r["peer_long"] for r in rows)
        out["peer_long_covered"] = sum(r["peer_long_covered"] for r in rows)
    return out


def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:.1f}% ({num}/{den})" if den else "n/a"


def _mb(n: int | None) -> str:
    return f"{n / 1e6:.1f}" if n is not None else ""


def report(info: dict, corpus: dict, build: dict, checks: dict, latency: dict, peer_note: str | None,
           guaranteed: int) -> str:
    ours, peer = build["ours"], build.get("peer")
    content = ours["content_bytes"]
    extra = ours["membership_bytes"] + build["chunk_terms"]["bytes"]
    lines = [machine_line(info) + (f"; infini-gram {info['infini_gram']}" if info.get("infini_gram") else ""),
             f"corpus: {corpus['mb']:.1f} MB in {corpus['contents']} unique contents "
             f"({corpus['docs']} documents, prefix of {len(corpus['shards'])} shard(s)); filler from "
             f"{corpus['filler_docs']} documents beyond the prefix ({corpus['filler_tried']} pieces "
             f"drawn, {corpus['filler_rejected']} rejected as held by the corpus); seed {corpus['seed']}",
             ""]
    if peer_note:
        lines += [f"**infini-gram not run:** {peer_note}", ""]

    # build and size
    rows = [["StarScope `build_index` (store + membership)", f"{ours['seconds']:.1f}",
             _mb(ours["index_bytes"]), f"{ours['index_bytes'] / content:.2f}x"],
            ["  of which `membership/` (Bloom, chunk-hash and sequence logs, span index and text)", "",
             _mb(ours["membership_bytes"]), f"{ours['membership_bytes'] / content:.3f}x"],
            ["    of which the span index (`spans.chunksa`) / its text (`spans.text`) / the sequence log", "",
             f"{_mb(ours['span_index_bytes'])} / {_mb(ours.get('span_text_bytes'))} / "
             f"{_mb(ours['sequence_log_bytes'])}", ""],
            ["  of which chunk terms in the store (store size less a --no-membership build's)", "", _mb(build["chunk_terms"]["bytes"]),
             f"{build['chunk_terms']['bytes'] / content:.3f}x"],
            ["  **membership extra** (the two above)", "", _mb(extra), f"{extra / content:.3f}x"]]
    if peer and peer["ok"]:
        prep = build["peer_prep"]
        total = prep["seconds"] + peer["seconds"]
        files = peer["files"]
        rows += [["infini-gram: write normalized JSON lines", f"{prep['seconds']:.1f}", _mb(prep["bytes"]), ""],
                 [f"infini-gram: indexing script (suffix array {peer['sa_seconds'] or 0:.1f} s; "
                  f"interpreter + imports {peer['startup_seconds']:.1f} s)", f"{peer['seconds']:.1f}",
                  _mb(peer["index_bytes"]), f"{peer['index_bytes'] / content:.2f}x"],
                 ["  of which text (`tokenized.0`) / suffix array (`table.0`)", "",
                  f"{_mb(files.get('tokenized.0', 0))} / {_mb(files.get('table.0', 0))}", ""],
                 ["infini-gram total", f"{total:.1f}", _mb(peer["index_bytes"]),
                  f"{peer['index_bytes'] / content:.2f}x"]]
    lines += [markdown_table(["build", "seconds", "MB on disk", "x content"], rows), ""]

    # targets
    targets = []
    if peer and peer["ok"]:
        total = build["peer_prep"]["seconds"] + peer["seconds"]
        r_size = extra / peer["index_bytes"]
        r_build = total / ours["seconds"]
        targets += [["membership extra / infini-gram index size", f"{r_size:.3f}", "<= 0.10",
                     "yes" if r_size <= 0.10 else "**no**"],
                    ["build speed: infini-gram total s / ours s (ours includes the full-text store)",
                     f"{r_build:.2f}x", ">= 3x", "yes" if r_build >= 3 else "**no**"]]
    for size in SIZES:
        lat = latency.get(size, {})
        if "peer_sources" in lat:
            r = percentile(lat["peer_sources"], 50) / percentile(lat["ours"], 50)
            targets.append([f"attribute p50 at {size // 1024} KB: infini-gram (with sources) / ours",
                            f"{r:.2f}x", ">= 2x", "yes" if r >= 2 else "**no**"])
    if SIZES[-1] in latency:
        p50 = percentile(latency[SIZES[-1]]["test"], 50)
        targets.append([f"Bloom-only `test()` p50 at {SIZES[-1] // 1024} KB", f"{p50:.2f} ms", "< 5 ms",
                        "yes" if p50 < 5 else "**no**"])
    lines += [markdown_table(["target", "measured", "target", "met"], targets), ""]

    # recall / precision
    rows = []
    for name, key in (("StarScope attribute", "ours"), ("infini-gram attribute", "peer")):
        for label, s in checks.get(key, {}).items():
            rows.append([name, label, s["queries"], _pct(s["long_found"], s["long"]),
                         _pct(s["short_found"], s["short"]), s["spans"], _pct(s["verbatim"], s["spans"]),
                         _pct(s["maximal"], s["spans"]) if "maximal" in s else "by construction",
                         s["outside"],
                         _pct(s["peer_long_covered"], s["peer_long"]) if "peer_long" in s else ""])
    lines += [markdown_table(["system", "inputs", "queries", f"recall, planted >= {guaranteed} chars",
                              f"recall, planted < {guaranteed} chars", "spans reported",
                              "precision (verbatim in listed sources)",
                              "maximal in a listed source", "spans outside the planted range",
                              f"infini-gram's spans >= {guaranteed} chars that ours covers"], rows)]
    if "agreement" in checks:
        ag = checks["agreement"]
        lines += ["", f"Planted spans found by both: the containing span has the same boundaries in "
                      f"{_pct(ag['same'], ag['both'])}; ours longer in {ag['ours_longer']}, "
                      f"infini-gram's longer in {ag['peer_longer']}, partly different in {ag['other']}."]
    lines.append("")

    # latency
    rows = []
    for size in SIZES:
        lat = latency.get(size)
        if not lat:
            continue
        p = {k: (percentile(v, 50), percentile(v, 99)) for k, v in lat.items() if isinstance(v, list) and v}
        label = f"{size // 1024} KB"
        rows.append([label, "StarScope `attribute`", len(lat["ours"]), f"{p['ours'][0]:.1f}",
                     f"{p['ours'][1]:.1f}", "1.00", "1.00"])
        for key, name in (("peer", "infini-gram `attribute`"),
                          ("peer_sources", "infini-gram `attribute` + sources")):
            if key in p:
                rows.append([label, name, len(lat[key]), f"{p[key][0]:.1f}", f"{p[key][1]:.1f}",
                             f"{p[key][0] / p['ours'][0]:.2f}", f"{p[key][1] / p['ours'][1]:.2f}"])
        if "test" in p:
            rows.append([label, "StarScope Bloom-only `test`", len(lat["test"]), f"{p['test'][0]:.2f}",
                         f"{p['test'][1]:.2f}", "", ""])
    note = (f"Median of {latency.get('repeat')} timed runs per input after a warm-up, p50/p99 over "
            f"inputs. Ours: `min_length={MIN_LENGTH}` normalized characters, defaults otherwise "
            "(one Python thread).")
    if peer and peer["ok"]:
        note += (f" Sides alternate per input. infini-gram: byte-level suffix array of the normalized "
                 f"contents, queries normalized first (included in its time), min_len {MIN_LENGTH} "
                 f"bytes, every count, prefetching off; \"+ sources\" adds `get_docs_by_ptrs_2` for up "
                 f"to {MAX_SOURCES} documents per span with their metadata (our `attribute` returns up "
                 f"to {MAX_SOURCES} sources per span); its engine starts a thread per query position.")
    lines += [markdown_table(["input", "call", "inputs", "p50 ms", "p99 ms", "p50 / ours attribute",
                              "p99 / ours attribute"], rows), "", note]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Attribution side by side with infini-gram on a prefix of the shards: build "
                    "time and size, recall and precision on planted spans, attribute() latency; "
                    "prints markdown tables and exits 1 if our precision or recall (planted spans "
                    "of 99+ normalized characters) is below 100%.")
    parser.add_argument("--shards", type=Path, nargs="+", required=True,
                        help="shard files or directories (Stack-format parquet); the prefix is "
                             "indexed, documents beyond it give the filler")
    parser.add_argument("--limit-mb", type=float, default=50.0,
                        help="index a prefix of the shards holding this many MB of content (default 50)")
    parser.add_argument("--queries", type=int, default=100, help="planted-span queries (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per latency input (default 3)")
    parser.add_argument("--seed", type=int, default=20240611, help="query sampling seed")
    parser.add_argument("--tmp-dir", type=Path, default=None, help="where temporary files go")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the raw numbers here")
    parser.add_argument("--skip-peer", action="store_true", help="run ours alone (no infini-gram)")
    args = parser.parse_args(argv)
    if args.queries < 1 or args.repeat < 1 or args.limit_mb <= 0:
        parser.error("--queries and --repeat must be >= 1 and --limit-mb > 0")

    from indexer.index_dir import IndexDir
    from membership.attribution import AttributionInputError
    from membership.chunks import ChunkConfig

    guaranteed = ChunkConfig().guaranteed_overlap
    info = machine_info()
    peer_note = "--skip-peer given" if args.skip_peer else peer_available()
    if peer_note is None:
        from importlib.metadata import version

        info["infini_gram"] = version("infini-gram")
    else:
        print(f"infini-gram not run: {peer_note}", file=sys.stderr)
    rng = random.Random(args.seed)
    failures: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="starscope-attr-", dir=args.tmp_dir) as tmp:
        work = Path(tmp)
        shards = resolve_shards(args.shards, args.limit_mb, work)
        from indexer.build import BuildConfig

        docs = load_unique(shards, BuildConfig().max_doc_bytes)
        print(f"building our index of {len(shards)} shard(s)...", file=sys.stderr)
        build = {"ours": build_ours(shards, work / "ours")}
        build["chunk_terms"] = chunk_terms_bytes(shards, build["ours"], work / "search-only")
        if build["ours"]["contents"] != len(docs):
            print(f"ERROR: the index holds {build['ours']['contents']} contents, the shards give "
                  f"{len(docs)}", file=sys.stderr)
            return 2
        peer = None
        if peer_note is None:
            print("building infini-gram's index...", file=sys.stderr)
            build["peer_prep"] = write_peer_corpus(docs, work / "peer-data")
            build["peer"] = build_peer(work / "peer-data", work / "peer-index", work / "peer-index.log")
            if build["peer"]["ok"]:
                peer = Peer(work / "peer-index")
            else:
                peer_note = (f"its indexer failed (exit {build['peer']['returncode']}):\n"
                             + build["peer"]["log_tail"])
                print(f"infini-gram not run: {peer_note}", file=sys.stderr)

        index = IndexDir(work / "ours").membership()
        fill_docs = filler_documents(args.shards, set(docs), FILLER_POOL)
        if not fill_docs:
            print("ERROR: no documents beyond the prefix for filler; lower --limit-mb", file=sys.stderr)
            return 2
        filler = FillerSource(fill_docs, index, rng)
        print(f"planting {args.queries} queries...", file=sys.stderr)
        queries = plant_queries(docs, filler, rng, args.queries)
        inputs = {"planted": queries}
        for size in SIZES:
            inputs[f"{size // 1024} KB"] = [sized(q, size, filler) for q in queries]
        corpus = {"shards": [str(s) for s in shards], "docs": build["ours"]["docs"], "contents": len(docs),
                  "mb": build["ours"]["content_bytes"] / 1e6, "filler_docs": len(fill_docs),
                  "filler_tried": filler.tried, "filler_rejected": filler.rejected, "seed": args.seed}

        # sanity of the planted set: the planted range is verbatim in its source, normalized
        from membership.chunks import normalize, normalize_text

        for q in queries:
            norm = normalize(q.text)
            a, b = planted_range(norm, q)
            if norm.text[a:b] not in normalize_text(docs[q.sha]):
                raise RuntimeError(f"bench bug: planted span of {q.sha} [{q.doc_start}, {q.doc_end}) "
                                   "is not verbatim in its source after normalization")

        print("checking recall and precision...", file=sys.stderr)
        normalized: dict = {}
        checks: dict = {"ours": {}, "peer": {}}
        per_query: dict = {}
        for label, qs in inputs.items():
            rows_ours, rows_peer = [], []
            for i, q in enumerate(qs):
                try:
                    r = check_ours(index, q, docs, normalized)
                except AttributionInputError as e:
                    r = {"planted": [0, 0], "planted_len": 0, "found": False, "spans": 0, "verbatim": 0,
                         "maximal": 0, "outside": 0, "bad_spans": [], "reported": [], "error": str(e)}
                rows_ours.append(r)
                missed = r["planted_len"] >= guaranteed and not r["found"]
                if missed or r["bad_spans"]:
                    failures.append({"inputs": label, "query": i, "sha": q.sha, "doc_range": [q.doc_start, q.doc_end],
                                     "planted_raw": [q.start, q.end], "planted_normalized": r["planted"],
                                     "missed": missed, "reported": r["reported"], "bad_spans": r["bad_spans"],
                                     "text": q.text})
                if peer:
                    rp = check_peer(peer, q)
                    rows_peer.append(rp)
                    # infini-gram's spans are every maximal span: each of 99+ chars must be ours too
                    long_peer = [sp for sp in rp["reported"] if sp[1] - sp[0] >= guaranteed]
                    uncovered = [sp for sp in long_peer
                                 if not any(a <= sp[0] and sp[1] <= b for a, b in r["reported"])]
                    r["peer_long"], r["peer_long_covered"] = len(long_peer), len(long_peer) - len(uncovered)
                    if uncovered:
                        failures.append({"inputs": label, "query": i, "sha": q.sha,
                                         "doc_range": [q.doc_start, q.doc_end], "planted_raw": [q.start, q.end],
                                         "planted_normalized": r["planted"], "missed": True,
                                         "missed_peer_spans": uncovered, "reported": r["reported"],
                                         "bad_spans": r["bad_spans"], "text": q.text})
            checks["ours"][label] = summarize_checks(rows_ours, guaranteed)
            per_query[label] = {"ours": rows_ours}
            if peer:
                checks["peer"][label] = summarize_checks(rows_peer, guaranteed)
                per_query[label]["peer"] = rows_peer
        if peer:
            ag = Counter()
            for ro, rp in zip(per_query["planted"]["ours"], per_query["planted"]["peer"]):
                if ro["containing"] and rp["containing"]:
                    ag["both"] += 1
                    (o0, o1), (p0, p1) = ro["containing"], rp["containing"]
                    if (o0, o1) == (p0, p1):
                        ag["same"] += 1
                    elif o0 <= p0 and p1 <= o1:
                        ag["ours_longer"] += 1
                    elif p0 <= o0 and o1 <= p1:
                        ag["peer_longer"] += 1
                    else:
                        ag["other"] += 1
            checks["agreement"] = {k: ag[k] for k in ("both", "same", "ours_longer", "peer_longer", "other")}

        print("timing...", file=sys.stderr)
        latency: dict = {"repeat": args.repeat}
        for size in SIZES:
            lat = {"ours": [], "test": []}
            if peer:
                lat.update(peer=[], peer_sources=[])
            for q in inputs[f"{size // 1024} KB"]:
                try:
                    lat["ours"].append(timed(lambda: index.attribute(q.text, min_length=MIN_LENGTH), args.repeat))
                    if size == SIZES[-1]:
                        lat["test"].append(timed(lambda: index.test(q.text), args.repeat))
                except AttributionInputError:
                    continue
                if peer:
                    alone, with_sources = peer.timed(q.text, args.repeat)
                    lat["peer"].append(alone)
                    lat["peer_sources"].append(with_sources)
            if not lat["test"]:
                del lat["test"]
            latency[size] = lat
        if peer:
            peer.close()

    print(report(info, corpus, build, checks, latency, peer_note, guaranteed))
    if failures:
        print(f"\n**{len(failures)} failing case(s) of ours:**")
        for f in failures:
            if "missed_peer_spans" in f:
                what = f"missed infini-gram's span(s) (normalized) {f['missed_peer_spans']}"
            else:
                what = "missed the planted span" if f["missed"] else "non-verbatim span(s)"
            print(f"- [{f['inputs']} #{f['query']}] {what}: planted from {f['sha']} raw "
                  f"{f['doc_range']}, at query raw {f['planted_raw']} = normalized "
                  f"{f['planted_normalized']}; ours reported (normalized) {f['reported']}"
                  + (f"; problems {f['bad_spans']}" if f["bad_spans"] else ""))
    if args.json_out:
        args.json_out.write_text(json.dumps({
            "machine": info, "corpus": corpus, "build": build, "checks": checks,
            "latency": {str(k): v for k, v in latency.items()}, "peer_note": peer_note,
            "failures": failures,
            "queries": [{"sha": q.sha, "doc_range": [q.doc_start, q.doc_end], "planted_raw": [q.start, q.end],
                         "length": len(q.text)} for q in queries],
            "per_query": per_query}, indent=1, default=str))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
