"""Membership at memory speed: the blocked Bloom filter (format 2) against the classic layout it
replaced (format 1), on one index, in one run.

The index's own filter (``<index>/membership/bloom.bin``) is ours. The peer is the format 1
layout, kept here only (the package no longer reads it): double hashing (Kirsch and
Mitzenmacher) over the whole filter, ``h1 = fmix64(x ^ seed)``, ``h2 = fmix64(h1 ^ golden) | 1``,
bit ``i`` at ``(h1 + i h2) mod m``, sized by the classic formula (``m = -n ln p / (ln 2)^2``,
``k = round(m / n ln 2)``) for the index's rate, filled from the same chunk log, so both hold
the same hashes. It is timed beside ours on the same inputs:

* **filter only**: ``contains`` over the window hashes of each input (hashes computed once);
* **membership**: the whole Bloom-only ``MembershipIndex.test(text)`` (normalize, hash every
  window, probe, chain hits into spans, build the answer) with our filter, and with the peer's
  put in its place (the same code around it).

Inputs (``--n`` of each, ``--seed``): 4 KB windows of stored documents (corpus), 4 KB windows of
files under ``--novel`` that the exact membership test finds nowhere in the corpus (novel), and
2 KB of each (half). Each input runs once per side to warm up, then ``--repeat`` times with the
sides alternating; p50/p90/p99 are over the per-input medians.

``--pad-to N`` repeats both calls with both filters sized for, and holding, ``N`` chunks (the
index's and seeded random ones): filters larger than the last-level cache, where the classic
layout's k scattered reads per hash go to memory.

``--root DIR`` also times ``MembershipIndex.test`` as the code of another checkout runs it (the
code before a change: ``git worktree add DIR main``), in a subprocess, on the same inputs, over
a copy of the index whose filter is the peer's written in format 1 (the store and the chunk log
are linked, not copied); each input goes to it right after our two sides have run it.

False positives: ``measure_fpr`` with ``--probes`` random hashes for every filter against its
theory (ours: the blocked rate, ``BloomConfig.theoretical_fpr``; the peer's: the classic
``(1 - e^(-kn/m))^k``), with the number of standard deviations between them; and the windows of
the novel inputs that each filter reports present (all of them false positives: the exact test
confirmed none).

    .venv/bin/python bench/membership_bench.py --index var/demo/index
    .venv/bin/python bench/membership_bench.py --index var/demo/index --novel /usr/include --n 150
    .venv/bin/python bench/membership_bench.py --index var/demo/index --root /tmp/starscope-main

Pure measurement: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_throughput import ROOT, machine_info, machine_line, markdown_table  # noqa: E402
from search_latency import percentile  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from membership.bloom import fmix64  # noqa: E402

SIZE = 4096
_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)


class ClassicBloom:
    """The format 1 layout (StarScope before the blocked filter), for comparison only."""

    def __init__(self, n_items: int, fpr: float, seed: int):
        n = max(1, n_items)
        bits = math.ceil(-n * math.log(fpr) / math.log(2) ** 2)
        self.bits = -(-bits // 64) * 64
        self.hashes = max(1, round(self.bits / n * math.log(2)))
        self.seed = seed
        self.words = np.zeros(self.bits // 64, dtype=_U64)
        self.items = 0

    def _positions(self, hashes: np.ndarray):
        m = _U64(self.bits)
        h1 = fmix64(hashes ^ _U64(self.seed))
        h2 = fmix64(h1 ^ _GOLDEN)
        h2 |= _U64(1)
        pos = h1
        for i in range(self.hashes):
            yield pos % m
            if i + 1 < self.hashes:
                pos += h2

    def add(self, hashes: np.ndarray) -> None:
        for start in range(0, len(hashes), 1 << 20):
            for pos in self._positions(hashes[start:start + (1 << 20)]):
                np.bitwise_or.at(self.words, (pos >> _U64(6)).astype(np.intp), _U64(1) << (pos & _U64(63)))
        self.items += len(hashes)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        hit = np.ones(len(hashes), dtype=bool)
        for pos in self._positions(hashes):
            word = self.words[(pos >> _U64(6)).astype(np.intp)]
            hit &= ((word >> (pos & _U64(63))) & _U64(1)).astype(bool)
        return hit

    def theoretical_fpr(self, n_items: int) -> float:
        return (1.0 - math.exp(-self.hashes * n_items / self.bits)) ** self.hashes

    def save_format_1(self, path: Path, chunk: dict) -> None:
        """The file StarScope wrote before the blocked filter (magic, JSON header, padding, words)."""
        import struct

        import xxhash

        header = json.dumps({"format_version": 1, "bits": self.bits, "hashes": self.hashes, "seed": self.seed,
                             "chunk": chunk, "items": self.items,
                             "checksum": xxhash.xxh3_64(self.words.tobytes()).hexdigest()}, sort_keys=True).encode()
        head = b"SSBLOOM\x01" + struct.pack("<I", len(header)) + header
        path.write_bytes(head + b"\0" * (-len(head) % 8) + self.words.astype("<u8").tobytes())

    def measure_fpr(self, n_probes: int, seed: int) -> float:
        rng = np.random.default_rng(seed)
        hits = 0
        for start in range(0, n_probes, 1 << 20):
            probes = rng.integers(0, 1 << 64, size=min(1 << 20, n_probes - start), dtype=_U64)
            hits += int(np.count_nonzero(self.contains(probes)))
        return hits / n_probes


def corpus_texts(store, rng: random.Random, n: int) -> list[str]:
    """4 KB windows of stored documents (at most five documents per repository)."""
    docs = []
    for repo, _ in store.repos("", limit=1000):
        docs += store.docs_with_terms("repo", [repo], limit=5)
    big = sorted((d.content for d in docs if len(d.content) >= 2 * SIZE), key=len)
    out = []
    for text in rng.sample(big, min(n, len(big))):
        s = rng.randrange(0, len(text) - SIZE)
        out.append(text[s:s + SIZE])
    return out


def novel_texts(index, roots: list[Path], rng: random.Random, n: int, size: int = SIZE) -> list[str]:
    """Windows of files under ``roots`` that the exact membership test finds nowhere in the corpus."""
    files = sorted(p for root in roots for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                   and 2 * size <= p.stat().st_size <= 4_000_000)
    rng.shuffle(files)
    out = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        s = rng.randrange(0, len(text) - size)
        piece = text[s:s + size]
        if len(piece.split()) < size // 20:  # mostly whitespace or one long token: not code
            continue
        if not index.test(piece, exact=True).hits:
            out.append(piece)
            if len(out) == n:
                break
    return out


def timed_pair(fa, fb, repeat: int) -> tuple[float, float]:
    """Median ms of ``fa`` and ``fb`` over ``repeat`` alternating calls, after one warm-up each."""
    fa(), fb()
    ta, tb = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fa()
        t1 = time.perf_counter()
        fb()
        t2 = time.perf_counter()
        ta.append((t1 - t0) * 1e3)
        tb.append((t2 - t1) * 1e3)
    return statistics.median(ta), statistics.median(tb)


# Run by the other checkout's Python path: one line in (a text, as JSON), one line out (the
# median ms of its test after a warm-up call), so that its calls alternate with ours.
OTHER_CHECKOUT = r"""
import json, statistics, sys, time
try:  # an index directory's membership, as that checkout opens it
    from indexer.index_dir import IndexDir
    index = IndexDir(sys.argv[1]).membership()
