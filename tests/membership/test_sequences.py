"""The chunk-sequence log and the span index built from it (membership/sequences.py)."""

import json
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from membership.chunk_sa import ChunkSA
from membership.chunks import ChunkConfig, document_chunks, normalize
from membership.sequences import (SequenceLog, SequenceLogError, SequenceRecorder, SpansMissing, build_spans,
                                  merge_logs, open_spans, read_spans_meta, spans_path)


@dataclass(frozen=True)
class Doc:
    """A document as the build hands it over (indexer.document.Document's fields that matter)."""

    sha: str
    content: str
    repo: str
    path: str
    stars: int = 0
    id: str = ""
    licenses: tuple = ("MIT",)


def real_texts(n: int, seed: int = 3) -> list[str]:
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    random.Random(seed).shuffle(files)
    return [f.read_text(encoding="utf-8", errors="replace")[:6000] for f in files[:n]]


def docs_of(texts, repo="a/b", stars=0, start=0):
    return [Doc(f"{i:040x}", t, repo, f"f{i}.py", stars, f"{repo}/f{i}.py") for i, t in enumerate(texts, start)]


def test_the_recorder_logs_each_content_once_with_its_offsets_and_every_source():
    texts = real_texts(5)
    rec = SequenceRecorder(ChunkConfig())
    docs = docs_of(texts)
    copy = Doc(docs[0].sha, texts[0], "c/d", "copy.py", 9, "c/d/copy.py")
    got = rec.add(docs[:3] + [copy])
    assert list(got) == [d.sha for d in docs[:3]]
    rec.add(docs[3:] + [docs[1]])  # a content seen before in the shard: its chunks are not computed again
    shard = rec.take()
    assert shard.shas == [d.sha for d in docs]
    hashes, offsets = document_chunks(texts)
    assert all(np.array_equal(a, b) for a, b in zip(shard.hashes, hashes))
    for text, off in zip(texts, shard.offsets):  # chunk j starts at normalized 50 j, raw offset off[j]
        norm = normalize(text)
        assert off.tolist() == norm.raw_starts[:len(off) * 50:50].tolist()
    assert [(i, s.repo) for i, s in shard.sources] == [(0, "a/b"), (1, "a/b"), (2, "a/b"), (0, "c/d"),
                                                      (3, "a/b"), (4, "a/b"), (1, "a/b")]
    assert len(rec.take()) == 0


def test_a_logged_shard_reads_back_whole(tmp_path):
    rec = SequenceRecorder(ChunkConfig())
    docs = docs_of(real_texts(4) + ["short", ""])
    odd = Doc(docs[0].sha, docs[0].content, "ünï/cödé", "dir with space/ü.py", 3, "x\u2028y", ())
    rec.add(docs + [odd])
    shard = rec.take()
    log = SequenceLog(tmp_path)
    assert log.write("s1", shard) == sum(len(h) for h in shard.hashes)
    back = log.read("s1")
    assert back.shas == shard.shas and back.raw_lengths == shard.raw_lengths
    assert back.sources == shard.sources
    assert all(np.array_equal(a, b) for a, b in zip(back.hashes, shard.hashes))
    assert all(np.array_equal(a, b) for a, b in zip(back.offsets, shard.offsets))
    assert log.keys() == ["s1"] and log.verify() == sum(len(h) for h in shard.hashes)
    assert not list(log.dir.glob(".*"))  # no temporary file left


