"""Attribution at scale: ``MembershipIndex.attribute`` latency and the answer's completeness on
4 KB inputs, for several indexes side by side in one run (issue 18's baseline and targets).

Each ``--index NAME INDEX SHARDS`` is an index with the shards it was built from; the first one
is the base that the others' growth is measured against (the demo index, then the scale index of
``make scale-corpus``). Three kinds of input, ``--samples`` of each per index, ``--size`` raw
characters (4,096), drawn with ``--seed``:

* **corpus**: a window of a corpus file: a document of that index's shards drawn uniformly among
  those of at least ``--size`` characters, the window at a uniform offset in it;
* **novel**: a window of a file under the ``--novel`` trees (code no index holds: the held-out
  packages of ``make scale-corpus``), drawn tree by tree in turn, kept only when the exact
  membership test (``test(text, exact=True)``, every filter hit confirmed in the store) of
  *every* index finds no 50-character window of it; the same novel inputs go to every index;
* **half**: the first half of a corpus window followed by the first half of another novel one
  (also checked), so half of the input is corpus text.

Latency: every input runs once untimed (its answer is the one checked), then ``--repeat`` timed
runs (median per input); inputs of the three kinds are interleaved in a fixed shuffled order.
The process's CPU time of each timed call is kept too: on a shared machine, its ratio to the
wall time says how much of the wall time was waiting.
Reported per index and kind: p50, p90, p99 and max. ``attribute`` runs with its defaults except
``near_duplicates=False`` (the span path that issue 18 is about; ``--near-duplicates`` puts them
back); ``near_duplicates`` alone and the filter-only ``test`` are timed beside it on all inputs.

Completeness: for corpus inputs, the fraction of the input's normalized characters (spaces and
line breaks aside) inside any reported span, common or not (all of it is corpus text, so 100%
is the right answer), and for half inputs that of its corpus half; for every kind, how many
answers were ``truncated``.
Growth: each index's p99 over the first's, per kind. Index sizes: each top-level part of the
index directory.

    .venv/bin/python bench/attribution_scale_bench.py \\
        --index demo var/scale/demo-index var/scale/shards/python-env \\
        --index scale var/scale/index var/scale/shards \\
        --novel var/scale/heldout/glibc-source --novel var/scale/heldout/python3-django

Pure measurement: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_throughput import ROOT, dir_bytes, machine_info, machine_line, markdown_table  # noqa: E402
from search_latency import percentile  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

KINDS = ("corpus", "novel", "half")
KIND_LABELS = {"corpus": "4 KB windows of corpus files", "novel": "4 KB of code not in the corpus",
               "half": "half corpus, half novel"}
NOVEL_TRIES = 200  # draws per novel input before giving up


# -- inputs --------------------------------------------------------------------------------------
def corpus_windows(shards: Path, size: int, n: int, rng: random.Random) -> list[dict]:
    """``n`` windows of ``size`` characters of distinct documents of ``shards`` (uniform over
    the documents at least that long, then over offsets), with where they came from."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from indexer.corpus import list_shards

    eligible: list[tuple[Path, int]] = []
    for path in list_shards([shards]):
        if path.suffix != ".parquet":
            raise SystemExit(f"{path}: only parquet shards are sampled here")
        lengths = pq.read_table(path, columns=["content"])["content"]
        rows = np.flatnonzero(pc.greater_equal(pc.utf8_length(lengths), size).to_numpy(zero_copy_only=False))
        eligible += [(path, int(row)) for row in rows]
    if len(eligible) < n:
        raise SystemExit(f"{shards}: only {len(eligible)} documents of {size}+ characters, {n} wanted")
    picked = sorted(rng.sample(eligible, n), key=lambda pr: (str(pr[0]), pr[1]))
    by_shard: dict[Path, list[int]] = {}
    for path, row in picked:
        by_shard.setdefault(path, []).append(row)
    out = []
    for path, rows in by_shard.items():
        table = pq.read_table(path, columns=["content", "max_stars_repo_name", "max_stars_repo_path"])
        for row in rows:
            text = table["content"][row].as_py()
            start = rng.randrange(len(text) - size + 1)
            out.append({"text": text[start:start + size], "repo": table["max_stars_repo_name"][row].as_py(),
                        "path": table["max_stars_repo_path"][row].as_py(), "start": start})
    rng.shuffle(out)
    return out


