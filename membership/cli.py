"""``starscope membership``, ``attribute``, ``near-dups`` and ``contamination``: the command-line
half of membership.

Pipelines script against these commands; their flags and JSON output are a stable contract.
Membership opens no index itself: the command line's root (:mod:`search_api.cli`) passes
:func:`add_commands` the function that opens one from the parsed arguments, and the one that adds
the options saying where its store is.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from .attribution import AttributionConfig, AttributionInputError, MembershipIndex
from .contamination import check_contamination, load_humaneval
from .languages import language_for
from .sketch import SketchMissing


Opener = Callable[[argparse.Namespace, AttributionConfig], MembershipIndex]
"""Opens ``args.index``'s membership with this configuration (where its store is: ``args``)."""

USER_ERRORS = (AttributionInputError, SketchMissing)  # ``starscope: error: ...``, exit 1


def _open(args) -> MembershipIndex:
    candidates = getattr(args, "max_candidates", None)
    candidates = AttributionConfig.max_candidates if candidates is None else candidates
    if candidates < 1:
        raise ValueError(f"--max-candidates must be at least 1, got {candidates}")
    config = AttributionConfig(max_chars=args.max_chars, max_candidates=candidates)
    return args.open_index(args, config)


def _add_candidates_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-candidates", type=int, default=None,
                   help=f"near-duplicate candidates scored, and stored files read by exact membership, at most "
                        f"(default {AttributionConfig.max_candidates}); an answer cut by it says so")


