"""Generation with the demo model: prompts, sampling, stop sequences, streaming, limits, and the
command line (whose ``--attribute`` attributes the generated part only)."""

import json
import threading
import time

import pytest

from model.generate import (ASSISTANT_PREAMBLE, HUMANEVAL_PREFIX, GenerationError, GenerationRequest,
                            Generator, ModelNotFound)

PROMPT = "import os\n\n\ndef "


@pytest.fixture(scope="module")
def generator(demo_model):
    return Generator.load(demo_model.path, device="cpu")


def test_it_loads_on_the_cpu_in_float32_with_its_context(generator):
    import torch

    assert generator.device == "cpu" and next(generator.model.parameters()).dtype == torch.float32
    assert generator.context == 256 and generator.has_fim


def test_greedy_and_seeded_sampling_are_reproducible(generator):
    greedy = GenerationRequest(prompt=PROMPT, max_new_tokens=24, temperature=0)
    a, b = generator.generate(greedy), generator.generate(greedy)
    assert a.text == b.text and a.new_tokens <= 24 and a.prompt == PROMPT
    sampled = GenerationRequest(prompt=PROMPT, max_new_tokens=24, temperature=0.8, seed=5)
    assert generator.generate(sampled).text == generator.generate(sampled).text


def test_prompts_follow_starcoder_templates(generator):
    fim = generator.build_prompt(GenerationRequest(prompt="def f(x):\n", fim_suffix="\n    return y\n", mode="fim"))
    assert fim == "<fim_prefix>def f(x):\n<fim_suffix>\n    return y\n<fim_middle>"
    meta = generator.build_prompt(GenerationRequest(prompt="x", repo="o/r", filename="a.py", stars=5))
    assert meta == "<reponame>o/r<filename>a.py<gh_stars>5\nx"
    assert generator.build_prompt(GenerationRequest(prompt="def f():", humaneval_prefix=True)) == HUMANEVAL_PREFIX + "def f():"
    chat = generator.build_prompt(GenerationRequest(prompt="What is a list?", mode="assistant"))
    assert chat.startswith(ASSISTANT_PREAMBLE) and chat.endswith("Human: What is a list?\n\nAssistant:")
    assert generator.generate(GenerationRequest(prompt="def f(x):\n", fim_suffix="\n", mode="fim",
                                                max_new_tokens=8, temperature=0)).new_tokens >= 1


def test_stop_sequences_cut_the_text(generator):
    free = generator.generate(GenerationRequest(prompt=PROMPT, max_new_tokens=60, temperature=0))
    stop = free.text[len(free.text) // 2:len(free.text) // 2 + 3]  # whatever this tiny model says
    cut = generator.generate(GenerationRequest(prompt=PROMPT, max_new_tokens=60, temperature=0, stop=(stop, "@@never")))
    assert cut.stop_reason == "stop_sequence" and cut.text == free.text[:free.text.find(stop)]
    streamed = "".join(generator.stream(GenerationRequest(prompt=PROMPT, max_new_tokens=60, temperature=0, stop=(stop,))))
    assert streamed == cut.text


def test_streaming_yields_the_same_text_piece_by_piece(generator):
    req = GenerationRequest(prompt=PROMPT, max_new_tokens=30, temperature=0)
    stream = generator.stream(req)
    pieces = []
    while True:
        try:
            pieces.append(next(stream))
        except StopIteration as done:
            result = done.value
            break
    assert len(pieces) > 1 and "".join(pieces) == result.text == generator.generate(req).text


def test_a_cancelled_stream_stops_and_frees_the_model(generator):
    cancel = threading.Event()
    stream = generator.stream(GenerationRequest(prompt=PROMPT, max_new_tokens=200, temperature=0), cancel=cancel)
    next(stream)
    stream.close()  # the client went away
    assert cancel.is_set()
    deadline = time.monotonic() + 30  # liveness, not speed: the engine frees the slot at its next step
    while generator.engine.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert generator.engine.busy == 0
    assert generator.generate(GenerationRequest(prompt=PROMPT, max_new_tokens=4, temperature=0)).new_tokens >= 1


def test_limits_and_bad_requests(generator):
    with pytest.raises(GenerationError, match="cap"):
        generator.generate(GenerationRequest(prompt=PROMPT, max_new_tokens=5000))
    with pytest.raises(GenerationError, match="context"):
        generator.generate(GenerationRequest(prompt=PROMPT, max_new_tokens=256))
    long = generator.generate(GenerationRequest(prompt="x = 1\n" * 400, max_new_tokens=16, temperature=0))
    assert long.truncated_tokens > 0 and long.prompt_tokens - long.truncated_tokens + 16 <= 256
    with pytest.raises(GenerationError):
        GenerationRequest(prompt="x", mode="fill")
    with pytest.raises(GenerationError):
        GenerationRequest(prompt="x", fim_suffix="y")


def test_missing_models_and_fim_less_tokenizers_are_named(tmp_path, monkeypatch):
    with pytest.raises(ModelNotFound, match="no model at"):
        Generator.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound, match="config.json"):
        Generator.load(tmp_path / "empty")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound, match="HF_HUB_OFFLINE"):
        Generator.load("bigcode/starcoderbase-1b")


