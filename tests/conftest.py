"""Fixtures shared across packages: the demo model (trained here, on real code); and the ``slow``
mark for every test that needs it."""

import json
from types import SimpleNamespace

import pytest

from indexer.build import build_index
from indexer.corpus.sample import index_sample
from model.demo import DemoConfig, train_demo

from .indexer.conftest import real_documents


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory):
    """A tiny model trained for 300 steps (about 10 s on 2 cores) on 40 real stdlib files, and
    their index (``path``, ``record``, ``index``). Steps, not seconds, bound it, so every machine
    trains the same model."""
    base = tmp_path_factory.mktemp("demo")
    rows = [{"content": d.content, "repo": d.repo, "path": d.path} for d in real_documents(40)]
    (base / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_index([base / "c.jsonl"], base / "index", progress=False)
    config = DemoConfig(budget_s=600, max_steps=300, train_bytes=300_000, vocab_size=1024, n_layer=2, n_embd=64, n_head=4,
                        context=256, seq_len=128, batch=8, lr=3e-3, warmup_steps=10)
    texts = index_sample(base / "index", config.train_bytes, config.seed)
    record = train_demo(texts, base / "model", source=str(base / "index"), config=config, device="cpu",
                        log=lambda *_: None)
    return SimpleNamespace(path=base / "model", record=record, index=base / "index")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Mark every test that uses ``demo_model``, directly or through another fixture, ``slow``.

    Note:
        The model is a session fixture: the first test that needs it pays its whole training
        (about 35 s on 2 cores), so one such test left in ``make test-fast`` costs as much as all
        of them. This runs before pytest deselects by ``-m``, so ``-m "not slow"`` sees the marks.
    """
    for item in items:
        if "demo_model" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