class NovelSource:
    """Windows of files under the ``--novel`` trees that no index holds a 50-character window
    of (exact membership, see the module doc), trees taken in turn."""

    def __init__(self, trees: list[Path], indexes: list, rng: random.Random):
        from indexer.corpus.source_files import source_language

        self.indexes, self.rng = indexes, rng
        self.files: list[list[Path]] = []
        for tree in trees:
            found = sorted(p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()
                           and source_language(p.name, Counter()) and p.stat().st_size >= 1024)
            if not found:
                raise SystemExit(f"{tree}: no source files of 1 kB or more to draw novel inputs from")
            self.files.append(found)
        self.turn = 0
        self.tried = self.rejected = 0

    def window(self, size: int) -> dict:
        from membership.attribution import AttributionInputError

        files = self.files[self.turn % len(self.files)]
        self.turn += 1
        for _ in range(NOVEL_TRIES):
            path = self.rng.choice(files)
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if len(text) < size or "\0" in text:
                continue
            start = self.rng.randrange(len(text) - size + 1)
            window = text[start:start + size]
            self.tried += 1
            try:
                held = any(index.test(window, exact=True).hits for index in self.indexes)
            except AttributionInputError:
                continue  # under one chunk after normalization
            if not held:
                return {"text": window, "repo": None, "path": str(path), "start": start}
            self.rejected += 1
        raise SystemExit(f"no novel {size}-character window in {NOVEL_TRIES} draws from "
                         f"{len(files)} files; give --novel trees of code the indexes do not hold")


# -- measuring -----------------------------------------------------------------------------------
def covered(norm, spans, lo: int, hi: int) -> float:
    """Fraction of the non-space normalized characters in ``[lo, hi)`` inside any span (raw
    offsets). Spaces are left out: a span never starts or ends on one, so the space where a
    corpus half meets a novel one is never inside a span."""
    inside = np.zeros(len(norm), bool)
    for span in spans:
        a = int(np.searchsorted(norm.raw_starts, span.start, "left"))
        b = int(np.searchsorted(norm.raw_starts, span.end, "left"))
        inside[a:b] = True
    solid = (norm.codes[lo:hi] != 32) & (norm.codes[lo:hi] != 10)
    return float(inside[lo:hi][solid].mean()) if solid.any() else 0.0


def timed_ms(fn, repeat: int, cpu: list | None = None) -> float:
    """Median wall-clock milliseconds of ``repeat`` calls; the process's CPU milliseconds of
    the same calls (all threads) are appended to ``cpu``, when given, as their median."""
    times, cpu_times = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
        cpu_times.append((time.process_time() - c0) * 1000)
    if cpu is not None:
        cpu.append(statistics.median(cpu_times))
    return statistics.median(times)


def measure(index, inputs: list[dict], *, repeat: int, near_duplicates: bool) -> list[dict]:
    """Per input: its answer's completeness and the timings (see the module doc)."""
    from membership.chunks import normalize

    rows = []
    for i, item in enumerate(inputs):
        text = item["text"]
        answer = index.attribute(text, near_duplicates=near_duplicates)
        norm = normalize(text)
        row = {"kind": item["kind"], "truncated": answer.truncated, "spans": len(answer.spans),
               "candidates": answer.candidates, "incomplete_counts": answer.limits.incomplete_counts}
        if item["kind"] == "corpus":
            row["coverage"] = covered(norm, answer.spans, 0, len(norm))
        elif item["kind"] == "half":
            corpus_end = int(np.searchsorted(norm.raw_starts, item["corpus_chars"], "left"))
            row["coverage"] = covered(norm, answer.spans, 0, corpus_end)
        cpu: list[float] = []
        row["attribute_ms"] = timed_ms(lambda: index.attribute(text, near_duplicates=near_duplicates),
                                       repeat, cpu)
        row["attribute_cpu_ms"] = cpu[0]
        row["near_duplicates_ms"] = timed_ms(lambda: index.near_duplicates(text), repeat)
        row["test_ms"] = timed_ms(lambda: index.test(text), repeat)
        rows.append(row)
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(inputs)}", file=sys.stderr)
    return rows


