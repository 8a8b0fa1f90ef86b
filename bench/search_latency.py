"""Search latency and exact-search correctness, with ``grep -F`` as both ground truth and peer.

Every unique content of the shards (deduplicated by git sha, as the index stores them) is
written to a temporary directory as one file named by its sha, so ``grep -F -r -l`` answers
with our ids. Query sets are drawn from the corpus with a fixed seed:

* keyword: single identifiers of rare, medium and common document frequency, and two-word
  queries (two identifiers of one document);
* dotted: phrase-like dotted names (``os.path.join``) searched as keywords;
* exact substring: random 10-40 character substrings of random lines of random documents;
* exact symbols: symbol-heavy literals (``i++``, ``!= None``, ``->``, ``):``, ``a.b.c =`` and
  ``f(n-1)`` shapes mined from the corpus);
* exact edge cases: case variants (``TRUE``, ``Import``), long
  identifiers whole and cut mid-word, and text around non-ASCII characters;
* exact near PII: text cut across the start of an email address, IP address or key found in the
  corpus (:mod:`indexer.pii`), as someone extending a known prefix would search it.

``--redacted`` searches as the API does while it redacts PII (``SearchQuery.redacted``: matches
overlapping PII do not count), and grep then reads the redacted files, each placeholder written
as NUL bytes so that no literal matches across one: the ground truth is a search of the
redacted text outside its placeholders.

For every exact query the complete result set (all pages of 100) must equal grep's file list;
any difference is printed with the literal and the script exits with status 1. Latency is the
first page (``Page(1, 10)``): each query runs once to warm up, then ``--repeat`` times with the
store's cache of verified rankings emptied before each run (so every run verifies); the
per-query median is taken and p50/p99 are over queries. For exact queries the time to fetch
the complete result set is compared with grep's time for the same literal (grep run once
before timing, so the page cache is warm for both; grep's time includes its process start).

Note:
    grep is line-based, so exact queries never contain a newline; grep runs with ``LC_ALL=C``
    (byte comparison, which for UTF-8 text agrees with substring search on strings) and ``-a``
    (binary-looking files are searched as text).

    .venv/bin/python bench/search_latency.py --index var/demo/index --shards var/demo/shards
    .venv/bin/python bench/search_latency.py --shards var/demo/shards --limit-mb 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_throughput import (ROOT, machine_info, machine_line, markdown_table,  # noqa: E402
                              resolve_shards)

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAGE_SIZE = 100
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DOTTED = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*){1,3}(?![\w.(])")
# Symbol-heavy literals searched as they are; the ones absent from the corpus are dropped.
FIXED_SYMBOLS = ("i++", "!= None", "->", "):", "+=", "[::-1]", "**kwargs)", "== 0:", "x[i][j]",
                 "lambda x: x", "--help", "-1)", "@property", '__name__ == "__main__"', "{}",
                 "%s", "\\n", "#!/usr/bin/env python", "0x", "&&", "=>", "::", "<<", "!!",
                 "#include <", "if (", "[0]", "self.assertEqual(", "(*args, **kwargs)", "i--")
ATTR_ASSIGN = re.compile(r"\b[a-z_]\w*\.[a-z_]\w*\.[a-z_]\w* ?=(?!=)")
RECURSIVE_CALL = re.compile(r"\b[a-z_]\w*\(n ?- ?[12]\)")
LONG_IDENT = re.compile(r"\b[A-Za-z_]\w{40,}")
NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Case matters for literals while the index is lowercased: these must not match "import", "True".
FIXED_EDGE = ("Import ", "TRUE", "NONE", "Self.", "None)", "DEF ", "Return")


# -- corpus and grep -------------------------------------------------------------------------
def load_unique(shards: list[Path], max_doc_bytes: int) -> dict[str, str]:
    """sha -> content for every document the build would index, one entry per content."""
    from indexer.corpus import iter_documents

    docs: dict[str, str] = {}
    stats: Counter = Counter()
    for path in shards:
        for d in iter_documents(path, stats=stats):
            if d.size <= max_doc_bytes:
                docs.setdefault(d.sha, d.content)
    return docs


def write_files(docs: dict[str, str], root: Path, *, redacted: bool = False) -> None:
    """One file per content, ``root/<sha[:2]>/<sha>``, the exact UTF-8 bytes the index holds
    (``redacted``: its redacted text, each placeholder as NUL bytes)."""
    from indexer.pii import redact

    for sha, content in docs.items():
        sub = root / sha[:2]
        sub.mkdir(exist_ok=True)
        if redacted:
            red = redact(content)
            parts, at = [], 0
            for _, _, ns, ne in red.spans:
                parts += [red.text[at:ns], "\0" * (ne - ns)]
                at = ne
            content = "".join(parts) + red.text[at:]
        (sub / sha).write_bytes(content.encode("utf-8", "surrogatepass"))


GREP_ENV = {**os.environ, "LC_ALL": "C"}


def grep(literal: str, root: Path) -> set[str]:
    """The shas of the files holding ``literal`` (``-e`` keeps a leading dash a pattern)."""
    proc = subprocess.run(["grep", "-F", "-r", "-l", "--null", "-a", "-e", literal, str(root)],
                          capture_output=True, env=GREP_ENV)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"grep failed for {literal!r}: {proc.stderr.decode(errors='replace')}")
    return {Path(p.decode()).name for p in proc.stdout.split(b"\0") if p}


# -- query sets ------------------------------------------------------------------------------
def build_queries(docs: dict[str, str], rng: random.Random, *, n_each: int) -> dict[str, list[str]]:
    """Deterministic query sets (see the module docstring); ``docs`` order does not matter."""
    shas = sorted(docs)
    sample = [docs[s] for s in rng.sample(shas, min(len(shas), 4000))]
    df: Counter = Counter()
    for text in sample:
        df.update({w for w in IDENT.findall(text) if len(w) >= 4})
    n = len(sample)
    by_df = sorted(df.items(), key=lambda kv: (kv[1], kv[0]))
    rare = [w for w, c in by_df if c == 1 and len(w) >= 6]
    mid = [w for w, c in by_df if 0.002 * n <= c <= 0.02 * n]
    common = [w for w, c in by_df if c >= 0.1 * n]
    k = max(1, n_each // 3)
    single = (rng.sample(rare, min(k, len(rare))) + rng.sample(mid, min(k, len(mid)))
              + rng.sample(common, min(n_each - 2 * k, len(common))))

    two_word, dotted, substrings, attr, recursive, long_idents, non_ascii = [], [], [], [], [], [], []
    tries = 0
    while (len(two_word) < n_each or len(dotted) < n_each or len(substrings) < n_each) and tries < 100_000:
        tries += 1
        text = docs[rng.choice(shas)]
        if len(two_word) < n_each:
            idents = sorted({w for w in IDENT.findall(text) if len(w) >= 4})
            if len(idents) >= 2:
                a, b = rng.sample(idents, 2)
                two_word.append(f"{a} {b}")
        if len(dotted) < n_each:
            names = sorted(set(DOTTED.findall(text)))
            if names:
                dotted.append(rng.choice(names))
        if len(substrings) < n_each:
            lines = [ln for ln in text.split("\n") if len(ln) >= 10 and "\0" not in ln]
            if lines:
                line = rng.choice(lines)
                length = rng.randint(10, min(40, len(line)))
                start = rng.randint(0, len(line) - length)
                piece = line[start:start + length]
                if piece.strip():
                    substrings.append(piece)
        attr += ATTR_ASSIGN.findall(text)
        recursive += RECURSIVE_CALL.findall(text)
        long_idents += LONG_IDENT.findall(text)
        m = NON_ASCII.search(text)
        if m and "\n" not in text[max(0, m.start() - 6):m.end() + 6]:
            non_ascii.append(text[max(0, m.start() - 6):m.end() + 6])
    dotted = ["os.path.join"] + [d for d in dotted if d != "os.path.join"][:n_each - 1]
    mined = (rng.sample(sorted(set(attr)), min(5, len(set(attr))))
             + rng.sample(sorted(set(recursive)), min(5, len(set(recursive)))))
    contents = [docs[s] for s in shas]
    symbols = [s for s in dict.fromkeys(list(FIXED_SYMBOLS) + mined) if any(s in c for c in contents)]

    def pick(items: list[str], k: int) -> list[str]:
        unique = sorted(set(items))
        return rng.sample(unique, min(k, len(unique)))

    # Long identifiers (tantivy's default tokenizer drops terms over 40 chars), whole and cut
    # mid-word; non-ASCII text; case variants that must not match their lowercase forms.
    longs = pick(long_idents, 4)
    edge = list(FIXED_EDGE) + longs + [w[3:-3] for w in longs] + pick(non_ascii, 6)
    edge = [e for e in dict.fromkeys(edge) if "\0" not in e]
    return {"keyword": single + two_word, "dotted": dotted, "exact substring": substrings,
            "exact symbols": symbols, "exact edge cases": edge,
            "exact near PII": near_pii(sample, rng, n_each)}


def near_pii(sample: list[str], rng: random.Random, n: int) -> list[str]:
    """Literals cut across the start of PII found in ``sample``: up to 12 characters before it
    and 1 to 12 of it, on one line."""
    from indexer.pii import find_pii

    out = []
    for text in sample:
        for f in find_pii(text):
            before = text[max(0, f.start - rng.randint(0, 12)):f.start].split("\n")[-1]
            piece = before + text[f.start:min(f.end, f.start + rng.randint(1, 12))].split("\n")[0]
            if piece.strip() and "\0" not in piece:
                out.append(piece)
    unique = sorted(set(out))
    return rng.sample(unique, min(n, len(unique)))


# -- measurement -----------------------------------------------------------------------------
def first_page_ms(store, query, repeat: int) -> tuple[float, int]:
    from indexer.store import Page

    res = store.search(query, page=Page(1, 10))
    times = []
    for _ in range(repeat):
        store.drop_cached_rankings()  # time a new query, not the store's LRU of verified rankings
        t0 = time.perf_counter()
        res = store.search(query, page=Page(1, 10))
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), res.total


def complete_set(store, query, max_pages: int = 0) -> tuple[float, int, int, list[str]]:
    """Every page of ``PAGE_SIZE`` (the first ``max_pages`` if set):
    (ms, total reported, pages in the result, shas in page order)."""
    from indexer.store import Page

    store.drop_cached_rankings()
    t0 = time.perf_counter()
    res = store.search(query, page=Page(1, PAGE_SIZE))
    shas = [h.document.sha for h in res.hits]
    last = min(res.pages, max_pages) if max_pages else res.pages
    for number in range(2, last + 1):
        shas += [h.document.sha for h in store.search(query, page=Page(number, PAGE_SIZE)).hits]
    return (time.perf_counter() - t0) * 1e3, res.total, res.pages, shas


def grep_ms(literal: str, root: Path, repeat: int) -> float:
    grep(literal, root)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        grep(literal, root)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def run(store, docs_root: Path, queries: dict[str, list[str]], repeat: int,
        max_pages: int = 0, redacted: bool = False) -> tuple[dict, list[dict]]:
    from indexer.query import parse_query

    summary, mismatches = {}, []
    for cls, qs in queries.items():
        exact = cls.startswith("exact")
        rows = []
        for q in qs:
            parsed = parse_query(q, exact=exact, redacted=redacted)
            first, total = first_page_ms(store, parsed, repeat)
            row = {"query": q, "first_ms": first, "total": total}
            if exact:
                truth = grep(q, docs_root)
                complete, ctotal, pages, shas = complete_set(store, parsed, max_pages)
                capped = bool(max_pages) and pages > max_pages
                row.update(complete_ms=complete, grep_ms=grep_ms(q, docs_root, repeat),
                           grep_count=len(truth), pages=pages, capped=capped)
                got = set(shas)
                problems = []
                if ctotal != len(truth) or total != len(truth):
                    problems.append(f"total {total}/{ctotal} (first page/complete) != grep {len(truth)}")
                if len(shas) != len(got):
                    problems.append(f"{len(shas) - len(got)} sha(s) repeated across pages")
                if capped and not got <= truth:
                    problems.append(f"extra {len(got - truth)} in the first {max_pages} pages "
                                    f"(e.g. {sorted(got - truth)[:3]})")
                elif capped and len(got) != max_pages * PAGE_SIZE:
                    problems.append(f"{len(got)} distinct shas in the first {max_pages} full pages")
                elif not capped and got != truth:
                    problems.append(f"missing {len(truth - got)} (e.g. {sorted(truth - got)[:3]}), "
                                    f"extra {len(got - truth)} (e.g. {sorted(got - truth)[:3]})")
                row["identical"] = not problems
                if problems:
                    mismatches.append({"class": cls, "literal": q, "problems": problems})
                    print(f"MISMATCH [{cls}] {q!r}: " + "; ".join(problems), file=sys.stderr)
            rows.append(row)
        summary[cls] = rows
        print(f"  {cls}: {len(rows)} queries done", file=sys.stderr)
    return summary, mismatches


def _code(literal: str) -> str:
    """A literal as a markdown code span (``repr`` keeps edge spaces visible)."""
    return "`" + repr(literal).replace("|", "\\|").replace("`", "'") + "`"


def report(info: dict, corpus: dict, summary: dict, mismatches: list, repeat: int,
           max_pages: int = 0) -> str:
    table = []
    for cls, rows in summary.items():
        first = [r["first_ms"] for r in rows]
        line = [cls, len(rows), f"{percentile(first, 50):.1f}", f"{percentile(first, 99):.1f}"]
        if "complete_ms" in rows[0]:
            full = [r for r in rows if not r["capped"]]
            complete = [r["complete_ms"] for r in full]
            grep_t = [r["grep_ms"] for r in rows]
            ratios = [r["complete_ms"] / r["grep_ms"] for r in full]
            n_capped = len(rows) - len(full)
            verdict = ("yes" if all(r["identical"] for r in rows) else
                       f"**NO** ({sum(not r['identical'] for r in rows)} differ)")
            if n_capped:
                verdict += f" ({n_capped} over {max_pages} pages: total and first pages checked)"
            line += [f"{percentile(complete, 50):.1f}", f"{percentile(complete, 99):.1f}",
                     f"{percentile(grep_t, 50):.1f}", f"{percentile(grep_t, 99):.1f}",
                     f"{statistics.median(ratios):.2f}" if ratios else "", verdict]
        else:
            line += ["", "", "", "", "", "n/a"]
        line.insert(2, f"{statistics.median(r['total'] for r in rows):.0f}")
        table.append(line)
    out = [machine_line(info),
           f"corpus: {corpus['mb']:.1f} MB in {corpus['docs']} unique contents "
           f"({corpus['files_mb']:.1f} MB as files for grep); index {corpus['index']}"
           + ("; redacted view (--redacted)" if corpus.get("redacted") else ""),
           "",
           markdown_table(["class", "n queries", "median hits", "first page p50 ms",
                           "first page p99 ms", "complete set p50 ms", "complete set p99 ms",
                           "grep -F p50 ms", "grep -F p99 ms", "ours/grep (median per query)",
                           "result sets identical to grep"], table),
           "",
           f"First page = Page(1, 10), median of {repeat} runs after a warm-up, p50/p99 over "
           f"queries. Complete set = every page of {PAGE_SIZE}, once, after the warm-ups"
           + (f" (queries with more than {max_pages} pages left out of its columns)" if max_pages else "")
           + ". grep = "
           f"`LC_ALL=C grep -F -r -l --null -a -e LITERAL DIR` over one file per content, median of "
           f"{repeat} runs after a warm-up run (page cache warm), process start included."]
    exact_rows = [(cls, r) for cls, rows in summary.items() for r in rows if "complete_ms" in r]
    slow = sorted(exact_rows, key=lambda cr: -cr[1]["complete_ms"])[:5]
    if slow:
        out += ["", "Slowest exact queries (complete set):", "",
                markdown_table(["class", "literal", "hits", "pages of 100", "first page ms",
                                "complete ms", "grep ms"],
                               [[cls, _code(r["query"]), r["total"],
                                 r["pages"] if not r["capped"] else f"{r['pages']} (fetched {max_pages})",
                                 f"{r['first_ms']:.1f}", f"{r['complete_ms']:.1f}",
                                 f"{r['grep_ms']:.1f}"] for cls, r in slow])]
    if mismatches:
        out += ["", f"**{len(mismatches)} exact queries differ from grep -F:**"]
        out += [f"- [{m['class']}] {_code(m['literal'])}: " + "; ".join(m["problems"]) for m in mismatches]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Measure search latency per query class and check exact search against "
                    "grep -F (ground truth and peer); prints a markdown table and exits 1 if any "
                    "exact result set differs from grep's.")
    parser.add_argument("--index", type=Path, default=None,
                        help="an index built from --shards (omit with --limit-mb: one is built)")
    parser.add_argument("--shards", type=Path, nargs="+", required=True,
                        help="the shards the index was built from")
    parser.add_argument("--limit-mb", type=float, default=None,
                        help="quick run: build a temporary index of a prefix of the shards "
                             "holding this many MB of content (ignores --index)")
    parser.add_argument("--queries", type=int, default=30,
                        help="queries per generated set (default 30)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per query (default 3)")
    parser.add_argument("--max-pages", type=int, default=0,
                        help="fetch at most this many pages of 100 per exact query; beyond it only "
                             "the total and those pages are checked against grep (default 0: all "
                             "pages, the full check)")
    parser.add_argument("--seed", type=int, default=20240611, help="query sampling seed")
    parser.add_argument("--redacted", action="store_true",
                        help="search as the API does while it redacts PII, against grep over the redacted files")
    parser.add_argument("--tmp-dir", type=Path, default=None, help="where temporary files go")
    parser.add_argument("--json-out", type=Path, default=None, help="also write per-query numbers here")
    args = parser.parse_args(argv)
    if args.index is None and not args.limit_mb:
        parser.error("give --index (built from --shards) or --limit-mb")
    if args.repeat < 1 or args.queries < 3 or args.max_pages < 0:
        parser.error("--repeat must be >= 1, --queries >= 3 and --max-pages >= 0")

    from indexer.build import BuildConfig, build_index
    from indexer.stores import open_index
    from indexer.manifest import read_manifest

    info = machine_info()
    with tempfile.TemporaryDirectory(prefix="starscope-search-", dir=args.tmp_dir) as tmp:
        work = Path(tmp)
        shards = resolve_shards(args.shards, args.limit_mb, work)
        index = args.index
        if args.limit_mb:
            index = work / "index"
            print(f"building a temporary index of {len(shards)} shard(s)...", file=sys.stderr)
            build_index(shards, index, progress=False)
        manifest = read_manifest(index)
        max_doc = manifest.get("configs", {}).get("build", {}).get("max_doc_bytes",
                                                                   BuildConfig().max_doc_bytes)
        print("loading the corpus and writing one file per content...", file=sys.stderr)
        docs = load_unique(shards, max_doc)
        docs_root = work / "files"
        docs_root.mkdir()
        write_files(docs, docs_root, redacted=args.redacted)
        store = open_index(index)
        indexed = store.stats().documents
        if indexed != len(docs):
            print(f"ERROR: the index holds {indexed} contents but the shards give {len(docs)}; "
                  f"was {index} built from {args.shards}?", file=sys.stderr)
            return 2
        queries = build_queries(docs, random.Random(args.seed), n_each=args.queries)
        corpus = {"docs": len(docs), "mb": sum(len(c.encode("utf-8", "surrogatepass"))
                                               for c in docs.values()) / 1e6,
                  "files_mb": sum(p.stat().st_size for p in docs_root.rglob("*") if p.is_file()) / 1e6,
                  "index": "temporary (--limit-mb)" if args.limit_mb else str(index),
                  "redacted": args.redacted}
        print(f"{sum(map(len, queries.values()))} queries; measuring...", file=sys.stderr)
        summary, mismatches = run(store, docs_root, queries, args.repeat, args.max_pages, args.redacted)
    print(report(info, corpus, summary, mismatches, args.repeat, args.max_pages))
    if args.json_out:
        args.json_out.write_text(json.dumps({"machine": info, "corpus": corpus, "queries": summary,
                                             "mismatches": mismatches}, indent=1))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
