"""A decoding engine for GPTBigCode (StarCoder, StarCoderBase, the demo model): a slot KV cache,
continuous batching of concurrent requests, and CUDA graphs for the decode step.

``model.generate`` pays Python and kernel-launch overhead for every layer of every token and
grows its KV cache as it goes; for a 1B model at batch 1 that overhead, not the GPU, sets the
speed. The engine keeps the model's own weights (no copy) and runs them through a fixed-shape
decode step over a preallocated cache, which on CUDA is captured once per (batch, length) bucket
as a CUDA graph and replayed: one launch per token instead of hundreds.

Data flow::

    submit(ids) --> waiting --(free slots)--> prefill (eager, new requests together) --> first tokens
                                              |
    active rows 0..n-1 <----------------------+
    decode step over rows 0..n-1 (graph of bucket B >= n, length L >= longest row)
    sample every row --> each request's queue --> its consumer (Generator.stream)
    a finished row frees its slot: the last row's cache moves into it, so rows stay 0..n-1

Rows are slots: the active requests always occupy cache rows ``0..n-1``, so the step reads the
cache as a view, never a gather. The engine thread alone touches the model and the cache; other
threads only submit requests, read their queues and set their cancel events.

The arithmetic is GPTBigCode's (pre-norm blocks, learned absolute positions, multi-query or
multi-head attention, tied ``lm_head``); tests check its greedy output token for token against
``model.generate``.
"""

from __future__ import annotations

import math
import queue
import random
import threading
from dataclasses import dataclass, field

LENGTH_BUCKET = 256  # decode graphs attend over the cache in lengths 256, 512, 1024, ...
ATTENTION = ("sdpa", "matmul")  # how a decode step attends (bench/generation_bench.py compares them)
PREFILL_TOKENS = 16384  # prompts prefilled together, counted padded (bounds prefill memory)


def supports(model) -> bool:
    """Whether the engine can run ``model`` (a GPTBigCode causal LM)."""
    return type(model).__name__ == "GPTBigCodeForCausalLM" and hasattr(model, "transformer")


def _buckets(limit: int, first: int) -> list[int]:
    out, b = [], first
    while b < limit:
        out.append(b)
        b *= 2
    return out + [limit]


@dataclass
class Finish:
    """The last item on a request's queue: why it ended (``eos``, ``max_new_tokens``,
    ``cancelled``) or the error that ended it."""

    reason: str
    error: BaseException | None = None


@dataclass
class Handle:
    """A submitted request: token ids arrive on ``tokens`` (ints, then one :class:`Finish`);
    setting ``cancel`` ends it at the next step and frees its slot."""

    ids: list[int]
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    eos: int | None = None
    tokens: queue.Queue = field(default_factory=queue.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)


class _Row:
    __slots__ = ("handle", "length", "count", "generator")

    def __init__(self, handle: Handle, generator):
        self.handle, self.generator = handle, generator
        self.length = len(handle.ids)  # tokens in the cache
        self.count = 0  # tokens generated