except ImportError:  # before IndexDir (issue 17)
    from membership.attribution import MembershipIndex
    index = MembershipIndex.open(sys.argv[1])
repeat = int(sys.argv[2])
print("ready", flush=True)
for line in sys.stdin:
    text = json.loads(line)
    index.test(text)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        index.test(text)
        runs.append((time.perf_counter() - t0) * 1e3)
    print(statistics.median(runs), flush=True)
"""


class OtherCheckout:
    """``MembershipIndex.test`` as the code under ``root`` runs it, in a subprocess, on a copy of
    the index whose filter is ``peer`` written in format 1 (the store and chunk log linked)."""

    def __init__(self, root: Path, index_dir: Path, peer: ClassicBloom, meta: dict, repeat: int):
        self.tmp = tempfile.TemporaryDirectory(prefix="membership-bench-")
        copy = Path(self.tmp.name) / "index"
        copy.mkdir()
        for entry in index_dir.iterdir():
            if entry.name != "membership":
                (copy / entry.name).symlink_to(entry.resolve())
        (copy / "membership").mkdir()
        (copy / "membership" / "chunks").symlink_to((index_dir / "membership" / "chunks").resolve())
        peer.save_format_1(copy / "membership" / "bloom.bin", meta["chunks"])
        old = {k: v for k, v in meta.items() if k != "bloom_format"}
        old.update(bits=peer.bits, hashes=peer.hashes)
        (copy / "membership" / "sketch.json").write_text(json.dumps(old))
        self.proc = subprocess.Popen([sys.executable, "-c", OTHER_CHECKOUT, str(copy), str(repeat)], cwd=root,
                                     env={"PYTHONPATH": str(root.resolve())}, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the code under {root} could not open the format 1 copy of {index_dir}")

    def test_ms(self, text: str) -> float:
        self.proc.stdin.write(json.dumps(text) + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.tmp.cleanup()


def pcts(values: list[float]) -> dict:
    return {"n": len(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99)}


def fpr_row(bf, theory: float, items: int, probes: int, seed: int, novel_windows: list[np.ndarray]) -> dict:
    """Measured (random probes, and the windows of novel code) against theory, in σ."""
    measured = bf.measure_fpr(probes, seed=seed)
    windows = sum(len(w) for w in novel_windows)
    hits = sum(int(np.count_nonzero(bf.contains(w))) for w in novel_windows)
    sd = math.sqrt(theory * (1 - theory))
    bits = bf.config.bits if hasattr(bf, "config") else bf.bits
    return {"items": items, "bits_per_chunk": bits / items, "mb": bits / 8e6,
            "hashes": bf.config.hashes if hasattr(bf, "config") else bf.hashes,
            "theory": theory, "measured": measured, "sigmas": (measured - theory) / (sd / math.sqrt(probes)),
            "novel_windows": windows, "novel_hits": hits,
            "novel_sigmas": (hits / max(windows, 1) - theory) / (sd / math.sqrt(max(windows, 1)))}


def main(argv: list[str] | None = None) -> int:
    from indexer.stores import open_index
    from indexer.index_dir import IndexDir
    from membership.attribution import MembershipIndex
    from membership.bloom import BloomConfig, BloomFilter
    from membership.chunks import distinct, normalize, window_hashes
    from membership.sketch import ChunkLog, read_meta

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--novel", type=Path, nargs="+", default=[Path("/usr/include")],
                   help="trees of code the index does not hold (default /usr/include)")
    p.add_argument("--n", type=int, default=150, help="inputs of each kind")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--probes", type=int, default=2_000_000, help="random hashes for measure_fpr")
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--pad-to", type=int, nargs="*", default=[], metavar="N",
                   help="also compare both filters sized for and holding N chunks (the index's and random "
                        "ones): filters larger than the last-level cache")
    p.add_argument("--root", type=Path, help="also time MembershipIndex.test with the code of this checkout "
                                              "(before a change), on a copy of the index in format 1")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)

    store = open_index(args.index)
    store.warm()
    ours = IndexDir(args.index, store=store).membership()
    meta = read_meta(args.index)
    log = ChunkLog(args.index)
    hashes = distinct(np.concatenate([log.read(k) for k in log.keys()]))
    fpr_target, seed = meta["fpr"], ours.bloom.config.seed
    t0 = time.perf_counter()
    peer_filter = ClassicBloom(len(hashes), fpr_target, seed)
    peer_filter.add(hashes)
    print(f"  {len(hashes):,} chunks; peer filter filled in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    setups = {"index": (ours.bloom, peer_filter, len(hashes))}
    for n in args.pad_to:
        # Not the generator measure_fpr probes with (its seed is args.seed): those would all be members.
        extra = np.random.default_rng(args.seed + n).integers(0, 1 << 64, size=max(0, n - len(hashes)), dtype=_U64)
        mine = BloomFilter(BloomConfig.for_capacity(n, fpr_target, seed=seed, chunk=meta["chunks"]))
        classic = ClassicBloom(n, fpr_target, seed)
        for bf in (mine, classic):
            bf.add(hashes)
            bf.add(extra)
        setups[f"padded to {n:,} chunks"] = (mine, classic, len(hashes) + len(extra))
        print(f"  filters of {n:,} chunks filled", file=sys.stderr)

    rng = random.Random(args.seed)
    corpus = corpus_texts(store, rng, args.n)
    novel = novel_texts(ours, args.novel, rng, args.n)
    halves = novel_texts(ours, args.novel, rng, args.n, size=SIZE // 2) if novel else []
    kinds = {"corpus": corpus, "novel": novel,
             "half corpus, half novel": [c[:SIZE // 2] + "\n" + h for c, h in zip(corpus, halves)]}
    kinds = {k: v for k, v in kinds.items() if v}
    print("  inputs: " + ", ".join(f"{k} {len(v)}" for k, v in kinds.items()), file=sys.stderr)

    other = OtherCheckout(args.root, args.index, peer_filter, meta, args.repeat) if args.root else None
    latency: dict = {}
    for setup, (mine, classic, _) in setups.items():
        with_mine = MembershipIndex(store, mine, chunks=ours.chunks, sketch=meta)
        with_classic = MembershipIndex(store, classic, chunks=ours.chunks, sketch=meta)
        for kind, texts in kinds.items():
            rows = {"filter": ([], []), "test": ([], [])}
            root_ms = []
            for text in texts:
                windows = window_hashes(normalize(text).codes, ours.chunks)
                for call, fa, fb in (("filter", lambda: mine.contains(windows), lambda: classic.contains(windows)),
                                     ("test", lambda: with_mine.test(text), lambda: with_classic.test(text))):
                    a, b = timed_pair(fa, fb, args.repeat)
                    rows[call][0].append(a)
                    rows[call][1].append(b)
                if other and setup == "index":
                    root_ms.append(other.test_ms(text))
            latency.setdefault(setup, {})[kind] = {call: {"ours": pcts(a), "peer": pcts(b)}
                                                   for call, (a, b) in rows.items()}
            if root_ms:
                latency[setup][kind]["root"] = pcts(root_ms)
            print(f"  {setup}: {kind} done", file=sys.stderr)
    if other:
        other.close()

    novel_windows = [window_hashes(normalize(text).codes, ours.chunks) for text in kinds.get("novel", [])]
    fpr = {}
    for setup, (mine, classic, items) in setups.items():
        fpr[setup] = {
            "blocked (ours)": fpr_row(mine, mine.config.theoretical_fpr(items), items, args.probes, args.seed,
                                      novel_windows),
            "classic (format 1)": fpr_row(classic, classic.theoretical_fpr(items), items, args.probes, args.seed,
                                          novel_windows)}

    print(machine_line(machine_info()))
    print(f"index: {args.index} ({len(hashes):,} distinct chunks, rate {fpr_target}); ours blocked, "
          f"k = {ours.bloom.config.hashes}; peer classic, k = {peer_filter.hashes}; {args.repeat} runs per "
          f"input, sides alternating, percentiles over per-input medians")
    print()
    table = []
    for setup, by_kind in latency.items():
        for kind, calls in by_kind.items():
            for call, label in (("filter", "filter only (`contains`, hashes given)"),
                                ("test", "membership (`MembershipIndex.test`, Bloom-only)")):
                o, q = calls[call]["ours"], calls[call]["peer"]
                table.append([setup, kind, label, o["n"], f"{o['p50']:.3f} / {o['p90']:.3f} / {o['p99']:.3f}",
                              f"{q['p50']:.3f} / {q['p90']:.3f} / {q['p99']:.3f}", f"**{q['p50'] / o['p50']:.2f}×**"])
            if "root" in calls:
                o, r = calls["test"]["ours"], calls["root"]
                table.append([setup, kind, f"membership, the code of `{args.root}` (format 1)", r["n"], "",
                              f"{r['p50']:.3f} / {r['p90']:.3f} / {r['p99']:.3f}", f"**{r['p50'] / o['p50']:.2f}×**"])
    print(markdown_table(["filters", "4 KB input", "call", "inputs", "blocked (ours) ms p50 / p90 / p99",
                          "peer ms p50 / p90 / p99", "p50 speed-up"], table))
    print()
    rows = []
    for setup, by_filter in fpr.items():
        for name, f in by_filter.items():
            rows.append([setup, name, f"{f['mb']:.1f}", f"{f['bits_per_chunk']:.2f}", f["hashes"], f"{f['theory']:.5f}",
                         f"{f['measured']:.5f} ({f['sigmas']:+.1f}σ)",
                         f"{f['novel_hits']} of {f['novel_windows']:,}: {f['novel_hits'] / max(f['novel_windows'], 1):.5f} "
                         f"({f['novel_sigmas']:+.1f}σ)"])
    print(markdown_table(["filters", "filter", "MB", "bits per chunk", "k", "theoretical FPR",
                          f"measured, {args.probes:,} random hashes", "novel-code windows present"], rows))
    if args.json_out:
        args.json_out.write_text(json.dumps({"machine": machine_info(), "index": str(args.index),
                                             "items": len(hashes), "latency": latency, "fpr": fpr}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