def test_fim_on_a_model_without_fim_tokens_is_refused(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator(["def f(x): return x\n"] * 10, trainers.BpeTrainer(vocab_size=300, special_tokens=["<eos>"]))
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>")
    GPT2LMHeadModel(GPT2Config(vocab_size=len(hf), n_positions=64, n_embd=32, n_layer=1, n_head=2,
                               bos_token_id=0, eos_token_id=0)).save_pretrained(tmp_path)
    hf.save_pretrained(tmp_path)
    plain = Generator.load(tmp_path, device="cpu")
    assert not plain.has_fim and plain.engine is None  # GPT-2 runs on model.generate
    with pytest.raises(GenerationError, match="GPTBigCode") as e:
        Generator.load(tmp_path, device="cpu", engine=True)
    assert e.value.code == "engine_unsupported"
    with pytest.raises(GenerationError, match="fill-in-the-middle") as e:
        plain.generate(GenerationRequest(prompt="a", fim_suffix="b", mode="fim"))
    assert e.value.code == "fim_unsupported"
    assert plain.generate(GenerationRequest(prompt="def", max_new_tokens=3, temperature=0)).new_tokens >= 1


def test_the_command_line_contract(demo_model, capsys):
    from search_api.cli import main

    argv = ["generate", "--model", str(demo_model.path), "--prompt", "import os\\n\\ndef ", "--max-new-tokens", "30",
            "--temperature", "0", "--device", "cpu", "--attribute", str(demo_model.index), "--json"]
    assert main(argv) == 0
    body = json.loads(capsys.readouterr().out)
    assert set(body) >= {"text", "attribution", "generation"} and body["generation"]["prompt_tokens"] >= 4
    assert main(argv[:-1]) == 0  # for people: the text, then what of it the corpus holds
    out = capsys.readouterr().out
    assert out.startswith(body["text"] + "\n")
    summary, attribution = out[len(body["text"]) + 1:], body["attribution"]
    if attribution is None:
        assert summary == f"\n-- not attributed: {body['attribution_reason']}\n"
    else:
        real = [s for s in attribution["spans"] if not s["common"]]
        assert summary.startswith(f"\n-- {len(real)} verbatim span(s) from the corpus, "
                                  f"{attribution['coverage']:.1%} of the output\n")
        assert summary.count("\n   [") == len(real)
    assert main(["generate", "--model", str(demo_model.path), "--fim-prefix", "def f(x):\\n", "--fim-suffix",
                 "\\n", "--max-new-tokens", "5", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["generate", "--model", str(demo_model.path), "--prompt", "x", "--fim-suffix", "y"]) == 1
    assert main(["generate", "--model", "/nonexistent/model", "--prompt", "x"]) == 1
    assert "no model at /nonexistent/model" in capsys.readouterr().err