class GPTBigCodeRunner:
    """The arithmetic: prefill one request into a cache row, and one decode step over rows
    ``0..n-1``. Not thread-safe; the engine thread owns it."""

    def __init__(self, model, *, slots: int, max_len: int, cuda_graphs: bool | None = None,
                 attention: str = "matmul"):
        import torch
        from transformers.activations import ACT2FN

        cfg = model.config
        t = model.transformer
        if attention not in ATTENTION:
            raise ValueError(f"attention is one of {', '.join(ATTENTION)}, got {attention!r}")
        self.model, self.slots, self.max_len = model, slots, min(max_len, cfg.n_positions)
        self.attention = attention  # the decode step's; prefill always uses SDPA
        self.device, self.dtype = t.wte.weight.device, t.wte.weight.dtype
        self.n_embd, self.n_head = cfg.n_embd, cfg.n_head
        self.head_dim = cfg.n_embd // cfg.n_head
        self.kv_heads = 1 if cfg.multi_query else cfg.n_head
        self.scale = 1 / math.sqrt(self.head_dim) if getattr(cfg, "scale_attn_weights", True) else 1.0
        self.eps = cfg.layer_norm_epsilon
        self.act = ACT2FN[cfg.activation_function]
        self.wte, self.wpe, self.ln_f, self.lm_head = t.wte.weight, t.wpe.weight, t.ln_f, model.lm_head.weight
        self.layers = list(t.h)
        shape = (slots, self.kv_heads, self.max_len, self.head_dim)
        self.k = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.layers]
        self.v = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.layers]
        self.tok = torch.zeros(slots, dtype=torch.long, device=self.device)
        self.pos = torch.zeros(slots, dtype=torch.long, device=self.device)
        self.rows = torch.arange(slots, device=self.device)
        self.arange = torch.arange(self.max_len, device=self.device)
        on_cuda = self.device.type == "cuda"
        self.cuda_graphs = on_cuda if cuda_graphs is None else (cuda_graphs and on_cuda)
        self.batch_buckets = _buckets(slots, 1)
        self.length_buckets = _buckets(self.max_len, LENGTH_BUCKET)
        self._graphs: dict[tuple[int, int], tuple] = {}
        self._pool = None

    # -- the block ---------------------------------------------------------------------------
    def _layer_norm(self, x, ln):
        import torch.nn.functional as F

        return F.layer_norm(x, (self.n_embd,), ln.weight, ln.bias, self.eps)

    def _qkv(self, layer, h):
        import torch.nn.functional as F

        qkv = F.linear(self._layer_norm(h, layer.ln_1), layer.attn.c_attn.weight, layer.attn.c_attn.bias)
        if self.kv_heads == 1:  # multi-query: [q (all heads) | k | v]
            return qkv.split((self.n_embd, self.head_dim, self.head_dim), dim=-1)
        # multi-head: each head's [q | k | v] in turn
        q, k, v = qkv.view(*qkv.shape[:-1], self.n_head, 3, self.head_dim).unbind(-2)
        return tuple(t.reshape(*qkv.shape[:-1], self.n_embd) for t in (q, k, v))

    def _rest(self, layer, h, attn):
        import torch.nn.functional as F

        h = h + F.linear(attn, layer.attn.c_proj.weight, layer.attn.c_proj.bias)
        x = self._layer_norm(h, layer.ln_2)
        x = self.act(F.linear(x, layer.mlp.c_fc.weight, layer.mlp.c_fc.bias))
        return h + F.linear(x, layer.mlp.c_proj.weight, layer.mlp.c_proj.bias)

    def _logits(self, h):
        import torch.nn.functional as F

        return F.linear(self._layer_norm(h, self.ln_f), self.lm_head).float()

    # -- prefill -----------------------------------------------------------------------------
    def prefill(self, first_row: int, seqs: list[list[int]]):
        """Run the prompts ``seqs`` through the model together, into cache rows ``first_row``,
        ``first_row + 1``, ...; the logits ``[len(seqs), vocab]`` of each one's last position.

        Prompts are right-padded to the longest: under the causal mask no real position sees a
        pad, and the pads' keys land past the row's length, where decoding overwrites them
        before anything reads them."""
        import torch
        import torch.nn.functional as F

        count, n = len(seqs), max(len(s) for s in seqs)
        x = torch.zeros(count, n, dtype=torch.long)
        for i, s in enumerate(seqs):
            x[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        x = x.to(self.device)
        lengths = torch.tensor([len(s) for s in seqs], device=self.device)
        rows = slice(first_row, first_row + count)
        h = self.wte[x] + self.wpe[:n]  # [B, T, E]
        group = self.n_head // self.kv_heads
        for layer, kc, vc in zip(self.layers, self.k, self.v):
            q, k, v = self._qkv(layer, h)
            k = k.view(count, n, self.kv_heads, self.head_dim).transpose(1, 2)  # [B, kv, T, D]
            v = v.view(count, n, self.kv_heads, self.head_dim).transpose(1, 2)
            kc[rows, :, :n] = k
            vc[rows, :, :n] = v
            q = q.view(count, n, self.n_head, self.head_dim).transpose(1, 2)  # [B, H, T, D]
            if group > 1:
                k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
            h = self._rest(layer, h, a.transpose(1, 2).reshape(count, n, self.n_embd))
        self.pos[rows] = lengths  # where each row's first generated token goes
        return self._logits(h[torch.arange(count, device=self.device), lengths - 1])

    # -- decode ------------------------------------------------------------------------------
    def _step(self, batch: int, length: int):
        """One token for rows ``0..batch-1`` (inputs in ``self.tok``/``self.pos``), attending
        over cache positions ``0..length-1``; graph-capturable (fixed shapes, no host sync)."""
        import torch.nn.functional as F

        import torch

        tok, pos, rows = self.tok[:batch], self.pos[:batch], self.rows[:batch]
        h = self.wte[tok] + self.wpe[pos]
        mask = (self.arange[:length][None, :] <= pos[:, None])[:, None, None, :]  # [B, 1, 1, L]
        group = self.n_head // self.kv_heads
        for layer, kc, vc in zip(self.layers, self.k, self.v):
            q, k, v = self._qkv(layer, h)
            kc[rows, :, pos] = k.view(batch, self.kv_heads, self.head_dim)
            vc[rows, :, pos] = v.view(batch, self.kv_heads, self.head_dim)
            # Multi-query: the heads of one key/value head are its queries ([B, kv, group, D]).
            q = q.view(batch, self.kv_heads, group, self.head_dim)
            keys, values = kc[:batch, :, :length], vc[:batch, :, :length]
            if self.attention == "sdpa":
                a = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=self.scale)
            else:  # two batched matrix products: cuBLAS spreads one long row of keys over the GPU
                scores = torch.matmul(q, keys.transpose(-1, -2)).float() * self.scale
                probs = scores.masked_fill(~mask, float("-inf")).softmax(-1).to(values.dtype)
                a = torch.matmul(probs, values)
            h = self._rest(layer, h, a.reshape(batch, self.n_embd))
        return self._logits(h)

    def bucket(self, n: int, longest: int) -> tuple[int, int]:
        return (next(b for b in self.batch_buckets if b >= n), next(b for b in self.length_buckets if b >= longest))

    def decode(self, n: int, longest: int):
        """Logits ``[n, vocab]`` (float32) for one new token per row ``0..n-1``: the tokens and
        positions already on the device (:meth:`prefill` and :meth:`advance` put them there),
        ``longest`` the largest position plus one."""
        batch, length = self.bucket(n, longest)
        if not self.cuda_graphs:
            return self._step(batch, length)[:n]
        graph = self._graphs.get((batch, length)) or self._capture(batch, length)
        graph[0].replay()
        return graph[1][:n]

    def advance(self, tokens):
        """The sampled ``tokens`` (a device tensor, one per row) become the rows' next input,
        one position on. Rows past ``len(tokens)`` are free: a step pads with them, and they
        write only into their own free cache rows."""
        n = len(tokens)
        self.tok[:n] = tokens
        self.pos[:n] += 1

    def _capture(self, batch: int, length: int):
        import torch

        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self._step(batch, length)  # warm-up: kernels pick their algorithms outside capture
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            out = self._step(batch, length)
        self._graphs[(batch, length)] = (graph, out)
        return self._graphs[(batch, length)]

    def warm_up(self):
        """Capture every (batch, length) graph now rather than on first use (largest first, so
        the smaller ones reuse its memory). Writes only position 0 of free rows."""
        import torch

        if not self.cuda_graphs:
            return
        self.tok.zero_()
        self.pos.zero_()
        with torch.inference_mode():
            for batch in reversed(self.batch_buckets):
                for length in reversed(self.length_buckets):
                    if (batch, length) not in self._graphs:
                        self._capture(batch, length)
        torch.cuda.synchronize()

    def move_row(self, src: int, dst: int, length: int):
        for kc, vc in zip(self.k, self.v):
            kc[dst, :, :length] = kc[src, :, :length]
            vc[dst, :, :length] = vc[src, :, :length]
        self.tok[dst] = self.tok[src]
        self.pos[dst] = self.pos[src]


