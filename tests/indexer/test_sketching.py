"""The build's sketching step: what membership keeps of each content, computed once per batch
(the Bloom filter and resume tests in tests/membership/test_sketch.py cover it end to end)."""

import numpy as np

from indexer.document import Document
from indexer.sketching import SketchStep
from indexer.store import StoredDocument
from membership.chunks import distinct, document_chunk_hashes, document_chunks
from membership.minhash import MinHashConfig, MinHasher
from membership.sketch import NO_SIGNATURES, Sketcher, SketchConfig

from .conftest import real_documents


def test_the_sketcher_gives_the_chunk_hashes_and_both_signatures_with_their_band_keys():
    docs = real_documents(6)
    config = SketchConfig(minhash=MinHashConfig.bigcode())
    sketcher = Sketcher(config)
    contents = [d.content for d in docs] + ["x"]  # too few tokens to sign
    assert [h.tolist() for h in sketcher.chunk_hashes(contents)] == [
        h.tolist() for h in document_chunk_hashes(contents, config.chunks)]
    sigs = sketcher.sign([(c, "python", "a.py") for c in contents], workers=1)
    hasher = MinHasher(config.minhash)
    for content, s in zip(contents, sigs):
        plain = hasher.sign_texts([content])[0]
        abstracted = hasher.sign_texts([content], abstracted=True, langs=["python"], paths=["a.py"])[0]
        for got, want in ((s.plain, plain), (s.abstracted, abstracted)):
            assert (got is None and want is None) or np.array_equal(got, want)
        want_keys = [k for kind, sig in (("p", plain), ("a", abstracted)) if sig is not None
                     for k in hasher.band_keys(sig, kind=kind)]
        assert list(s.band_keys) == want_keys
    assert sigs[-1] == NO_SIGNATURES and sigs[0].band_keys[0].startswith("p00")
    assert sketcher.sign([]) == []


def test_the_step_logs_each_shard_s_distinct_hashes_once_and_signs_only_what_is_asked():
    docs = real_documents(8)
    step = SketchStep.of(SketchConfig())
    dup = Document.create(repo="mirror/copy", path="copy.py", content=docs[0].content)
    first = step.batch(docs[:5] + [dup])
    assert list(first.hashes) == [d.sha for d in docs[:5]]  # by content, in batch order
    step.batch(docs[5:])
    step.batch(docs[:2], logged=False)  # a session's own rewrite: not the shard's
    want = distinct(np.concatenate(document_chunk_hashes([d.content for d in docs])))
    hashes, shard = step.take_shard()
    assert hashes.tolist() == want.tolist()
    # the sequences: each content once, in order, with every source (the duplicate's too)
    assert shard.shas == [d.sha for d in docs]
    hashes_of, offsets_of = document_chunks([d.content for d in docs])
    assert all(np.array_equal(a, b) for a, b in zip(shard.hashes, hashes_of))
    assert all(np.array_equal(a, b) for a, b in zip(shard.offsets, offsets_of))
    assert shard.raw_lengths == [len(d.content) for d in docs]
    assert [(i, s.repo, s.path) for i, s in shard.sources] == (
        [(i, d.repo, d.path) for i, d in enumerate(docs[:5])] + [(0, "mirror/copy", "copy.py")]
        + [(5 + i, d.repo, d.path) for i, d in enumerate(docs[5:])])
    hashes, shard = step.take_shard()
    assert hashes.tolist() == [] and len(shard) == 0  # taken: the next shard starts empty
    records = [StoredDocument.from_document(d) for d in docs[:2]]
    signed = first.signatures(records)
    assert len(signed) == 2 and all(s.plain is not None and s.band_keys for s in signed)


def test_a_search_only_step_sketches_nothing():
    step = SketchStep.of(None)
    docs = real_documents(2)
    batch = step.batch(docs)
    assert [h.tolist() for h in batch.hashes.values()] == [[], []]
    assert batch.signatures([StoredDocument.from_document(d) for d in docs]) == [NO_SIGNATURES] * 2
    hashes, shard = step.take_shard()
    assert hashes.tolist() == [] and len(shard) == 0
