"""The demo model: its CPU speed, and how often it reproduces its training data.

Trains the demo model on an index (``starscope train-demo``'s defaults, or ``--model`` to reuse
one), then:

* speed: greedy generation of ``--new-tokens`` tokens at batch 1 on the CPU, tokens/s;
* memorization: ``--prompts`` prompts, each the first ``--prompt-chars`` characters of a corpus
  document, half from the training sample and half from documents outside it; each generation
  (the generated part only) is attributed against the index, and we count the generations
  holding a verbatim span of 50 or more normalized characters (attribution's minimum), common
  (boilerplate) spans apart.

    .venv/bin/python bench/demo_model_bench.py --index var/bench/index-api --out var/bench/demo-model
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_throughput import ROOT, machine_info, machine_line, markdown_table  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from indexer.corpus.sample import index_sample
    from indexer.index_dir import IndexDir
    from model.demo import RECORD_FILE, DemoConfig, train_demo
    from model.generate import GenerationRequest, Generator

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--out", type=Path, help="train into this folder")
    p.add_argument("--model", type=Path, help="reuse a trained demo model instead")
    p.add_argument("--budget-s", type=float, default=DemoConfig.budget_s)
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a DemoConfig field (repeatable), e.g. --set train_bytes=300000")
    p.add_argument("--prompts", type=int, default=60)
    p.add_argument("--prompt-chars", type=int, default=300)
    p.add_argument("--new-tokens", type=int, default=128)
    args = p.parse_args(argv)
    if bool(args.out) == bool(args.model):
        p.error("give --out (train) or --model (reuse)")
    if args.out:
        fields = {f.name: f.type for f in dataclasses.fields(DemoConfig)}
        overrides = {}
        for item in args.set:
            key, _, value = item.partition("=")
            if key not in fields:
                p.error(f"--set {item}: DemoConfig has no field {key!r}")
            overrides[key] = float(value) if fields[key] in (float, "float") else int(value)
        config = DemoConfig(budget_s=args.budget_s, **overrides)
        train_demo(index_sample(args.index, config.train_bytes, config.seed), args.out,
                   source=str(args.index.resolve()), config=config, device="cpu",
                   log=lambda m: print(m, file=sys.stderr, flush=True))
    path = args.model or args.out
    record = json.loads((path / RECORD_FILE).read_text())
    config = DemoConfig(**record["config"])
    gen = Generator.load(path, device="cpu")
    corpus = IndexDir(args.index)
    index = corpus.membership()
    rng = random.Random(7)
    trained = [t for t in index_sample(args.index, config.train_bytes, config.seed) if len(t) > args.prompt_chars + 200]
    trained_set = set(trained)
    others = []
    for repo, _ in corpus.store.repos("", limit=300):
        others += [d.content for d in corpus.store.docs_with_terms("repo", [repo], limit=3)
                   if d.content not in trained_set and len(d.content) > args.prompt_chars + 200]
    half = args.prompts // 2
    groups = {"prompt from the training sample": rng.sample(trained, min(half, len(trained))),
              "prompt from elsewhere in the corpus": rng.sample(others, min(half, len(others)))}
    speeds, rows = [], []
    for label, texts in groups.items():
        hit = hit_common = spans = 0
        longest = []
        for text in texts:
            req = GenerationRequest(prompt=text[:args.prompt_chars], max_new_tokens=args.new_tokens, temperature=0)
            t0 = time.perf_counter()
            result = gen.generate(req)
            speeds.append(result.new_tokens / (time.perf_counter() - t0))
            try:
                att = index.attribute(result.text, near_duplicates=False)
            except ValueError:
                continue
            real = [s for s in att.spans if not s.common]
            hit += bool(real)
            hit_common += bool(att.spans) and not real
            spans += len(real)
            if real:
                longest.append(max(s.normalized_length for s in real))
        rows.append([label, len(texts), f"{hit} ({hit / max(1, len(texts)):.0%})", hit_common, spans,
                     f"{statistics.median(longest):.0f}" if longest else "-"])
    print(machine_line(machine_info()))
    print(f"demo model: {record['parameters'] / 1e6:.1f} M parameters, {record['steps']} steps in "
          f"{record['train_s']} s on {record['device']} ({record['epochs']} epochs of a "
          f"{config.train_bytes / 1e3:,.0f} kB sample), loss {record['loss_first']:.2f} -> {record['loss_last']:.2f}")
    print(f"CPU greedy generation, batch 1, {args.new_tokens} new tokens: "
          f"{statistics.median(speeds):.0f} tokens/s (median over {len(speeds)} prompts)")
    print()
    print(markdown_table(["prompts", "n", "generations with a verbatim span >= 50 chars",
                          "only common spans", "spans", "median longest span (chars)"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
