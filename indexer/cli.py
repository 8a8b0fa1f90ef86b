"""The indexing half of the ``starscope`` command line (``python -m indexer`` runs it alone).

Pipelines script against these commands; their flags and JSON output are a stable contract.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from .build import BuildConfig, BuildWriteError, build_index
from .corpus import CorpusError, FieldMap, ingest_python_env, ingest_trees
from .es_config import ElasticsearchConfig
from .index_dir import IndexDir
from .live import SwitchError, switch
from .manifest import ManifestError
from .merge import merge_indexes
from .optout import opt_out, rebuild_filter
from .query import Filters, QueryError, SORTS, parse_query
from .store import Page, PageOutOfRange
from .stores import BACKENDS
from .store import StoreError
from .superseded import IndexSuperseded

# Errors that mean "your input is wrong", reported as one line and exit status 1.
USER_ERRORS = (CorpusError, ManifestError, StoreError, BuildWriteError, QueryError, PageOutOfRange,
               SwitchError, IndexSuperseded, FileNotFoundError, NotADirectoryError, LookupError, ValueError)


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="turn source trees (or this Python installation) into "
                                      "Stack-format parquet shards")
    p.add_argument("dirs", nargs="*", type=Path, help="source directories to ingest")
    p.add_argument("--python-env", action="store_true",
                   help="ingest this interpreter's standard library and installed distributions")
    p.add_argument("--out", type=Path, required=True, help="output directory for the shards")
    p.add_argument("--max-total-mb", type=float, default=200.0,
                   help="cap for --python-env, chosen deterministically (default 200)")
    p.add_argument("--max-file-kb", type=float, default=1000.0, help="skip larger files (default 1000)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("index", help="index parquet/JSONL shards into an index directory (resumable)")
    p.add_argument("shards", nargs="+", type=Path, help="shard files or directories of shards")
    p.add_argument("--out", type=Path, required=True, help="index directory")
    p.add_argument("--text-field", default="content", help="JSONL/parquet field holding the text")
    for name in ("repo", "path", "licenses", "lang", "stars", "id"):
        p.add_argument(f"--{name}-field", default=None, help=f"field holding the {name} (auto-detected)")
    p.add_argument("--max-doc-mb", type=float, default=10.0, help="skip and count larger documents")
    p.add_argument("--bloom-fpr", type=float, default=0.001,
                   help="false-positive rate the Bloom filter is sized for (default 0.001)")
    p.add_argument("--minhash", choices=("default", "bigcode"), default="default",
                   help="near-duplicate signatures: datasketch 2.0's default scheme (seed 1), or "
                        "BigCode's (legacy scheme, seed 42, BigCode's tokens)")
    p.add_argument("--no-membership", action="store_true",
                   help="a search-only index: no chunk hashes, no Bloom filter (smaller, faster)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress line on stderr (default: when stderr is a terminal)")
    p.add_argument("--store", choices=BACKENDS, default="tantivy",
                   help="tantivy (embedded, in the index directory; default) or elasticsearch")
    p.add_argument("--optouts-from", type=Path, metavar="INDEX_DIR",
                   help="carry this index's opt-outs into --out first, so opted-out code is never "
                        "ingested (rebuilding beside the served index; `starscope switch` carries later ones)")
    add_es_options(p, build=True)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("switch", help="point the served link at a rebuilt index directory, atomically "
                                      "(a server given the link follows it within a second)")
    p.add_argument("link", type=Path, help="the symbolic link the server serves (made if missing)")
    p.add_argument("index", type=Path, help="the finished index directory to serve from now on")
    p.add_argument("--json", action="store_true")
    add_es_options(p)
    p.set_defaults(func=cmd_switch)

    p = sub.add_parser("merge", help="one servable index directory from the work directories of "
                                     "several indexers that share an Elasticsearch index")
    p.add_argument("out", type=Path, help="the index directory to write (or add to)")
    p.add_argument("parts", nargs="+", type=Path, help="the indexers' --out directories")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("search", help="search an index")
    p.add_argument("index", type=Path)
    p.add_argument("query")
    p.add_argument("--exact", action="store_true", help="the whole query is one exact substring")
    p.add_argument("--lang")
    p.add_argument("--license")
    p.add_argument("--repo", help="owner/name, or an owner")
    p.add_argument("--sort", choices=SORTS, default="score")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--size", type=int, default=10)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_es_options(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("get", help="one stored document, whole, with every source")
    p.add_argument("index", type=Path)
    p.add_argument("id", help="the document id (the content's git blob sha)")
    p.add_argument("--json", action="store_true", help="print it as JSON (as GET /api/documents/<id>)")
    add_es_options(p)
    p.set_defaults(func=cmd_get)

    p = sub.add_parser("repos", help="indexed repositories and owners by name prefix, with document counts")
    p.add_argument("index", type=Path)
    p.add_argument("prefix", nargs="?", default="", help="owner/name prefix (case-insensitive)")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true", help="print them as JSON (as GET /api/repos)")
    add_es_options(p)
    p.set_defaults(func=cmd_repos)

    p = sub.add_parser("stats", help="what the index holds: live store counts, build counts, filter")
    p.add_argument("index", type=Path)
    p.add_argument("--json", action="store_true", help="print them as JSON")
    add_es_options(p)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("optout", help="remove a repository or an owner from the index")
    osub = p.add_subparsers(dest="optout_command", required=True)
    p = osub.add_parser("add", help="remove a repository's (or an owner's) sources from the store now")
    p.add_argument("index", type=Path)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--repo", help="the repository's name as the index lists it (`starscope repos`): "
                                       "owner/name, or a source tree's folder name such as json")
    target.add_argument("--owner", help="everything whose name starts with OWNER/ (and a repository named OWNER)")
    p.add_argument("--reason", required=True, help="why (the author's request, a ticket)")
    p.add_argument("--json", action="store_true")
    add_es_options(p)
    p.set_defaults(func=cmd_optout_add)
    p = osub.add_parser("list", help="the opt-outs carried out on this index (its ledger)")
    p.add_argument("index", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_optout_list)

    p = sub.add_parser("rebuild-filter", help="drop opted-out code from the membership filter "
                                              "(until then membership checks its hits in the store)")
    p.add_argument("index", type=Path)
    p.add_argument("--json", action="store_true")
    add_es_options(p)
    p.set_defaults(func=cmd_rebuild_filter)


def add_es_options(p: argparse.ArgumentParser, *, build: bool = False) -> None:
    """Where an Elasticsearch store lives; credentials only from the environment."""
    g = p.add_argument_group(
        "Elasticsearch", "credentials come from ELASTICSEARCH_API_KEY, or ELASTICSEARCH_USERNAME and "
        "ELASTICSEARCH_PASSWORD" + ("" if build else "; by default the index is read where it was built"))
    g.add_argument("--es-url", help="server URL (default: $ELASTICSEARCH_URL, else http://127.0.0.1:9200)")
    g.add_argument("--es-index", help="index name (default: starscope-<index directory name>)")
    g.add_argument("--es-ca-certs", help="CA bundle for an https:// server (or $ELASTICSEARCH_CA_CERTS)")
    g.add_argument("--es-no-verify-certs", action="store_true",
                   help="accept any TLS certificate (testing only)")
    if build:
        g.add_argument("--es-shards", type=int, help="primary shards of a new index (default 1)")
        g.add_argument("--es-replicas", type=int, help="replicas after the build (default 1; 0 while it loads)")


def es_config(args):
    """The ElasticsearchConfig the options ask for, or None when none was given (a command
    without them opens an index where it was built)."""
    given = {"url": getattr(args, "es_url", None), "index": getattr(args, "es_index", None),
             "ca_certs": getattr(args, "es_ca_certs", None),
             "verify_certs": False if getattr(args, "es_no_verify_certs", False) else None,
             "shards": getattr(args, "es_shards", None), "replicas": getattr(args, "es_replicas", None)}
    if all(v is None for v in given.values()) and getattr(args, "store", None) != "elasticsearch":
        return None
    return ElasticsearchConfig(**{k: v for k, v in given.items() if v is not None})


def cmd_ingest(args) -> int:
    if bool(args.dirs) == bool(args.python_env):
        raise ValueError("give source directories or --python-env (not both)")
    max_file = int(args.max_file_kb * 1000)
    if args.python_env:
        stats = ingest_python_env(args.out, max_total_bytes=int(args.max_total_mb * 1e6),
                                  max_file_bytes=max_file)
    else:
        stats = ingest_trees(args.dirs, args.out, max_file_bytes=max_file)
    print(json.dumps(dict(sorted(stats.items())), indent=1))
    return 0


def cmd_index(args) -> int:
    fields = FieldMap(text=args.text_field, repo=args.repo_field, path=args.path_field,
                      licenses=args.licenses_field, lang=args.lang_field, stars=args.stars_field,
                      id=args.id_field)
    manifest = build_index(args.shards, args.out, fields=fields, progress=args.progress,
                           optouts_from=args.optouts_from,
                           config=BuildConfig(max_doc_bytes=int(args.max_doc_mb * 1e6),
                                              bloom_fpr=args.bloom_fpr,
                                              membership=not args.no_membership,
                                              minhash=args.minhash, store=args.store,
                                              es=es_config(args)))
    print(json.dumps(manifest["counts"], indent=1, sort_keys=True))
    return 0


def cmd_merge(args) -> int:
    manifest = merge_indexes(args.out, args.parts)
    print(json.dumps(manifest["counts"], indent=1, sort_keys=True))
    return 0


_SHA = re.compile(r"[0-9a-fA-F]{40}")


def cmd_get(args) -> int:
    if not _SHA.fullmatch(args.id):
        raise ValueError(f"a document id is 40 hexadecimal digits (the content's git blob sha), got {args.id[:60]!r}")
    doc = IndexDir(args.index, es=es_config(args)).store.get(args.id.lower())
    if doc is None:
        raise LookupError(f"no document with id {args.id.lower()} in {args.index}")
    if args.json:
        print(json.dumps(doc.to_json(), ensure_ascii=False))
        return 0
    for s in doc.sources:
        print(f"# {s.repo}/{s.path}  [{', '.join(s.licenses)}; {s.stars} stars]")
    print(doc.content, end="" if doc.content.endswith("\n") else "\n")
    return 0


def cmd_repos(args) -> int:
    index = IndexDir(args.index, es=es_config(args))
    repos = index.store.repos(args.prefix, limit=args.limit)
    owners = index.store.repos(args.prefix, limit=args.limit, field="owner")
    opted = index.ledger.opted_out(args.prefix, limit=args.limit)
    if args.json:
        print(json.dumps({"repos": [{"repo": r, "documents": n} for r, n in repos],
                          "owners": [{"owner": o, "documents": n} for o, n in owners], "opted_out": opted}))
        return 0
    for name, n in owners:
        print(f"{n:>8}  {name}/ (owner)")
    for name, n in repos:
        print(f"{n:>8}  {name}")
    for e in opted:
        print(f"{'removed':>8}  {e.get('repo') or e.get('owner') + '/ (owner)'} (opted out {e['at']})")
    return 0


def cmd_stats(args) -> int:
    index = IndexDir(args.index, es=es_config(args))
    store, manifest = index.store, index.manifest
    body = {**store.stats().to_json(), "counts": manifest["counts"], "store": store.describe(),
            "membership": index.filter_record}
    if args.json:
        print(json.dumps(body))
        return 0
    print(f"{body['documents']:,} documents ({body['sources']:,} sources, "
          f"{body['content_bytes'] / 1e6:,.1f} MB) in a {manifest['store']['backend']} store")
    for lang, n in sorted(body["by_lang"].items(), key=lambda kv: -kv[1])[:15]:
        print(f"{n:>8}  {lang or '(unknown)'}")
    sketch = body["membership"]
    if sketch:
        print(f"Bloom filter: {sketch['items']:,} chunks, {sketch['bytes'] / 1e6:.1f} MB, false positives "
              f"{sketch['fpr']:.2%} configured, {sketch['fpr_measured']:.3%} measured")
    return 0


def _who() -> str:
    """Who a ledger entry made on the command line names: the user running it."""
    return "cli:" + (os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown")


def cmd_switch(args) -> int:
    done = switch(args.link, args.index, es=es_config(args), who=f"{_who()} (starscope switch)")
    print(json.dumps(done) if args.json else
          f"{done['link']} -> {done['to']} (was {done['from']}); carried {len(done['optouts_carried'])} "
          f"opt-outs and {done['requests_carried']} opt-out requests. The old directory stays until you "
          "delete it (after the servers have followed the link: /api/health names the directory each serves).")
    return 0


def cmd_optout_add(args) -> int:
    index = args.index.resolve()  # one directory for the store and the ledger, even if a switch moves the link
    store = IndexDir(index, es=es_config(args)).store
    entry = opt_out(index, store, repo=args.repo, owner=args.owner, reason=args.reason, who=_who())
    if args.json:
        print(json.dumps(entry))
    elif entry.get("already"):
        what = entry.get("repo") or f"owner {entry['owner']}"
        print(f"{args.repo or args.owner} is already removed: ledger entry {entry['seq']} ({what}, {entry['at']}) "
              "removed it and the index holds nothing of it; nothing was added.")
    else:
        print(f"removed {args.repo or args.owner}: {entry['removed']} contents deleted or changed "
              f"({entry['contents_removed']} gone entirely); ledger entry {entry['seq']}. Membership checks its "
              "hits in the store until `starscope rebuild-filter` drops the code from the filter.")
    return 0


def cmd_optout_list(args) -> int:
    entries = IndexDir(args.index).ledger.entries()
    if args.json:
        print(json.dumps({"optouts": entries}))
        return 0
    if not entries:
        print("no opt-outs")
    for e in entries:
        print(f"{e['seq']:>4}  {e['at']}  {e.get('repo') or e.get('owner') + ' (owner)'}  by {e['who']}: "
              f"{e['removed']} contents ({e['contents_removed']} gone)  reason: {e['reason']}")
    return 0


def cmd_rebuild_filter(args) -> int:
    sketch = rebuild_filter(args.index, IndexDir(args.index, es=es_config(args)).store)
    print(json.dumps(sketch) if args.json else
          f"rebuilt the filter of {args.index}: {sketch['dropped']} removed chunks dropped "
          f"({sketch['kept_shared']} kept: other files hold them), {sketch['items']:,} chunks, "
          f"{sketch['fpr_measured']:.3%} measured false positives, opt-outs up to {sketch['ledger_seq']}")
    return 0


def cmd_search(args) -> int:
    store = IndexDir(args.index, es=es_config(args)).store
    query = parse_query(args.query, exact=args.exact,
                        filters=Filters(lang=args.lang, license=args.license, repo=args.repo))
    result = store.search(query, page=Page(args.page, args.size), sort=args.sort)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0
    print(f"{result.total} documents match (page {result.page.number} of {result.pages})")
    for hit in result.hits:
        doc = hit.document.summary_json()
        print(f"\n{doc['repo']}/{doc['path']}  [{doc['lang'] or '?'}; {', '.join(doc['licenses'])}; "
              f"{doc['stars']} stars; {hit.match_count} matches]")
        for snip in hit.snippets:
            print(f"{snip.line:>6}: {snip.text}")
    return 0


def run(args, errors: tuple[type[Exception], ...] = USER_ERRORS) -> int:
    """Run the parsed command; an error of ``errors`` (the user's, not a bug) is printed as
    ``starscope: error: ...`` with exit status 1."""
    try:
        return args.func(args)
    except errors as e:
        print(f"starscope: error: {e}", file=sys.stderr)
        return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexer")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))
