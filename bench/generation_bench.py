"""Generation speed: StarScope's engine (model/engine.py) versus plain ``model.generate``.

Builds a GPTBigCode model from StarCoderBase-1B's published configuration with random weights
(throughput depends on the architecture, not the weights), then, on one card in one run:

* tokens/s at batch 1 and at batch 16 (16 concurrent requests for the engine, one batched
  ``generate`` call for transformers), greedy, ``--new-tokens`` tokens after a
  ``--prompt-tokens`` prompt, end of sequence ignored so every run makes the same number;
* time to first token: ``generate(max_new_tokens=1)`` for transformers; submission to the first
  token on the request's queue for the engine (at batch 16: every request's, p50 and max);
* agreement: the greedy tokens of the engine (CUDA graphs and eager) against transformers'.

``model.generate`` runs with its defaults (dynamic cache, the model's default attention); both
paths get one warm-up run first, and the engine's graph capture is timed separately.

    python3 bench/generation_bench.py --out var/bench/generation.json           # on a GPU
    python3 bench/generation_bench.py --config tiny --device cpu --new-tokens 16  # smoke test
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# bigcode/starcoderbase-1b's config.json (the architecture fields).
STARCODERBASE_1B = {"activation_function": "gelu_pytorch_tanh", "n_embd": 2048, "n_head": 16, "n_inner": 8192,
                    "n_layer": 24, "n_positions": 8192, "vocab_size": 49152, "multi_query": True,
                    "layer_norm_epsilon": 1e-5, "scale_attn_weights": True, "attention_softmax_in_fp32": True,
                    "scale_attention_softmax_in_fp32": True, "bos_token_id": 0, "eos_token_id": 0}
TINY = dict(STARCODERBASE_1B, n_embd=128, n_head=4, n_inner=512, n_layer=2, n_positions=1024, vocab_size=1024)


def build(config: dict, device: str):
    import torch
    from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM

    torch.manual_seed(0)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model = GPTBigCodeForCausalLM(GPTBigCodeConfig(**config)).to(device=device, dtype=dtype).eval()
    model.generation_config.eos_token_id = None  # random weights: make every run the same length
    model.generation_config.pad_token_id = 0
    return model


def sync(device: str):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def hf_generate(model, prompts, new_tokens: int, device: str):
    """Plain ``model.generate``: (seconds, output ids of the new part)."""
    import torch

    ids = torch.tensor(prompts, device=device)
    sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                             do_sample=False)
    sync(device)
    return time.perf_counter() - t0, out[:, ids.shape[1]:].tolist()


def engine_generate(engine, prompts, new_tokens: int):
    """All prompts submitted at once: (seconds until the last finishes, each request's
    first-token latency, output ids)."""
    from model.engine import Finish, Handle

    handles, first, outs = [], [None] * len(prompts), [[] for _ in prompts]
    t0 = time.perf_counter()
    for p in prompts:
        handles.append(engine.submit(Handle(list(p), new_tokens)))

    def drain(i, h):
        while True:
            item = h.tokens.get()
            if isinstance(item, Finish):
                if item.error is not None:
                    raise item.error
                return
            if first[i] is None:
                first[i] = time.perf_counter() - t0
            outs[i].append(item)

    threads = [threading.Thread(target=drain, args=(i, h)) for i, h in enumerate(handles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, first, outs


def agreement(a: list[int], b: list[int]) -> int:
    """Tokens equal before the first difference."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main(argv=None) -> int:
    import torch
    import transformers

    from model.engine import ATTENTION, Engine

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=("starcoderbase-1b", "tiny"), default="starcoderbase-1b")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5, help="timed runs per measure (median)")
    p.add_argument("--attention", choices=ATTENTION, default="matmul", help="the engine's decode attention")
    p.add_argument("--out", type=Path, help="also write the results here as JSON")
    args = p.parse_args(argv)

    device = args.device
    config = STARCODERBASE_1B if args.config == "starcoderbase-1b" else TINY
    model = build(config, device)
    params = sum(p.numel() for p in model.parameters())
    card = torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor() or "cpu"
    gen = torch.Generator().manual_seed(1)
    prompts = torch.randint(1, config["vocab_size"], (args.batch, args.prompt_tokens), generator=gen).tolist()
    one = prompts[:1]
    n = args.new_tokens
    med = statistics.median
    results = {"attention": args.attention, "card": card, "device": device, "config": args.config, "parameters": params,
               "torch": torch.__version__, "transformers": transformers.__version__,
               "prompt_tokens": args.prompt_tokens, "new_tokens": n, "batch": args.batch}

    # The engine captures its graphs (timed) first; both paths warm up; then the timed runs
    # alternate between the two, so that clock and host drift fall on both alike.
    engine = Engine(model, slots=max(16, args.batch), attention=args.attention)
    t0 = time.perf_counter()
    engine.warm_up()
    capture_s = time.perf_counter() - t0
    hf_generate(model, one, 8, device)
    engine_generate(engine, one, 8)
    hf1, en1, hfb, enb, hf_ttft1, hf_ttftb = [], [], [], [], [], []
    for _ in range(args.repeats):
        hf1.append(hf_generate(model, one, n, device))
        en1.append(engine_generate(engine, one, n))
        hfb.append(hf_generate(model, prompts, n, device))
        enb.append(engine_generate(engine, prompts, n))
        hf_ttft1.append(hf_generate(model, one, 1, device)[0])
        hf_ttftb.append(hf_generate(model, prompts, 1, device)[0])
    hf_ttft1, hf_ttftb = med(hf_ttft1), med(hf_ttftb)
    eager = Engine(model, slots=1, cuda_graphs=False, attention=args.attention)
    engine_generate(eager, one, 8)
    eager_s, _, eager_outs = engine_generate(eager, one, n)
    eager_out = eager_outs[0]
    del eager

    hf_tokens, en_tokens = hf1[0][1][0], en1[0][2][0]
    results.update({
        "capture_s": round(capture_s, 2), "graphs": len(engine.runner._graphs),
        "hf_batch1_tok_s": n / med(r[0] for r in hf1),
        "engine_batch1_tok_s": n / med(r[0] for r in en1),
        "engine_eager_batch1_tok_s": n / eager_s,
        "hf_batchN_tok_s": args.batch * n / med(r[0] for r in hfb),
        "engine_batchN_tok_s": args.batch * n / med(r[0] for r in enb),
        "hf_ttft1_ms": hf_ttft1 * 1000,
        "engine_ttft1_ms": med(r[1][0] for r in en1) * 1000,
        "hf_ttftN_ms": hf_ttftb * 1000,
        "engine_ttftN_p50_ms": med(med(r[1]) for r in enb) * 1000,
        "engine_ttftN_max_ms": med(max(r[1]) for r in enb) * 1000,
        "agree_engine_vs_hf": agreement(en_tokens, hf_tokens),
        "agree_graphs_vs_eager": agreement(en_tokens, eager_out),
        "agree_batchN_vs_batch1": agreement(enb[0][2][0], en_tokens),
    })
    r = results
    print(f"{card}: {args.config}-shaped GPTBigCode, {params / 1e9:.2f} B parameters, random weights "
          f"({'bf16' if device.startswith('cuda') else 'fp32'}); torch {torch.__version__}, "
          f"transformers {transformers.__version__}; prompt {args.prompt_tokens} tokens, {n} new, greedy")
    print(f"engine ({args.attention} decode attention) warm-up: {r['graphs']} CUDA graphs captured in "
          f"{r['capture_s']} s" if engine.runner.cuda_graphs
          else "engine: eager (no CUDA graphs on this device)")
    print()
    print("| measure | model.generate | StarScope engine | ratio |")
    print("| --- | --- | --- | --- |")
    rows = [("tokens/s, batch 1", "hf_batch1_tok_s", "engine_batch1_tok_s", True),
            (f"tokens/s, batch {args.batch}", "hf_batchN_tok_s", "engine_batchN_tok_s", True),
            ("time to first token, batch 1 (ms)", "hf_ttft1_ms", "engine_ttft1_ms", False),
            (f"time to first token, batch {args.batch} (ms)", "hf_ttftN_ms", "engine_ttftN_p50_ms", False)]
    for label, a, b, higher in rows:
        ratio = r[b] / r[a] if higher else r[a] / r[b]
        extra = f" (p50; max {r['engine_ttftN_max_ms']:.1f})" if b == "engine_ttftN_p50_ms" else ""
        print(f"| {label} | {r[a]:.1f} | {r[b]:.1f}{extra} | {ratio:.2f}× |")
    print(f"| tokens/s, batch 1, engine without CUDA graphs | | {r['engine_eager_batch1_tok_s']:.1f} | "
          f"{r['engine_eager_batch1_tok_s'] / r['hf_batch1_tok_s']:.2f}× |")
    print()
    print(f"greedy agreement over {n} tokens: engine vs model.generate {r['agree_engine_vs_hf']}, "
          f"graphs vs eager {r['agree_graphs_vs_eager']}, batch {args.batch} vs batch 1 {r['agree_batchN_vs_batch1']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
