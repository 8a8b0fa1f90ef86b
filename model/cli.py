"""The model half of the ``starscope`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from .demo import DemoConfig, train_demo
from .generate import GenerationRequest, Generator


def add_commands(sub: argparse._SubParsersAction, *, corpus_sample: Callable[[Path, int, int], list[str]],
                 generate_options: Callable[[argparse.ArgumentParser], None] | None = None
                 ) -> dict[str, argparse.ArgumentParser]:
    """Add ``train-demo`` and ``generate``; returns their parsers by name.

    The command line's composition root wires in what the model knows nothing of:
    ``corpus_sample(index_dir, limit_bytes, seed)`` reads ``train-demo``'s training texts from an
    index, and ``generate_options(parser)`` adds the root's own options to ``generate`` (its help
    lists them before ``--json``). A root that adds options gives ``generate`` its own handler,
    built on :func:`load_generation` and :func:`print_generation`.
    """
    p = train = sub.add_parser("train-demo", help="train the tiny demo model (a StarCoder-shaped GPTBigCode) "
                                                  "on an index's own corpus")
    p.add_argument("index", type=Path)
    p.add_argument("--out", type=Path, required=True, help="the model folder to write (transformers format)")
    p.add_argument("--budget-s", type=float, default=DemoConfig.budget_s,
                   help=f"training time in seconds (default {DemoConfig.budget_s:g})")
    p.add_argument("--max-steps", type=int, default=0,
                   help="stop after this many steps even within the budget (0: no limit; same steps and "
                        "seed give the same model on any machine)")
    p.add_argument("--train-mb", type=float, default=DemoConfig.train_bytes / 1e6,
                   help=f"corpus sample to train on, MB (default {DemoConfig.train_bytes / 1e6:g}: small "
                        "enough to be seen many times)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--json", action="store_true", help="print the training record as JSON")
    p.set_defaults(func=partial(cmd_train_demo, corpus_sample=corpus_sample))

    p = sub.add_parser("generate", help="generate with a StarCoder-family model (and attribute the output)")
    p.add_argument("--model", required=True, help="a transformers model folder (or a hub id, with network)")
    p.add_argument("--prompt", help="the prompt (\\n means a newline); with --fim-suffix, the prefix")
    p.add_argument("--fim-prefix", help="fill-in-the-middle: the code before the gap")
    p.add_argument("--fim-suffix", help="fill-in-the-middle: the code after the gap")
    p.add_argument("--assistant", action="store_true", help="ask the technical assistant (dialogue prompt)")
    p.add_argument("--repo", help="<reponame> metadata prefix")
    p.add_argument("--filename", help="<filename> metadata prefix")
    p.add_argument("--humaneval-prefix", action="store_true", help="StarCoder's HumanEval solutions-file prefix")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.2, help="0: greedy")
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--seed", type=int)
    p.add_argument("--stop", action="append", default=[], help="stop at this text (repeatable)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    if generate_options is not None:
        generate_options(p)
    p.add_argument("--json", action="store_true", help='print {"text", "generation", "attribution"}')
    p.set_defaults(func=cmd_generate)
    return {"train-demo": train, "generate": p}


def cmd_train_demo(args, *, corpus_sample: Callable[[Path, int, int], list[str]]) -> int:
    config = DemoConfig(budget_s=args.budget_s, train_bytes=int(args.train_mb * 1e6), max_steps=args.max_steps)
    texts = corpus_sample(args.index, config.train_bytes, config.seed)
    record = train_demo(texts, args.out, source=str(args.index.resolve()), config=config, device=args.device,
                        log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(record))
    return 0


def _unescape(text: str | None) -> str | None:
    return None if text is None else text.replace("\\n", "\n")


def request_from_args(args):
    if args.fim_prefix is not None or args.fim_suffix is not None:
        if args.prompt is not None or args.assistant:
            raise ValueError("give --prompt (or --assistant) or --fim-prefix/--fim-suffix, not both")
        mode, prompt, suffix = "fim", _unescape(args.fim_prefix) or "", _unescape(args.fim_suffix) or ""
    elif args.prompt is not None:
        mode, prompt, suffix = ("assistant" if args.assistant else "completion"), _unescape(args.prompt), ""
    else:
        raise ValueError("give --prompt TEXT, or --fim-prefix P --fim-suffix S")
    return GenerationRequest(prompt=prompt, mode=mode, fim_suffix=suffix, repo=args.repo, filename=args.filename,
                             humaneval_prefix=args.humaneval_prefix, max_new_tokens=args.max_new_tokens,
                             temperature=args.temperature, top_p=args.top_p, seed=args.seed,
                             stop=tuple(_unescape(s) for s in args.stop))


def load_generation(args) -> tuple[Generator, GenerationRequest]:
    """``generate``'s model, loaded, and the request its options describe (checked first, so a bad
    request is refused before any model loads)."""
    req = request_from_args(args)
    return Generator.load(args.model, device=args.device), req


def print_generation(body: dict, *, as_json: bool) -> None:
    """``generate``'s output: ``{"text", "generation", "attribution"}`` as one JSON line, or the
    generated text."""
    print(json.dumps(body, ensure_ascii=False) if as_json else body["text"])


def cmd_generate(args) -> int:
    generator, req = load_generation(args)
    result = generator.generate(req)
    print_generation({"text": result.text, "generation": result.to_json(), "attribution": None}, as_json=args.json)
    return 0
