"""The ``starscope`` command: the indexer's and membership's commands plus ``serve``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from indexer import cli as indexer_cli
from indexer.stores import open_index
from membership import cli as membership_cli


def cmd_serve(args) -> int:
    from .app import create_app

    es = indexer_cli.es_config(args)
    open_index(args.index, es=es)  # fail here, with the CLI's message, not inside Flask
    app = create_app({"INDEX_DIR": str(args.index), "ELASTICSEARCH": es})
    print(f"StarScope is serving {args.index} at http://{args.host}:{args.port}/", flush=True)
    app.run(host=args.host, port=args.port, threaded=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starscope", description=(
        "Where did this code come from? Search, membership test and attribution over a code "
        "LLM's pretraining data."))
    sub = parser.add_subparsers(dest="command", required=True)
    indexer_cli.add_commands(sub)
    membership_cli.add_commands(sub)
    p = sub.add_parser("serve", help="serve the JSON API and the web UI")
    p.add_argument("index", type=Path)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    indexer_cli.add_es_options(p)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv=None) -> int:
    return indexer_cli.run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
