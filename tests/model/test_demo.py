"""The demo model: trained here on real code, saved as a normal transformers folder."""

import json

import pytest

from indexer.build import BuildConfig, build_index
from model.demo import RECORD_FILE, SPECIAL_TOKENS, DemoConfig, fim_text

from ..indexer.conftest import real_documents


def test_it_loads_as_a_starcoder_shaped_checkpoint(demo_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, record = demo_model.path, demo_model.record
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert type(model).__name__ == "GPTBigCodeForCausalLM" and model.config.multi_query
    assert [tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == list(range(19))
    assert tok.eos_token == "<|endoftext|>" and model.config.eos_token_id == 0
    ids = tok("def f(x):\n    return x", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == "def f(x):\n    return x"  # byte-level: lossless
    fim = tok("<fim_prefix>a<fim_suffix>b<fim_middle>", add_special_tokens=False)["input_ids"]
    assert fim[0] == 1 and 3 in fim and fim[-1] == 2
    assert json.loads((path / RECORD_FILE).read_text())["steps"] == record["steps"] > 0


def test_training_lowers_the_loss(demo_model):
    record = demo_model.record
    assert record["steps"] == record["config"]["max_steps"] == 300  # steps bound it, not the clock
    assert record["loss_last"] < record["loss_first"] - 1.0
    assert record["parameters"] < 2_000_000


def test_fim_form_keeps_every_character():
    import random

    rng = random.Random(1)
    text = "def add(a, b):\n    return a + b\n"
    for _ in range(50):
        form = fim_text(text, rng)
        pre, rest = form[len("<fim_prefix>"):].split("<fim_suffix>")
        suf, mid = rest.split("<fim_middle>")
        assert pre + mid + suf == text


def test_a_bad_config_is_refused():
    with pytest.raises(ValueError, match="seq_len"):
        DemoConfig(seq_len=1024, context=512)
    with pytest.raises(ValueError, match="vocab_size"):
        DemoConfig(vocab_size=100)


@pytest.mark.slow
def test_the_command_line_trains_and_says_what_it_did(tmp_path, capsys):
    from search_api.cli import main

    rows = [{"content": d.content, "repo": d.repo, "path": d.path} for d in real_documents(10)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_index([tmp_path / "c.jsonl"], tmp_path / "index", config=BuildConfig(membership=False), progress=False)
    assert main(["train-demo", str(tmp_path / "index"), "--out", str(tmp_path / "m"), "--budget-s", "2",
                 "--train-mb", "0.05", "--device", "cpu", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["steps"] > 0 and (tmp_path / "m" / "config.json").exists()
    assert record["index"] == str((tmp_path / "index").resolve())  # what it was trained on
    assert main(["train-demo", str(tmp_path / "nothing"), "--out", str(tmp_path / "m2")]) == 1
