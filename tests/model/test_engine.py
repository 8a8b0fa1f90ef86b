"""The batching engine: token for token what ``model.generate`` makes, for one request or many
at once, with sampling that follows transformers' temperature and top-p."""

import threading

import pytest

from model.engine import ATTENTION, Engine, Finish, Handle, supports
from model.generate import GenerationRequest, Generator

PROMPTS = ["import os\n\n\ndef ", "class Parser:\n    def __init__(self, text):\n", "# Utilities\nfrom typing import"]


@pytest.fixture(scope="module")
def pair(demo_model):
    """The demo model behind the engine, and the same weights behind model.generate."""
    fast = Generator.load(demo_model.path, device="cpu", slots=3)
    slow = Generator(fast.model, fast.tokenizer, name="demo", device="cpu", engine=False)
    return fast, slow


def run(engine, ids, n, **kw):
    handle = engine.submit(Handle(list(ids), n, **kw))
    out = []
    while not isinstance(item := handle.tokens.get(), Finish):
        out.append(item)
    assert item.error is None
    return out, item.reason


def test_greedy_text_equals_model_generate(pair):
    fast, slow = pair
    assert fast.engine is not None and slow.engine is None
    for prompt in PROMPTS:
        req = GenerationRequest(prompt=prompt, max_new_tokens=48, temperature=0)
        a, b = fast.generate(req), slow.generate(req)
        assert (a.text, a.new_tokens) == (b.text, b.new_tokens)


def test_concurrent_requests_are_batched_and_answer_as_if_alone(pair):
    """Seven requests of different lengths on three slots: they share decode steps, rows leave
    and join mid-batch (a finished row's slot takes the last row's cache), and every answer is
    the one it gets alone."""
    fast, slow = pair
    reqs = [GenerationRequest(prompt=PROMPTS[i % 3], max_new_tokens=10 + 7 * i, temperature=0) for i in range(7)]
    got = {}
    steps_before = fast.engine.steps

    def go(i):
        got[i] = fast.generate(reqs[i]).text

    threads = [threading.Thread(target=go, args=(i,)) for i in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[i] for i in range(7)] == [slow.generate(r).text for r in reqs]
    assert fast.engine.max_batch == 3
    assert fast.engine.steps - steps_before < sum(r.max_new_tokens for r in reqs)  # steps were shared


@pytest.mark.parametrize("attention", ATTENTION)
@pytest.mark.parametrize("multi_query", [True, False])
def test_the_arithmetic_matches_gptbigcode_for_both_attention_kinds(multi_query, attention):
    import torch
    from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM

    torch.manual_seed(0)
    model = GPTBigCodeForCausalLM(GPTBigCodeConfig(vocab_size=300, n_positions=96, n_embd=64, n_layer=2, n_head=4,
                                                   multi_query=multi_query)).eval()
    assert supports(model)
    engine = Engine(model, slots=2, attention=attention)
    for seed in range(3):
        ids = torch.randint(0, 300, (1, 5 + 9 * seed), generator=torch.Generator().manual_seed(seed))
        with torch.inference_mode():
            want = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=30,
                                  do_sample=False, eos_token_id=None, pad_token_id=0)[0, ids.shape[1]:].tolist()
        assert run(engine, ids[0].tolist(), 30) == (want, "max_new_tokens")


def test_sampling_is_seeded_per_request_and_top_p_keeps_the_nucleus(pair):
    fast, _ = pair
    engine = fast.engine
    ids = fast.tokenizer(PROMPTS[0])["input_ids"]
    greedy, _ = run(engine, ids, 20)
    a, _ = run(engine, ids, 20, temperature=1.0, seed=3)
    assert a == run(engine, ids, 20, temperature=1.0, seed=3)[0]
    assert a != run(engine, ids, 20, temperature=1.0, seed=4)[0]
    # a nucleus of (almost) zero probability holds the top token alone: sampling becomes greedy
    assert run(engine, ids, 20, temperature=1.0, top_p=1e-9, seed=9)[0] == greedy


def test_requests_end_at_eos_cancel_or_the_token_budget():
    import torch
    from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM

    torch.manual_seed(1)
    model = GPTBigCodeForCausalLM(GPTBigCodeConfig(vocab_size=50, n_positions=64, n_embd=32, n_layer=1,
                                                   n_head=2)).eval()
    engine = Engine(model, slots=2)
    out, reason = run(engine, [1, 2, 3], 12)
    assert reason == "max_new_tokens" and len(out) == 12
    eos = out[4]  # whatever it says fifth: call it the end of sequence
    out2, reason = run(engine, [1, 2, 3], 12, eos=eos)
    assert reason == "eos" and out2 == out[:out.index(eos) + 1]
    handle = Handle([1, 2, 3], 40)
    handle.cancel.set()
    engine.submit(handle)
    assert handle.tokens.get() == Finish("cancelled")
    with pytest.raises(ValueError, match="positions"):
        engine.submit(Handle([1] * 60, 10))
    assert engine.busy == 0
