"""The ``starscope`` command: the indexer's, membership's and the model's commands plus ``serve``.

This is the command line's composition root, as ``create_app`` is for HTTP: each package offers
its own subcommands, and only this module wires the packages together (the indexer's sample of
an index for ``train-demo``, membership's attribution after the model's ``generate``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from indexer import cli as indexer_cli
from indexer.corpus.sample import index_sample
from indexer.index_dir import IndexDir
from indexer.stores import open_index
from membership import cli as membership_cli
from membership.attribution import AttributionConfig, MembershipIndex
from model import cli as model_cli
from model.generate import check_model

from .compose import generate_and_attribute


ADMIN_TOKEN_ENV = "STARSCOPE_ADMIN_TOKEN"
DEFAULT_RATE_LIMIT = "120/minute"
DEFAULT_SEARCH_RATE_LIMIT = "600/minute"


USER_ERRORS = indexer_cli.USER_ERRORS + membership_cli.USER_ERRORS


def open_membership(args, config: AttributionConfig) -> MembershipIndex:
    """Membership's opener: ``args.index`` with its store where the ``--es-*`` options say."""
    return IndexDir(args.index, es=indexer_cli.es_config(args)).membership(config)


def proxy_hops(args) -> int:
    """How many proxies ``--trust-proxy``/``--proxy-hops`` trust."""
    if args.proxy_hops is not None:
        return args.proxy_hops
    return 1 if args.trust_proxy else 0


def _add_attribute_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--attribute", type=Path, metavar="INDEX_DIR",
                   help="attribute the generated part (not the prompt) against this index")


def cmd_generate(args) -> int:
    """``generate``; with ``--attribute INDEX_DIR``, the model generates, membership attributes the
    generated part, and a summary of the spans follows the text."""
    if not args.attribute:
        return model_cli.cmd_generate(args)
    generator, req = model_cli.load_generation(args)
    body = generate_and_attribute(generator, IndexDir(args.attribute).membership(), req)
    model_cli.print_generation(body, as_json=args.json)
    if args.json:
        return 0
    attribution = body["attribution"]
    if attribution is None:
        print(f"\n-- not attributed: {body.get('attribution_reason')}")
        return 0
    real = [s for s in attribution["spans"] if not s["common"]]
    print(f"\n-- {len(real)} verbatim span(s) from the corpus, {attribution['coverage']:.1%} of the output")
    if attribution["truncated"]:
        print(f"-- {membership_cli.truncation_warning(attribution, options=False)}")
    for s in real:
        src = s["sources"][0]
        print(f"   [{s['start']}, {s['end']}) {src['repo']}/{src['path']}:{src['start_line']}-{src['end_line']}"
              f" [{', '.join(src['licenses'])}]")
    return 0


