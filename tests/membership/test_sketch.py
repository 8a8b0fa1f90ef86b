import json

import numpy as np
import pytest

from indexer.build import BuildConfig, build_index
from indexer.index_dir import IndexDir
from indexer.manifest import read_manifest
from membership.bloom import BloomFilter, BloomFormatOutdated
from membership.chunks import document_chunk_hashes
from membership.sketch import ChunkLog, bloom_path, build_bloom, read_meta

from ..indexer.conftest import real_documents
from .conftest import write_jsonl
from .test_bloom import rewrite_header


def shards(tmp_path, docs, n=3):
    paths = []
    for k in range(n):
        rows = [{"content": d.content, "repo": d.repo, "path": d.path} for d in docs[k::n]]
        paths.append(tmp_path / f"part{k}.jsonl")
        write_jsonl(paths[-1], rows)
    return paths


def test_every_chunk_of_every_content_is_in_the_filter_and_the_manifest_reports_its_rates(tmp_path):
    docs = real_documents(30)
    manifest = build_index(shards(tmp_path, docs), tmp_path / "index")
    bloom = BloomFilter.open(bloom_path(tmp_path / "index"))
    expected = np.unique(np.concatenate(document_chunk_hashes([d.content for d in docs])))
    assert bloom.contains(expected).all()
    assert ChunkLog(tmp_path / "index").verify() >= len(expected)
    sk = manifest["configs"]["membership"]
    assert sk["items"] == len(expected) and sk["chunks"]["width"] == 50
    assert sk["fpr_theoretical"] == pytest.approx(0.001, rel=0.05)
    sigma = (sk["fpr_theoretical"] / sk["fpr_probes"]) ** 0.5
    assert abs(sk["fpr_measured"] - sk["fpr_theoretical"]) <= 5 * sigma


@pytest.mark.slow
def test_a_resumed_build_makes_the_same_filter_as_an_uninterrupted_one(tmp_path):
    docs = real_documents(30)
    parts = shards(tmp_path, docs)
    build_index(parts, tmp_path / "whole")
    # interrupted after the first shard: only its marker and chunk log exist
    build_index(parts[:1], tmp_path / "resumed")
    build_index(parts, tmp_path / "resumed")
    assert bloom_path(tmp_path / "whole").read_bytes() == bloom_path(tmp_path / "resumed").read_bytes()


def test_a_shard_redone_after_its_commit_logs_its_hashes_again(tmp_path):
    """Killed between the store commit and the marker: the rerun finds the documents already
    stored ('unchanged') and must still log their chunk hashes."""
    docs = real_documents(10)
    parts = shards(tmp_path, docs, n=1)
    build_index(parts, tmp_path / "index")
    before = bloom_path(tmp_path / "index").read_bytes()
    for p in (tmp_path / "index" / "shards").glob("*.done.json"):
        p.unlink()
    for p in ChunkLog(tmp_path / "index").dir.glob("*.npy"):
        p.unlink()
    manifest = build_index(parts, tmp_path / "index")
    assert manifest["counts"]["store_unchanged"] == 10
    assert bloom_path(tmp_path / "index").read_bytes() == before


def test_the_filter_is_rebuilt_only_when_the_log_changed(tmp_path):
    docs = real_documents(12)
    parts = shards(tmp_path, docs)
    build_index(parts[:2], tmp_path / "index")
    first = read_meta(tmp_path / "index")
    assert build_bloom(tmp_path / "index") == first  # unchanged: not rebuilt
    build_index(parts, tmp_path / "index")
    assert read_meta(tmp_path / "index")["items"] > first["items"]


def test_parallel_fill_equals_serial(tmp_path):
    docs = real_documents(12)
    build_index(shards(tmp_path, docs), tmp_path / "index")
    serial = build_bloom(tmp_path / "index", workers=1, force=True)
    one = bloom_path(tmp_path / "index").read_bytes()
    parallel = build_bloom(tmp_path / "index", workers=3, force=True)
    assert bloom_path(tmp_path / "index").read_bytes() == one
    assert serial["items"] == parallel["items"]


def test_a_looser_rate_gives_a_smaller_filter(tmp_path):
    docs = real_documents(12)
    parts = shards(tmp_path, docs)
    tight = build_index(parts, tmp_path / "a")["configs"]["membership"]
    loose = build_index(parts, tmp_path / "b", config=BuildConfig(bloom_fpr=0.01))["configs"]["membership"]
    # One bit per word of the block (k = 8) is best from 5% down to 0.1%: only the size moves.
    assert loose["bits"] < tight["bits"] and loose["hashes"] == tight["hashes"] == 8
    assert read_manifest(tmp_path / "b")["configs"]["build"]["bloom_fpr"] == 0.01
    with pytest.raises(ValueError, match="probability"):
        BuildConfig(bloom_fpr=0)


def test_a_search_only_index_has_no_sketch_and_says_so(tmp_path):
    from indexer.stores import open_index
    from indexer.tantivy_store import StoreFormatError
    from indexer.index_dir import IndexDir
    from membership.sketch import SketchMissing

    docs = real_documents(8)
    parts = shards(tmp_path, docs, n=1)
    manifest = build_index(parts, tmp_path / "index", config=BuildConfig(membership=False))
    assert manifest["configs"]["membership"] is None and not bloom_path(tmp_path / "index").exists()
    assert open_index(tmp_path / "index").sketch_config() is None
    with pytest.raises(SketchMissing, match="without the membership sketch"):
        IndexDir(tmp_path / "index").membership()
    with pytest.raises(StoreFormatError, match="new directory"):
        build_index(parts, tmp_path / "index")  # resuming it with membership would mix the two


def as_built_before_the_blocked_filter(index_dir):
    """What an index built by a StarScope of filter format 1 holds: that version in the
    filter's header, and no ``bloom_format`` in ``sketch.json`` (the bits do not matter: a
    reader refuses the file on its version alone)."""
    rewrite_header(bloom_path(index_dir), format_version=1)
    meta_path = index_dir / "membership" / "sketch.json"
    meta = json.loads(meta_path.read_text())
    del meta["bloom_format"]
    meta_path.write_text(json.dumps(meta))


def test_an_older_filter_is_refused_with_the_command_that_rebuilds_it_and_a_rerun_upgrades_it(tmp_path):
    docs = real_documents(12)
    parts = shards(tmp_path, docs)
    index_dir = tmp_path / "index"
    build_index(parts, index_dir)
    as_built_before_the_blocked_filter(index_dir)
    with pytest.raises(BloomFormatOutdated) as err:
        IndexDir(index_dir).membership()
    message = str(err.value)
    assert message.startswith(f"{index_dir}: the membership filter is format version 1")
    assert f"`starscope rebuild-filter {index_dir}`" in message and "starscope index" in message
    build_index(parts, index_dir)  # every shard is done: only the filter is rebuilt
    assert read_meta(index_dir)["bloom_format"] == 2
    assert IndexDir(index_dir).membership().test(docs[0].content).member
