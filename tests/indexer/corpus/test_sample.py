"""The demo model's training sample: a fixed sample of an index's own shards."""

import json

import pytest

from indexer.build import BuildConfig, build_index
from indexer.corpus.sample import index_sample

from ..conftest import real_documents


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("sample")
    docs = real_documents(30)
    for part in (0, 1):  # two shards: the sample reads them in their markers' order
        rows = [{"content": d.content, "repo": d.repo, "path": d.path} for d in docs[part::2]]
        (base / f"c{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_index([base / "c0.jsonl", base / "c1.jsonl"], base / "index", config=BuildConfig(membership=False),
                progress=False)
    return base, {d.content for d in docs}


def test_the_sample_is_fixed_by_its_seed_and_stops_at_its_size(built):
    base, contents = built
    sample = index_sample(base / "index", 20_000, seed=0)
    assert sample == index_sample(base / "index", 20_000, seed=0)
    assert sample != index_sample(base / "index", 20_000, seed=1)
    assert set(sample) <= contents and len(set(sample)) == len(sample)
    sizes = [len(t.encode()) for t in sample]
    assert sum(sizes) >= 20_000 > sum(sizes[:-1])  # the last document kept crosses the limit
    everything = index_sample(base / "index", 10**9, seed=0)
    assert everything[:len(sample)] == sample and len(everything) < len(contents)  # about half are kept


def test_an_index_without_its_shards_cannot_be_sampled(built, tmp_path):
    with pytest.raises(ValueError, match="no finished shards"):
        index_sample(tmp_path, 1000, seed=0)
    base, _ = built
    (tmp_path / "c.jsonl").write_text((base / "c0.jsonl").read_text())
    build_index([tmp_path / "c.jsonl"], tmp_path / "index", config=BuildConfig(membership=False), progress=False)
    (tmp_path / "c.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="is gone"):
        index_sample(tmp_path / "index", 1000, seed=0)