def cmd_serve(args) -> int:
    # The app, gunicorn and the worker load only for `serve`: every other command starts faster.
    from .app import checked_config
    from .server import serve
    from .worker import ServerLimits

    es = indexer_cli.es_config(args)
    limits = ServerLimits(read_timeout=args.read_timeout, min_upload_rate=args.min_upload_rate,
                          keepalive=args.keepalive, write_timeout=args.write_timeout,
                          max_connections=args.max_connections)
    config = checked_config({"INDEX_DIR": str(args.index), "ELASTICSEARCH": es,
                             "ADMIN_TOKEN": os.environ.get(ADMIN_TOKEN_ENV) or None,
                             "MODEL": str(args.model) if args.model else None, "MODEL_DEVICE": args.device,
                             "RATE_LIMIT": None if args.rate_limit == "off" else args.rate_limit,
                             "SEARCH_RATE_LIMIT": None if args.search_rate_limit == "off" else args.search_rate_limit,
                             "CORS_ORIGINS": args.cors_origin, "TRUST_PROXY": proxy_hops(args),
                             "REDACT_PII": not args.no_redact_pii, "MAX_CANDIDATES": args.max_candidates,
                             "MAX_COUNTED": args.max_counted})
    # Fail here, with the CLI's message, not inside a worker; but never load the model here:
    # torch's thread pools do not survive gunicorn's fork, and the workers would hang.
    open_index(args.index, es=es)
    if args.model:
        check_model(args.model)
    print(f"StarScope is serving {args.index} at http://{args.host}:{args.port}/ "
          f"({args.workers} workers x {args.threads} threads)", flush=True)
    serve(config, host=args.host, port=args.port, workers=args.workers, threads=args.threads,
          access_log=not args.no_access_log, limits=limits)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starscope", description=(
        "Where did this code come from? Search, membership test and attribution over a code "
        "LLM's pretraining data."))
    sub = parser.add_subparsers(dest="command", required=True)
    indexer_cli.add_commands(sub)
    membership_cli.add_commands(sub, open_index=open_membership, add_store_options=indexer_cli.add_es_options)
    model = model_cli.add_commands(sub, corpus_sample=index_sample, generate_options=_add_attribute_option)
    model["generate"].set_defaults(func=cmd_generate)
    p = sub.add_parser("serve", help="serve the JSON API and the web UI (gunicorn; the admin "
                                     f"endpoints need ${ADMIN_TOKEN_ENV})")
    p.add_argument("index", type=Path)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=2, help="processes (default 2: one per core here)")
    p.add_argument("--threads", type=int, default=4, help="requests each process serves at once (4)")
    p.add_argument("--model", type=Path, help="a model folder for /api/generate (e.g. the demo model)")
    p.add_argument("--device", help="the model's device: cpu or cuda (default: cuda when present)")
    p.add_argument("--rate-limit", default=DEFAULT_RATE_LIMIT,
                   help=f"requests per client on the heavy endpoints (membership, attribution, overlap, "
                        f"generate), per worker: N/second, N/minute or N/hour, or off (default {DEFAULT_RATE_LIMIT})")
    p.add_argument("--search-rate-limit", default=DEFAULT_SEARCH_RATE_LIMIT,
                   help=f"requests per client on search, documents and repository names, per worker, "
                        f"as --rate-limit (default {DEFAULT_SEARCH_RATE_LIMIT})")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="a web origin (https://host) whose pages may call the API; repeatable (default: none)")
    p.add_argument("--trust-proxy", action="store_true",
                   help="behind a reverse proxy that appends to X-Forwarded-For: the client is the last "
                        "(right-most) address there (default: the connecting address)")
    p.add_argument("--proxy-hops", type=int, metavar="N",
                   help="behind N reverse proxies in a row, each appending to X-Forwarded-For: the client "
                        "is the N-th address from the right (implies --trust-proxy; 1 is --trust-proxy)")
    p.add_argument("--no-redact-pii", action="store_true",
                   help="serve corpus text as stored (default: emails, IP addresses and keys become "
                        "<EMAIL>, <IP_ADDRESS>, <KEY>)")
    p.add_argument("--max-candidates", type=int, default=200,
                   help="near-duplicate candidates one attribution scores at most (default 200); "
                        "answers cut by it say so (truncated)")
    p.add_argument("--max-counted", type=int, default=4096,
                   help="documents whose sources one span's count sums at most (default 4096): past it "
                        "the count is a lower bound and the answer says so (truncated)")
    p.add_argument("--read-timeout", type=float, default=10.0, metavar="S",
                   help="seconds a client has to send a request's headers, and its body beyond what "
                        "--min-upload-rate allows; then 408 (default 10)")
    p.add_argument("--min-upload-rate", type=int, default=16 << 10, metavar="BYTES",
                   help="bytes a second a request body must average (default 16384)")
    p.add_argument("--keepalive", type=float, default=5.0, metavar="S",
                   help="seconds an idle connection may wait for its next request (default 5)")
    p.add_argument("--write-timeout", type=float, default=30.0, metavar="S",
                   help="seconds one write of an answer may wait for a client that does not read it (default 30)")
    p.add_argument("--max-connections", type=int, default=1000, metavar="N",
                   help="open connections per process; beyond, a new one takes the place of the oldest idle "
                        "one, else of the slowest to send its request (default 1000)")
    p.add_argument("--no-access-log", action="store_true",
                   help="no access lines (they never hold query strings or bodies anyway)")
    indexer_cli.add_es_options(p)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv=None) -> int:
    return indexer_cli.run(build_parser().parse_args(argv), USER_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