def stats(values: list[float]) -> dict:
    return {"n": len(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "max": max(values)}


def index_parts(index_dir: Path) -> dict:
    """Bytes of the index directory and of each of its top-level parts."""
    parts = {"total": dir_bytes(index_dir)}
    for child in sorted(index_dir.iterdir()):
        parts[child.name] = dir_bytes(child) if child.is_dir() else child.stat().st_size
    return parts


# -- report --------------------------------------------------------------------------------------
def ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def kind_stats(result: dict, kind: str, key: str = "attribute_ms") -> dict:
    return stats([row[key] for row in result["rows"] if row["kind"] == kind])


def report(info: dict, results: dict, args) -> str:
    names = list(results)
    lines = [f"# Attribution at scale: {args.samples} inputs of each kind per index, "
             f"{args.size:,} characters, seed {args.seed}", "", machine_line(info), ""]
    rows = []
    for name, r in results.items():
        counts, parts = r["manifest_counts"], r["sizes"]
        rest = ", ".join(f"{k} {v / 1e6:,.0f}" for k, v in parts.items() if k != "total" and v >= 1e6)
        rows.append([name, f"`{r['index']}`", f"{counts.get('sources', 0):,}",
                     f"{counts.get('documents', 0):,}", f"{counts.get('content_bytes', 0) / 1e6:,.0f}",
                     f"{parts['total'] / 1e6:,.0f}", rest])
    lines += [markdown_table(["index", "directory", "documents", "unique contents", "content MB",
                              "index MB", "parts (MB)"], rows), ""]
    call = "attribute(text" + (")" if args.near_duplicates else ", near_duplicates=False)")
    rows = []
    for name, r in results.items():
        for kind in KINDS:
            sel = [row for row in r["rows"] if row["kind"] == kind]
            s = kind_stats(r, kind)
            cov = [row["coverage"] for row in sel if "coverage" in row]
            completeness = (f"{statistics.mean(cov):.1%} mean, {min(cov):.1%} min, "
                            f"{sum(c >= 1.0 for c in cov)}/{len(cov)} full" if cov else "")
            truncated = sum(row["truncated"] for row in sel)
            rows.append([name, KIND_LABELS[kind], s["n"], ms(s["p50"]), ms(s["p90"]), ms(s["p99"]),
                         ms(s["max"]), completeness, f"{truncated}/{len(sel)}"])
    lines += [f"`{call}`, ms:", "", markdown_table(["index", "input", "n", "p50", "p90", "p99", "max",
                                                    "coverage of corpus text", "truncated"], rows), ""]
    rows = []
    for name, r in results.items():
        for key, label in (("near_duplicates_ms", "`near_duplicates(text)`"),
                           ("test_ms", "`test(text)` (filter only)")):
            s = stats([row[key] for row in r["rows"]])
            rows.append([name, label, s["n"], ms(s["p50"]), ms(s["p90"]), ms(s["p99"]), ms(s["max"])])
    lines += ["Beside it, on all inputs of the three kinds, ms:", "",
              markdown_table(["index", "call", "n", "p50", "p90", "p99", "max"], rows), ""]
    if len(names) > 1:
        base = names[0]
        rows = []
        for name in names[1:]:
            size = (results[name]["manifest_counts"].get("content_bytes", 0)
                    / max(results[base]["manifest_counts"].get("content_bytes", 1), 1))
            for kind in KINDS:
                ours, theirs = kind_stats(results[name], kind), kind_stats(results[base], kind)
                rows.append([KIND_LABELS[kind], f"{name} / {base}", f"{size:.1f}×",
                             f"{ours['p50'] / theirs['p50']:.1f}×", f"{ours['p99'] / theirs['p99']:.1f}×"])
        lines += ["Growth (issue 18's target: p99 ratio ≤ 1.5×):", "",
                  markdown_table(["input", "indexes", "content ratio", "p50 ratio", "p99 ratio"], rows), ""]
    for name, r in results.items():
        wall = sum(row["attribute_ms"] for row in r["rows"])
        cpu = sum(row["attribute_cpu_ms"] for row in r["rows"])
        lines.append(f"{name}: the process's CPU time over the wall time of all `attribute` calls: "
                     f"{cpu / wall:.2f} (under 1: the machine was shared, or the calls waited on I/O).")
    lines.append("")
    novel = results[names[0]]["novel"]
    lines.append(f"Novel inputs: {novel['tried']} windows drawn from {', '.join(args.novel_names)}, "
                 f"{novel['rejected']} rejected (some index held a 50-character window of them). "
                 f"Each input run once untimed, then {args.repeat} timed run(s), median. Load "
                 f"average (1 min) at the start and end: {args.load[0]:.1f}, {args.load[1]:.1f}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="attribute() latency and completeness on 4 KB corpus, novel and half-and-half "
                    "inputs, for several indexes side by side; prints markdown tables.")
    parser.add_argument("--index", nargs=3, action="append", required=True,
                        metavar=("NAME", "INDEX", "SHARDS"),
                        help="an index and the shards it was built from (repeat; the first is the base)")
    parser.add_argument("--novel", type=Path, action="append", required=True,
                        help="a tree of code no index holds, for the novel inputs (repeat)")
    parser.add_argument("--samples", type=int, default=150, help="inputs of each kind per index (default 150)")
    parser.add_argument("--size", type=int, default=4096, help="input length in characters (default 4096)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per input, median (default 1)")
    parser.add_argument("--seed", type=int, default=18, help="sampling seed (default 18)")
    parser.add_argument("--near-duplicates", action="store_true",
                        help="time attribute() with near-duplicates on (its API default)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    if args.samples < 1 or args.repeat < 1 or args.size < 200:
        parser.error("--samples and --repeat must be >= 1 and --size >= 200")
    names = [name for name, _, _ in args.index]
    if len(set(names)) != len(names):
        parser.error("--index names must differ")
    args.novel_names = [str(tree) for tree in args.novel]

    from indexer.index_dir import IndexDir
    from indexer.manifest import read_manifest

    info = machine_info()
    load_start = os.getloadavg()[0]
    opened = {}
    for name, index_dir, _ in args.index:
        print(f"opening {name}: {index_dir}", file=sys.stderr)
        index = IndexDir(index_dir).membership()
        index.store.warm()
        opened[name] = index
    print("drawing novel inputs...", file=sys.stderr)
    novel_source = NovelSource(args.novel, list(opened.values()), random.Random(f"{args.seed}:novel"))
    novel = [novel_source.window(args.size) for _ in range(args.samples)]
    novel_halves = [novel_source.window(args.size // 2) for _ in range(args.samples)]
    results = {}
    for name, index_dir, shards in args.index:
        rng = random.Random(f"{args.seed}:{name}")
        print(f"{name}: sampling corpus windows of {shards}...", file=sys.stderr)
        windows = corpus_windows(Path(shards), args.size, 2 * args.samples, rng)
        inputs = [{**w, "kind": "corpus"} for w in windows[:args.samples]]
        inputs += [{**w, "kind": "novel"} for w in novel]
        for w, n in zip(windows[args.samples:], novel_halves):
            head = w["text"][:args.size // 2]
            inputs.append({"text": head + n["text"][:args.size - len(head)], "kind": "half",
                           "corpus_chars": len(head), "repo": w["repo"], "path": w["path"],
                           "novel_path": n["path"]})
        rng.shuffle(inputs)
        print(f"{name}: timing {len(inputs)} inputs...", file=sys.stderr)
        rows = measure(opened[name], inputs, repeat=args.repeat, near_duplicates=args.near_duplicates)
        for row, item in zip(rows, inputs):
            row.update(repo=item.get("repo"), path=item.get("path"), start=item.get("start"))
        manifest = read_manifest(index_dir)
        results[name] = {"index": index_dir, "shards": shards, "rows": rows,
                         "manifest_counts": manifest.get("counts", {}),
                         "sizes": index_parts(Path(index_dir)),
                         "novel": {"tried": novel_source.tried, "rejected": novel_source.rejected}}
    args.load = (load_start, os.getloadavg()[0])
    print(report(info, results, args))
    if args.json_out:
        args.json_out.write_text(json.dumps({"machine": info, "args": {
            "samples": args.samples, "size": args.size, "repeat": args.repeat, "seed": args.seed,
            "near_duplicates": args.near_duplicates, "novel": args.novel_names, "load": args.load},
            "results": results},
            indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