def _add_text_options(p: argparse.ArgumentParser) -> None:
    """The input limit and the output format, shared by every text-taking command."""
    p.add_argument("--max-chars", type=int, default=AttributionConfig.max_chars,
                   help=f"refuse longer text (default {AttributionConfig.max_chars:,})")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def add_commands(sub: argparse._SubParsersAction, *, open_index: Opener,
                 add_store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the commands to ``sub``: ``open_index`` opens an index's membership from the parsed
    arguments, and ``add_store_options`` adds the options it reads to say where the store is
    (``contamination`` takes none: it opens the index where it was built)."""
    p = sub.add_parser("membership", help="is this text in the corpus? (Bloom filter of 50-character "
                                          "chunks; --exact confirms every hit in the store)")
    p.add_argument("index", type=Path)
    p.add_argument("stdin", nargs="?", choices=["-"], help="read the text from standard input")
    p.add_argument("--text-file", help="the text to test (- for standard input)")
    p.add_argument("--exact", action="store_true", help="confirm every hit in the store")
    add_store_options(p)
    _add_text_options(p)
    p.set_defaults(func=cmd_membership, open_index=open_index)

    p = sub.add_parser("attribute", help="where did this text come from? maximal verbatim spans "
                                         "with sources, counts and licenses")
    p.add_argument("index", type=Path)
    p.add_argument("stdin", nargs="?", choices=["-"], help="read the text from standard input")
    p.add_argument("--text-file", help="the text to attribute (- for standard input)")
    p.add_argument("--jsonl", type=Path, help="attribute every line of a JSONL file of generations")
    p.add_argument("--text-field", default="text", help="with --jsonl: the field holding the text")
    p.add_argument("--out", type=Path, help="with --jsonl: write the results here (default stdout)")
    p.add_argument("--min-length", type=int, default=None,
                   help="shortest span reported, in normalized characters (default 50)")
    p.add_argument("--common-threshold", type=int, default=None,
                   help="spans held by more documents are marked common (default 10)")
    p.add_argument("--max-sources", type=int, default=None, help="sources listed per span (default 10)")
    p.add_argument("--allow-failures", action="store_true",
                   help="with --jsonl: exit 0 even when some lines could not be attributed")
    _add_candidates_option(p)
    add_store_options(p)
    _add_text_options(p)
    p.set_defaults(func=cmd_attribute, open_index=open_index)

    p = sub.add_parser("near-dups", help="near-duplicates and renamed copies of a file in the corpus "
                                         "(MinHash LSH, plain and identifier-abstracted signatures)")
    p.add_argument("index", type=Path)
    p.add_argument("file", help="the file to look up (- for standard input)")
    p.add_argument("--lang", help="its language, for the abstracted signature's lexer "
                                  "(default: from the file name)")
    p.add_argument("--min-jaccard", type=float, default=None,
                   help="smallest estimated Jaccard similarity reported (default 0.5)")
    p.add_argument("--limit", type=int, default=None, help="most documents reported (default 10)")
    _add_candidates_option(p)
    add_store_options(p)
    _add_text_options(p)
    p.set_defaults(func=cmd_near_dups, open_index=open_index)

    p = sub.add_parser("contamination", help="is HumanEval (problems and canonical solutions) in the "
                                             "indexed corpus? The check BigCode ran before StarCoder")
    p.add_argument("index", type=Path)
    p.add_argument("--limit", type=int, default=None, help="check only the first N problems")
    p.add_argument("--min-length", type=int, default=50, help="shortest span counted (default 50)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_contamination, open_index=open_index)


def _read_text(args) -> str:
    """The input text: a file, or standard input for ``-``; bytes must be UTF-8."""
    name = args.text_file or args.stdin
    if not name:
        raise ValueError("give the text with --text-file FILE, or - to read standard input")
    if args.text_file and args.stdin:
        raise ValueError("give either --text-file or -, not both")
    data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        where = "standard input" if name == "-" else name
        raise ValueError(f"{where} is not UTF-8 text (invalid byte 0x{data[e.start]:02x} at offset "
                         f"{e.start})") from None


def cmd_membership(args) -> int:
    result = _open(args).test(_read_text(args), exact=args.exact)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0
    f = result.filter
    verdict = "IN THE CORPUS" if result.member else "not found"
    print(f"{verdict}: {len(result.spans)} span(s), {result.hits} of {result.windows} windows hit, "
          f"{result.fraction:.1%} of the normalized text covered, longest chain "
          f"{result.longest_chain} characters")
    if not result.exact and f.get("fpr_measured") is not None:
        print(f"(Bloom filter: about {f['fpr_measured']:.2%} of windows not in the corpus still hit; "
              "use --exact to confirm every hit)")
    for s in result.spans:
        print(f"  [{s.start}, {s.end}) {s.hits} hit(s): {_preview(s.text)}")
    return 0


def _overrides(args) -> dict:
    return {k: v for k, v in (("min_length", args.min_length), ("common_threshold", args.common_threshold),
                              ("max_sources", args.max_sources)) if v is not None}


def cmd_attribute(args) -> int:
    if args.jsonl:
        if args.text_file or args.stdin:
            raise ValueError("give --jsonl or a text, not both")
        return _attribute_jsonl(args)
    if args.out or args.allow_failures:
        raise ValueError("--out and --allow-failures go with --jsonl")
    result = _open(args).attribute(_read_text(args), **_overrides(args))
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0
    real = [s for s in result.spans if not s.common]
    print(f"{len(real)} span(s) found verbatim ({result.coverage:.1%} of the text), "
          f"{len(result.spans) - len(real)} common; longest {result.longest} characters")
    if result.truncated:
        print(truncation_warning(result.to_json()))
    for s in result.spans:
        tag = f"common, {s.count} documents" if s.common else f"{s.count} document(s)"
        print(f"\nlines {s.start_line}-{s.end_line} [{s.start}, {s.end}) ({tag}): {_preview(s.text)}")
        for src in s.sources:
            print(f"    {src.repo}/{src.path}:{src.start_line}-{src.end_line}  "
                  f"[{', '.join(src.licenses)}]")
    summary = result.licenses
    if summary["sources"]:
        flags = [w for w, on in (("copyleft", summary["copyleft"]), ("unknown", summary["unknown"])) if on]
        print(f"\nlicenses: {', '.join(f'{k} ({v})' for k, v in summary['licenses'].items())}"
              + (f"  -- includes {' and '.join(flags)}" if flags else ""))
    return 0


def truncation_warning(answer: dict, *, options: bool = True) -> str:
    """One line saying what the limits cut from an attribution answer (its JSON form), for
    people; ``options``: name the ``attribute`` options that raise them."""
    limits, cuts = answer["limits"], []
    if limits["incomplete_counts"]:
        cuts.append(f"{limits['incomplete_counts']} span(s) are held by more than {limits['max_counted']:,} "
                    "files: their counts are lower bounds (\"count_complete\": false)")
    near = limits.get("near_duplicate_candidates_available")
    if near is not None and near > limits["max_candidates"]:
        cuts.append(f"{near} files share a near-duplicate band and {limits['max_candidates']} were scored"
                    + (" (--max-candidates)" if options else ""))
    return "warning: truncated answer: " + "; ".join(cuts)


def _line_list(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(map(str, numbers[:limit]))
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


def _attribute_jsonl(args) -> int:
    """One result per input line, streamed; a bad line gets an error record, not an abort.

    Exits 1 when any line could not be attributed (every line still has its record), unless
    ``--allow-failures``; truncated answers are counted on standard error but do not change the
    exit status: each says so, and what it left unchecked, in its own record.
    """
    index = _open(args)
    overrides = _overrides(args)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    failed: list[int] = []
    truncated: list[int] = []
    lines = 0
    try:
        with open(args.jsonl, "rb") as f:
            for number, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                lines += 1
                record = {"line": number}
                try:
                    item = json.loads(raw)
                    if not isinstance(item, dict) or not isinstance(item.get(args.text_field), str):
                        raise AttributionInputError(
                            "invalid_record", f"expected an object with a string {args.text_field!r} field")
                    if "id" in item:
                        record["id"] = item["id"]
                    result = index.attribute(item[args.text_field], **overrides)
                    record["result"] = result.to_json()
                    if result.truncated:
                        truncated.append(number)
                except (ValueError, AttributionInputError) as e:
                    failed.append(number)
                    record["error"] = {"code": getattr(e, "code", "invalid_json"), "message": str(e)}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    where = f"in {args.out}" if args.out else "on standard output"
    if truncated:
        print(f"starscope: warning: {len(truncated)} of {lines} answer(s) truncated by a limit "
              f"(line(s) {_line_list(truncated)}): their records {where} have \"truncated\": true and "
              "say which in \"limits\" (--max-candidates raises the near-duplicate one)", file=sys.stderr)
    if failed:
        print(f"starscope: {'warning' if args.allow_failures else 'error'}: {len(failed)} of {lines} "
              f"line(s) could not be attributed (line(s) {_line_list(failed)}): their records {where} "
              "hold an \"error\" instead of a \"result\""
              + ("" if args.allow_failures else "; --allow-failures exits 0 all the same"), file=sys.stderr)
        return 0 if args.allow_failures else 1
    return 0


def _preview(text: str, limit: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[:limit - 1] + "…"


def cmd_contamination(args) -> int:
    problems = load_humaneval()
    if args.limit is not None:
        if args.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {args.limit}")
        problems = problems[:args.limit]
    report = check_contamination(args.open_index(args, AttributionConfig()), problems, min_length=args.min_length)
    print(json.dumps(report.to_json(), ensure_ascii=False) if args.json else report.to_markdown())
    return 0


def cmd_near_dups(args) -> int:
    args.text_file, args.stdin = (None, "-") if args.file == "-" else (args.file, None)
    text = _read_text(args)
    lang = args.lang or (language_for(args.file) if args.file != "-" else None) or None
    result = _open(args).near_duplicates(text, lang=lang, path=None if args.file == "-" else args.file,
                                         min_jaccard=args.min_jaccard, limit=args.limit)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0
    if result.reason:
        print(f"no signature: {result.reason}")
        return 0
    print(f"{len(result.near_duplicates)} near-duplicate(s) among {result.candidates} LSH candidate(s) "
          f"(lexer: {result.lexer})")
    if result.truncated:
        print(f"warning: truncated answer: {result.candidates_available} files share a band with it and "
              f"{result.candidates} were scored (--max-candidates); one left out may be closer than those shown")
    for n in result.near_duplicates:
        print(f"  {n.kind:<14} J={n.jaccard:.2f} (est. {n.estimated_jaccard:.2f})  {n.repo}/{n.path}  "
              f"[{', '.join(n.licenses)}]")
    return 0
