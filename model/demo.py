"""``starscope train-demo``: a tiny StarCoder-shaped model trained on a sample of a corpus.

Owns the demo model folder: a normal transformers folder (``save_pretrained`` of a
``GPTBigCodeForCausalLM`` and its tokenizer) plus ``starscope-demo.json`` (what it was trained
on, how long, its losses). Any transformers loader opens it like a downloaded checkpoint.

The tokenizer is byte-level BPE (the tokenizers library) with StarCoder's special tokens at
StarCoder's ids 0-18, so prompts written for StarCoder (FIM, ``<filename>``, ``<reponame>``)
mean the same here. The model is a multi-query-attention GPTBigCode of a few million
parameters. Training text is a fixed sample of the corpus, which the caller takes (the command
line: of the index's own shards; by default 100 kB, so that within the time budget the model
sees it many times and, like a real code LLM, sometimes reproduces it), half of the documents
in fill-in-the-middle form (``<fim_prefix>P<fim_suffix>S<fim_middle>M``, StarCoder's PSM order),
separated by ``<|endoftext|>``.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# StarCoder's special tokens, in the order that gives them ids 0-18.
SPECIAL_TOKENS = ("<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>",
                  "<filename>", "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>",
                  "<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>",
                  "<empty_output>", "<commit_before>", "<commit_msg>", "<commit_after>", "<reponame>")
EOS, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX = SPECIAL_TOKENS[0], SPECIAL_TOKENS[1], SPECIAL_TOKENS[2], SPECIAL_TOKENS[3]
RECORD_FILE = "starscope-demo.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DemoConfig:
    """What is trained and for how long."""

    # Sized by bench/demo_model_bench.py on 2 CPU cores (BENCHMARKS.md, "The demo model"): ~4,000
    # tokens/s of training, so a 100 kB sample (~24k tokens) is seen ~30 times in 180 s, and the
    # model reproduces 50+ character spans from half of its training files. Memorization starts
    # abruptly near a loss of 1.5: 160 kB (~17 passes) gave 4-29% across two runs, 4 MB none.
    budget_s: float = 180.0  # wall-clock training budget (the tokenizer and data prep come first)
    max_steps: int = 0  # stop after this many steps even within the budget (0: no limit); the
    # same seed and steps give the same model on any machine, which tests rely on
    train_bytes: int = 100_000  # corpus sample the model is trained on (repeated as needed)
    vocab_size: int = 4096
    n_layer: int = 4
    n_embd: int = 256
    n_head: int = 4
    context: int = 512  # positions the model has
    seq_len: int = 256  # tokens per training sequence
    batch: int = 8
    lr: float = 3e-3
    warmup_steps: int = 50
    fim_rate: float = 0.5
    seed: int = 0
    threads: int = 0  # torch CPU threads (0: torch's default)

    def __post_init__(self):
        if self.budget_s <= 0 or self.train_bytes < 1000 or self.max_steps < 0:
            raise ValueError("budget_s must be positive, max_steps not negative and train_bytes at least 1000")
        if self.seq_len > self.context:
            raise ValueError(f"seq_len ({self.seq_len}) cannot exceed context ({self.context})")
        if self.vocab_size <= len(SPECIAL_TOKENS) + 256:
            raise ValueError(f"vocab_size must exceed {len(SPECIAL_TOKENS) + 256} (special tokens + bytes)")


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE with StarCoder's special tokens at ids 0-18, as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    for i, t in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(t) == i, (t, tok.token_to_id(t))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS,
                                   additional_special_tokens=list(SPECIAL_TOKENS[1:]),
                                   model_max_length=None, clean_up_tokenization_spaces=False)


def fim_text(text: str, rng: random.Random) -> str:
    """``text`` in PSM fill-in-the-middle form, split at two random character positions."""
    a, b = sorted(rng.randrange(len(text) + 1) for _ in range(2))
    return f"{FIM_PREFIX}{text[:a]}{FIM_SUFFIX}{text[b:]}{FIM_MIDDLE}{text[a:b]}"


def token_stream(texts: list[str], tokenizer, config: DemoConfig):
    """One long array of token ids: documents (half in FIM form) joined by ``<|endoftext|>``."""
    import numpy as np

    rng = random.Random(config.seed)
    pieces = []
    for text in texts:
        form = fim_text(text, rng) if rng.random() < config.fim_rate else text
        pieces.append(form + EOS)
    ids = tokenizer(pieces, add_special_tokens=False)["input_ids"]
    return np.fromiter((t for seq in ids for t in seq), dtype=np.int64)


def build_model(tokenizer, config: DemoConfig):
    from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM

    eos = tokenizer.convert_tokens_to_ids(EOS)
    cfg = GPTBigCodeConfig(vocab_size=len(tokenizer), n_positions=config.context, n_embd=config.n_embd,
                           n_layer=config.n_layer, n_head=config.n_head, multi_query=True,
                           bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)
    return GPTBigCodeForCausalLM(cfg)


def train_demo(texts: list[str], out_dir: str | Path, *, source: str, config: DemoConfig = DemoConfig(),
               device: str | None = None, log=print) -> dict:
    """Train the demo model on ``texts`` into ``out_dir``; returns its record.

    ``texts`` is the training sample, which the caller takes (``config.train_bytes`` of it, with
    ``config.seed``: the record keeps both); ``source`` names what it was taken from, and is the
    record's ``index``."""
    import numpy as np
    import torch

    started = time.perf_counter()
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = train_tokenizer(texts, config.vocab_size)
    stream = token_stream(texts, tokenizer, config)
    n_seq = len(stream) // config.seq_len
    if n_seq < 1:
        raise ValueError(f"the corpus sample has {len(stream)} tokens, fewer than one sequence of {config.seq_len}")
    data = torch.from_numpy(stream[:n_seq * config.seq_len].reshape(n_seq, config.seq_len))
    model = build_model(tokenizer, config).to(device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    rng = np.random.default_rng(config.seed)
    prep_s = time.perf_counter() - started
    log(f"train-demo: {len(texts)} documents, {sum(len(t) for t in texts) / 1e6:.1f} M characters, "
        f"{len(stream):,} tokens, {params / 1e6:.1f} M parameters on {device}; training {config.budget_s:g} s")
    losses, step, deadline = [], 0, time.perf_counter() + config.budget_s
    model.train()
    while time.perf_counter() < deadline and not (config.max_steps and step >= config.max_steps):
        idx = torch.from_numpy(rng.integers(0, n_seq, size=config.batch))
        batch = data[idx].to(device)
        lr = config.lr * min(1.0, (step + 1) / config.warmup_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 100 == 0:
            log(f"train-demo: step {step}, loss {sum(losses[-100:]) / len(losses[-100:]):.3f}")
    model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    first, last = losses[:min(20, len(losses))], losses[-min(20, len(losses)):]
    record = {"format": "starscope-demo-model", "version": FORMAT_VERSION, "index": source,
              "config": asdict(config), "device": device, "parameters": params, "documents": len(texts),
              "tokens": int(len(stream)), "steps": step, "tokens_seen": step * config.batch * config.seq_len,
              "epochs": round(step * config.batch / n_seq, 2), "loss_first": sum(first) / len(first),
              "loss_last": sum(last) / len(last), "prep_s": round(prep_s, 1),
              "train_s": round(time.perf_counter() - started - prep_s, 1)}
    tmp = out / f".{RECORD_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out / RECORD_FILE)
    log(f"train-demo: {step} steps ({record['epochs']} epochs of the sample), loss "
        f"{record['loss_first']:.2f} -> {record['loss_last']:.2f}; saved {out}")
    return record
