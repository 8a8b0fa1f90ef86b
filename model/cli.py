"""The model half of the ``starscope`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .demo import DemoConfig


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-demo", help="train the tiny demo model (a StarCoder-shaped GPTBigCode) "
                                          "on an index's own corpus")
    p.add_argument("index", type=Path)
    p.add_argument("--out", type=Path, required=True, help="the model folder to write (transformers format)")
    p.add_argument("--budget-s", type=float, default=DemoConfig.budget_s,
                   help=f"training time in seconds (default {DemoConfig.budget_s:g})")
    p.add_argument("--train-mb", type=float, default=DemoConfig.train_bytes / 1e6,
                   help="corpus sample to train on, MB (default 4: small enough to be seen many times)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--json", action="store_true", help="print the training record as JSON")
    p.set_defaults(func=cmd_train_demo)


def cmd_train_demo(args) -> int:
    from .demo import train_demo

    config = DemoConfig(budget_s=args.budget_s, train_bytes=int(args.train_mb * 1e6))
    record = train_demo(args.index, args.out, config=config, device=args.device,
                        log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(record))
    return 0