class Engine:
    """Continuous batching over a :class:`GPTBigCodeRunner`: requests join the running batch as
    slots free up, and leave it when they finish or are cancelled."""

    def __init__(self, model, *, slots: int = 16, max_len: int | None = None, cuda_graphs: bool | None = None,
                 attention: str = "matmul"):
        self.runner = GPTBigCodeRunner(model, slots=slots, max_len=max_len or model.config.n_positions,
                                       cuda_graphs=cuda_graphs, attention=attention)
        self.slots = slots
        self._waiting: list[Handle] = []
        self._rows: list[_Row] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self.steps = 0  # decode steps run (for tests and benchmarks)
        self.max_batch = 0  # the most rows one step has run

    @property
    def max_len(self) -> int:
        return self.runner.max_len

    def warm_up(self):
        self.runner.warm_up()

    def submit(self, handle: Handle) -> Handle:
        if not handle.ids:
            raise ValueError("a request needs at least one prompt token")
        if len(handle.ids) + handle.max_new_tokens > self.max_len:
            raise ValueError(f"{len(handle.ids)} prompt tokens + {handle.max_new_tokens} new ones exceed the "
                             f"engine's {self.max_len} positions")
        with self._wake:
            self._waiting.append(handle)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="starscope-engine", daemon=True)
                self._thread.start()
            self._wake.notify()
        return handle

    @property
    def busy(self) -> int:
        """Requests waiting or running."""
        with self._wake:
            return len(self._waiting) + len(self._rows)

    # -- the engine thread -------------------------------------------------------------------
    def _loop(self):
        import torch

        with torch.inference_mode():
            while True:
                with self._wake:
                    while not self._waiting and not self._rows:
                        self._wake.wait()
                    admitted = []
                    while self._waiting and len(self._rows) + len(admitted) < self.slots:
                        admitted.append(self._waiting.pop(0))
                try:
                    if admitted:
                        self._admit(admitted)
                    if self._rows:
                        self._decode()
                except BaseException as e:  # an engine error ends every request in flight, not the engine
                    for row in self._rows:
                        row.handle.tokens.put(Finish("error", e))
                    with self._wake:
                        self._rows.clear()

    def _generator(self, handle: Handle):
        import torch

        if handle.temperature <= 0:
            return None
        g = torch.Generator(device=self.runner.device)
        g.manual_seed(handle.seed if handle.seed is not None else random.getrandbits(63))
        return g

    def _admit(self, handles: list[Handle]):
        """Prefill the new requests in groups of at most ``PREFILL_TOKENS`` padded tokens, and
        give each its first token."""
        live = []
        for h in handles:
            if h.cancel.is_set():
                h.tokens.put(Finish("cancelled"))
            else:
                live.append(h)
        while live:
            group, longest = [], 0
            while live and (not group or (len(group) + 1) * max(longest, len(live[0].ids)) <= PREFILL_TOKENS):
                longest = max(longest, len(live[0].ids))
                group.append(live.pop(0))
            rows = [_Row(h, self._generator(h)) for h in group]
            with self._wake:
                first = len(self._rows)
                self._rows.extend(rows)
            logits = self.runner.prefill(first, [h.ids for h in group])
            tokens, values = self._sample(logits, rows)
            self.runner.tok[first:first + len(rows)] = tokens
            self._emit(rows, values)

    def _decode(self):
        rows = self._rows
        logits = self.runner.decode(len(rows), max(r.length for r in rows) + 1)
        self.steps += 1
        self.max_batch = max(self.max_batch, len(rows))
        for r in rows:
            r.length += 1
        tokens, values = self._sample(logits, rows)
        self.runner.advance(tokens)
        self._emit(list(rows), values)

    def _sample(self, logits, rows: list[_Row]):
        """The next token of every row, as a device tensor and a list. Greedy rows take the
        argmax; the others sample with their temperature and top-p (as transformers' warpers
        do: temperature first, then the smallest set of tokens whose probability reaches
        top_p), each from its own generator."""
        import torch

        out = logits.argmax(dim=-1)
        for i, r in enumerate(rows):
            if r.generator is None:
                continue
            h = r.handle
            scores = logits[i] / h.temperature
            if h.top_p < 1:
                sorted_scores, order = scores.sort(descending=False)
                cum = sorted_scores.softmax(-1).cumsum(-1)
                remove = cum <= 1 - h.top_p
                remove[-1] = False
                scores = scores.masked_fill(remove.scatter(0, order, remove), float("-inf"))
            out[i] = torch.multinomial(scores.softmax(-1), 1, generator=r.generator)[0]
        return out, out.tolist()

    def _emit(self, rows: list[_Row], tokens: list[int]):
        finished = []
        for row, token in zip(rows, tokens):
            h = row.handle
            row.count += 1
            h.tokens.put(token)
            if h.eos is not None and token == h.eos:
                finished.append((row, "eos"))
            elif row.count >= h.max_new_tokens:
                finished.append((row, "max_new_tokens"))
            elif h.cancel.is_set():
                finished.append((row, "cancelled"))
        for row, reason in finished:
            self._retire(row)
            row.handle.tokens.put(Finish(reason))

    def _retire(self, row: _Row):
        """Free ``row``'s slot; the last row moves into it so the active rows stay 0..n-1."""
        with self._wake:
            i, last = self._rows.index(row), len(self._rows) - 1
            if i != last:
                moved = self._rows[last]
                self.runner.move_row(last, i, moved.length)
                self._rows[i] = moved
            self._rows.pop()