def test_a_corrupt_log_is_refused_with_what_to_do(tmp_path):
    log = SequenceLog(tmp_path)
    rec = SequenceRecorder(ChunkConfig())
    rec.add(docs_of(real_texts(2)))
    log.write("s", rec.take())
    with np.load(log.path("s")) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["chunks"] = arrays["chunks"] + 1
    with open(log.path("s"), "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(SequenceLogError, match="disagree.*delete it and rerun `starscope index`"):
        log.read("s")
    log.path("s").write_bytes(b"not a zip")
    with pytest.raises(SequenceLogError, match="cannot be read"):
        log.read("s")


def test_shards_merge_by_sha_sources_once_and_opt_outs_dropped(tmp_path):
    texts = real_texts(4)
    log = SequenceLog(tmp_path)
    a, b = docs_of(texts[:3], "own/one", 5), docs_of(texts[:3], "own/one", 5)
    rec = SequenceRecorder(ChunkConfig())
    rec.add(a + [Doc(a[0].sha, texts[0], "gone/x", "y.py", 100, "gone/x/y.py")])
    log.write("k1", rec.take())
    # shard 2: a source seen in shard 1 again (a rerun elsewhere: one source, the newer stars),
    # another source of content 1, and a new content only an opted-out repository holds
    rec.add([Doc(b[1].sha, texts[1], "own/one", "f1.py", 7, "own/one/f1.py"),
             Doc(b[1].sha, texts[1], "z/z", "z.py", 7, "z/z/z.py"),
             Doc(f"{99:040x}", texts[3], "gone/x", "new.py", 1, "gone/x/new.py")])
    log.write("k2", rec.take())
    merged = merge_logs(log, log.keys(), excluded=lambda repo: repo.split("/")[0] == "gone")
    assert merged.shas == [a[0].sha, a[1].sha, a[2].sha]  # the opted-out one's only content is gone
    assert [[(s.repo, s.path, s.stars) for s in srcs] for srcs in merged.sources] == [
        [("own/one", "f0.py", 5)], [("own/one", "f1.py", 7), ("z/z", "z.py", 7)], [("own/one", "f2.py", 5)]]
    # ranks: stars desc, then the most-starred source's repo and path
    assert merged.ranks().tolist() == [1, 0, 2]
    everything = merge_logs(log, log.keys())
    assert len(everything.shas) == 4 and everything.ranks()[0] == 0  # the 100-star source ranks it first


def test_the_span_index_is_built_from_the_logs_and_rebuilt_only_when_they_change(tmp_path):
    texts = real_texts(6)
    log = SequenceLog(tmp_path)
    rec = SequenceRecorder(ChunkConfig())
    rec.add(docs_of(texts[:4], stars=1))
    log.write("k1", rec.take())
    with pytest.raises(SpansMissing, match="older StarScope"):
        open_spans(tmp_path)
    meta = build_spans(tmp_path, shards=log.keys())
    assert meta["documents"] == 4 and meta["shards"] == ["k1"]
    sa = open_spans(tmp_path)
    want = ChunkSA.from_contents(texts[:4])
    assert np.array_equal(sa.text, want.text) and np.array_equal(sa.sa, want.sa)
    assert np.array_equal(sa.offsets, want.offsets)
    mtime = spans_path(tmp_path).stat().st_mtime_ns
    assert build_spans(tmp_path, shards=log.keys()) == meta and spans_path(tmp_path).stat().st_mtime_ns == mtime  # current
    rec.add(docs_of(texts[4:], repo="more/x", stars=9, start=4))
    log.write("k2", rec.take())
    meta = build_spans(tmp_path, shards=log.keys())
    assert meta["documents"] == 6 and read_spans_meta(tmp_path) == meta
    sa = open_spans(tmp_path)
    assert sa.shas(range(6)) == [f"{i:040x}" for i in range(6)]
    assert sa.doc_sources.tolist() == [1] * 6
    assert sa.doc_label_counts(range(6)) == {'["MIT"]': 6}
    # ranked by stars: the 9-star documents (4, 5) first, then by path
    assert sa.by_rank.tolist() == [4, 5, 0, 1, 2, 3]
    assert json.loads((tmp_path / "membership" / "spans.json").read_text())["shards"] == ["k1", "k2"]
    meta = build_spans(tmp_path, shards=log.keys(), excluded=lambda repo: repo == "more/x", ledger_seq=1)
    assert meta["documents"] == 4 and meta["ledger_seq"] == 1


def test_no_span_index_is_built_while_a_shard_lacks_its_log(tmp_path):
    """Shards indexed before the sequence log existed: a span index without them would be
    silently partial, so there is none, and the record says why."""
    log = SequenceLog(tmp_path)
    rec = SequenceRecorder(ChunkConfig())
    rec.add(docs_of(real_texts(2)))
    log.write("new", rec.take())
    build_spans(tmp_path, shards=["new"])
    assert spans_path(tmp_path).exists()
    meta = build_spans(tmp_path, shards=["new", "old"])
    assert meta["missing_shards"] == 1 and not spans_path(tmp_path).exists()
    with pytest.raises(SpansMissing, match="rerun `starscope index` with all its shards"):
        open_spans(tmp_path)
