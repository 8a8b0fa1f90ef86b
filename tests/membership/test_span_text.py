"""The span index's raw text, read by byte range (membership/span_text.py)."""

from dataclasses import dataclass

import numpy as np
import pytest

from membership import span_text
from membership.chunk_sa import ChunkSA
from membership.chunks import ChunkConfig, document_chunks
from membership.sequences import SequenceLog, SequenceRecorder, build_spans, open_span_text, open_spans, text_path

from .test_sequences import docs_of, real_texts


def corpus():
    """Real code, one file with multi-byte characters and a lone surrogate (the store keeps
    them: ``surrogatepass``), one empty and one shorter than a chunk."""
    texts = real_texts(6)
    texts[1] = "# café ünïcode 𝔘𝔫𝔦 — “quotes”\n" + texts[1][:2000] + "\nx = '\ud800 lone'\n" + "é" * 120
    texts += ["", "tiny = 1\n"]
    return texts


class Held:
    """Contents by sha, answered as a store's ``contents`` answers (membership.store): the
    format is tested here; the build's tests write the file from real stores."""

    @dataclass(frozen=True)
    class Record:
        sha: str
        content: str

    def __init__(self, by_sha: dict[str, str]):
        self.by_sha = by_sha

    def contents(self, shas):
        return {s: self.Record(s, self.by_sha[s]) for s in shas if s in self.by_sha}


def saved(tmp_path, texts):
    hashes, offsets = document_chunks(texts)
    shas = [f"{i:040x}" for i in range(len(texts))]
    sa = ChunkSA.build(hashes, offsets, [len(t) for t in texts], doc_shas=shas)
    sa.save(tmp_path / "spans.chunksa")
    sa = ChunkSA.open(tmp_path / "spans.chunksa")
    return sa, Held(dict(zip(shas, texts)))


def test_every_piece_between_chunks_is_the_raw_text_there(tmp_path):
    texts = corpus()
    sa, store = saved(tmp_path, texts)
    header = span_text.write(tmp_path / "spans.text", sa, store, spans_checksum=sa.checksum)
    assert header["docs"] == len(texts) and header["bytes"] == sum(len(t.encode("utf-8", "surrogatepass"))
                                                                   for t in texts)
    text = span_text.open_text(tmp_path / "spans.text", spans_checksum=sa.checksum)
    starts = sa.doc_starts.astype(np.int64)
    docs, a, b, want = [], [], [], []
    for d, t in enumerate(texts):
        positions = range(int(starts[d]), int(starts[d + 1]))  # the chunks, then the separator
        for i in positions:
            for j in positions:
                if i <= j:
                    docs.append(d), a.append(i), b.append(j)
                    want.append(t[int(sa.offsets[i]):int(sa.offsets[j])])
    got = text.between(np.array(docs), np.array(a), np.array(b))
    assert got == want and any("\ud800" in g for g in got) and any("𝔘" in g for g in got)
    assert span_text.verify(tmp_path / "spans.text")["checksum"] == header["checksum"]


def test_a_content_the_store_lacks_or_holds_otherwise_is_refused(tmp_path):
    texts = corpus()
    sa, store = saved(tmp_path, texts)
    with pytest.raises(span_text.SpanTextMismatch, match="missing from the store"):
        span_text.write(tmp_path / "spans.text", sa, Held({}), spans_checksum=sa.checksum)
    changed = Held({s: t + "!" for s, t in store.by_sha.items()})
    with pytest.raises(span_text.SpanTextMismatch, match="disagree"):
        span_text.write(tmp_path / "spans.text", sa, changed, spans_checksum=sa.checksum)
    assert not (tmp_path / "spans.text").exists() and not list(tmp_path.glob("*.part"))


def test_a_file_for_another_span_index_or_a_corrupt_one_is_refused(tmp_path):
    sa, store = saved(tmp_path, corpus())
    path = tmp_path / "spans.text"
    span_text.write(path, sa, store, spans_checksum=sa.checksum)
    with pytest.raises(span_text.SpanTextError, match="another span index"):
        span_text.open_text(path, spans_checksum="0" * 16)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # inside the text
    path.write_bytes(bytes(data))
    span_text.open_text(path, spans_checksum=sa.checksum)  # opening reads no text ...
    with pytest.raises(span_text.SpanTextError, match="checksum mismatch"):
        span_text.verify(path)  # ... verify reads it all
    path.write_bytes(bytes(data[:len(data) // 2]))
    with pytest.raises(span_text.SpanTextError, match="truncated"):
        span_text.open_text(path, spans_checksum=sa.checksum)
    path.write_bytes(b"not a span text file at all")
    with pytest.raises(span_text.SpanTextError, match="is not a StarScope span text file"):
        span_text.open_text(path, spans_checksum=sa.checksum)


def test_build_spans_writes_the_text_beside_the_span_index_and_keeps_them_paired(tmp_path):
    texts = corpus()
    docs = docs_of(texts)
    rec = SequenceRecorder(ChunkConfig())
    rec.add(docs)
    log = SequenceLog(tmp_path)
    log.write("one", rec.take())
    store = Held({d.sha: d.content for d in docs})

    meta = build_spans(tmp_path, shards=["one"])  # no store given: no text, attribution reads the store
    assert "text_bytes" not in meta and not text_path(tmp_path).exists()
    meta = build_spans(tmp_path, shards=["one"], store=store)  # the span index is current: text only
    assert meta["text_bytes"] == text_path(tmp_path).stat().st_size
    sa = open_spans(tmp_path)
    assert open_span_text(tmp_path, sa) is not None
    mtime = text_path(tmp_path).stat().st_mtime_ns
    assert build_spans(tmp_path, shards=["one"], store=store) == meta  # nothing changed, nothing written
    assert text_path(tmp_path).stat().st_mtime_ns == mtime

    rec.add(docs_of(real_texts(3, seed=9), repo="c/d", start=100))
    log.write("two", rec.take())
    build_spans(tmp_path, shards=["one", "two"])  # a new span index: the old text goes with the old one
    assert not text_path(tmp_path).exists()
    span_text.write(text_path(tmp_path), sa, store, spans_checksum=sa.checksum)  # written for the old one
    assert open_span_text(tmp_path, open_spans(tmp_path)) is None  # refused, not read
