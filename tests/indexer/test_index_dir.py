"""One index directory, each artifact opened once: what the build, the commands and the server
open an index through."""

import json

import pytest

from indexer.build import build_index
from indexer.index_dir import IndexDir
from indexer.manifest import ManifestError
from indexer.optout import opt_out
from membership.attribution import AttributionConfig
from membership.minhash import MinHashConfig
from membership.sketch import SketchConfig, SketchMissing

from ..backends import BACKENDS, build_config
from ..search_api.conftest import corpus_rows


def built(tmp_path, request, backend="tantivy", **config):
    shard = tmp_path / "a.jsonl"
    shard.write_text("".join(json.dumps(r) + "\n" for r in corpus_rows()))
    build_index([shard], tmp_path / "index", config=build_config(backend, request, **config), progress=False)
    return tmp_path / "index"


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_artifact_is_opened_once_and_membership_gets_the_store_s_sketch(tmp_path, request, backend):
    index = IndexDir(built(tmp_path, request, backend, minhash="bigcode"))
    assert index.store is index.store and index.manifest is index.manifest
    assert index.ledger is index.ledger and index.shard_log is index.shard_log
    assert index.manifest["store"]["backend"] == backend and index.shard_log.done()
    assert index.sketch_config == SketchConfig(minhash=MinHashConfig.bigcode()) == index.store.sketch_config()
    assert index.chunk_log.keys() == sorted(index.shard_log.done())
    membership = index.membership(AttributionConfig(max_candidates=3))
    assert membership.store is index.store and membership.config.max_candidates == 3
    assert membership.chunks == index.sketch_config.chunks
    assert membership.near.config == MinHashConfig.bigcode()
    assert membership.optouts_pending() == 0
    opt_out(index.path, index.store, owner="beta", reason="asked", who="test")
    assert membership.optouts_pending() == 0  # its contents live on elsewhere: no chunk removed
    opt_out(index.path, index.store, repo="math/fib", reason="asked", who="test")
    assert membership.optouts_pending() == 1  # read from the directory's ledger, as it changes


def test_a_search_only_directory_has_no_membership_and_a_plain_one_is_no_index(tmp_path, request):
    index = IndexDir(built(tmp_path, request, membership=False))
    assert index.sketch_config is None
    with pytest.raises(SketchMissing, match="without the membership sketch"):
        index.membership()
    with pytest.raises(ManifestError, match="not a StarScope index"):
        IndexDir(tmp_path).store


def test_create_makes_the_directory_and_its_store_and_resumes_into_it(tmp_path):
    made = IndexDir.create(tmp_path / "new" / "index", minhash=MinHashConfig.bigcode())
    assert made.path.is_dir() and made.sketch_config == SketchConfig(minhash=MinHashConfig.bigcode())
    again = IndexDir.create(tmp_path / "new" / "index", minhash=MinHashConfig.bigcode())
    assert again.store.stats().documents == 0
