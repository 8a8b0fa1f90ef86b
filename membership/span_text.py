"""``spans.text``: the raw text of the span index's documents, read by byte range.

Attribution grows a match on the characters of its edges: less than a chunk each side, read from
the chunk before the match and the chunks after it, in one holder per neighbouring chunk
(:mod:`membership.attribution`). Reading them from the store costs a whole content per piece
(tantivy decompresses its block, Elasticsearch sends its ``_source``), for contents that are
not shown. This file keeps every document of the span index (:mod:`membership.chunk_sa`) as
UTF-8, with each chunk's byte offset in its document, so a piece is one slice of a memory map.

Written by :func:`write` beside ``spans.chunksa`` from the same documents (in the span index's
order, the contents given by the store), and paired with it: the header records the suffix
array's checksum, and :func:`open_text` refuses a file written for another one.

File layout: membership's frame (:mod:`membership.framing`) with magic ``b"SSSPTXT\\x01"``, the
JSON header ``{format_version, spans_checksum, docs, positions, bytes, arrays, checksum}``, then::

    doc_bytes    uint64[D + 1]   where each document's UTF-8 starts in ``text``; the last is B
    chunk_bytes  uint32[N]       for each position of the span index's text T, the byte offset
                                 in its document of the chunk's raw start (a separator: the
                                 document's byte length), as ``offsets`` gives it in characters
    text         uint8[B]        the documents' raw text, UTF-8 (lone surrogates kept, as the
                                 store keeps them: ``surrogatepass``), one after the other

``checksum`` is the xxh3_64 hex digest of the arrays' bytes. :func:`verify` reads everything.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Sequence

import numpy as np

from . import framing
from .chunk_sa import ChunkSA
from .store import ContentStore

FORMAT_VERSION = 1
MAGIC = b"SSSPTXT\x01"
_ARRAYS = (("doc_bytes", "<u8"), ("chunk_bytes", "<u4"), ("text", "u1"))
_BATCH = 256  # contents asked of the store at once


class SpanTextError(ValueError):
    """A ``spans.text`` that cannot be used: foreign, corrupt, or written for another span index."""


class SpanTextMismatch(ValueError):
    """A content the store gives that is not the one the span index was built from."""


def write(path: str | Path, sa: ChunkSA, store: ContentStore, *, spans_checksum: str) -> dict:
    """Write the raw text of ``sa``'s documents to ``path`` atomically, read from ``store`` a
    batch at a time; ``spans_checksum`` is the checksum of the span index file it goes with.
    Returns the header.

    Raises:
        SpanTextMismatch: a content is missing from the store or its length is not the one the
            span index records (the store and the logs disagree: rebuild the index).
    """
    path = Path(path)
    docs = sa.docs
    starts = sa.doc_starts.astype(np.int64)
    chunk_bytes = np.zeros(len(sa.text), np.uint32)
    doc_bytes = np.zeros(docs + 1, np.uint64)
    part = path.with_name(path.name + ".part")  # the text, streamed: memory stays one batch
    try:
        with open(part, "wb") as out:
            at = 0
            for first in range(0, docs, _BATCH):
                batch = list(range(first, min(docs, first + _BATCH)))
                shas = sa.shas(batch)
                got = store.contents(shas)
                for d, sha in zip(batch, shas):
                    content = got[sha].content if sha in got else None
                    a, b = int(starts[d]), int(starts[d + 1])  # b - 1: the separator (the raw length)
                    chars = sa.offsets[a:b].astype(np.int64)
                    if content is None or len(content) != chars[-1]:
                        held = "missing from the store" if content is None else f"{len(content):,} characters there"
                        raise SpanTextMismatch(f"content {sha} is {held}, the span index holds {int(chars[-1]):,}: "
                                               "the store and the sequence logs disagree; rebuild the index")
                    raw = content.encode("utf-8", "surrogatepass")
                    chunk_bytes[a:b] = chars if len(raw) == len(content) else _byte_offsets(content)[chars]
                    out.write(raw)
                    at += len(raw)
                    doc_bytes[d + 1] = at
        text = np.memmap(part, np.uint8, mode="r") if at else np.zeros(0, np.uint8)
        arrays = {"doc_bytes": doc_bytes, "chunk_bytes": chunk_bytes, "text": text}
        layout, offset = {}, 0
        for name, _ in _ARRAYS:
            layout[name] = [offset, len(arrays[name])]
            offset += framing.padded(arrays[name].nbytes)
        header = {"format_version": FORMAT_VERSION, "spans_checksum": spans_checksum, "docs": docs,
                  "positions": len(sa.text), "bytes": at, "arrays": layout,
                  "checksum": framing.checksum(arrays.values())}
        framing.write(path, MAGIC, header, arrays.values())
        del text, arrays
    finally:
        part.unlink(missing_ok=True)
    return header


def _byte_offsets(content: str) -> np.ndarray:
    """The UTF-8 byte offset of each character of ``content`` and of its end."""
    cp = np.frombuffer(content.encode("utf-32-le", "surrogatepass"), np.uint32)
    size = 1 + (cp >= 0x80).astype(np.int64) + (cp >= 0x800) + (cp >= 0x10000)
    return np.concatenate(([0], np.cumsum(size)))


class SpanText:
    """An open ``spans.text``: pieces of documents by span-index position, memory-mapped."""

    def __init__(self, path: Path, header: dict, doc_bytes: np.ndarray, chunk_bytes: np.ndarray, text_at: int):
        self.path, self.header = path, header
        self.doc_bytes, self.chunk_bytes = np.asarray(doc_bytes), np.asarray(chunk_bytes)  # plain views
        self._at = text_at
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)  # (a frame is never empty)

    def between(self, docs: Sequence[int] | np.ndarray, a: np.ndarray, b: np.ndarray) -> list[str]:
        """The raw text of document ``docs[i]`` from the chunk at span-index position ``a[i]`` to
        the one at ``b[i]`` (exclusive; ``b[i]`` may be the document's separator: to its end)."""
        base = self.doc_bytes[np.asarray(docs, np.int64)].astype(np.int64) + self._at
        start = (base + self.chunk_bytes[a]).tolist()
        end = (base + self.chunk_bytes[b]).tolist()
        m = self._map
        return [m[s:e].decode("utf-8", "surrogatepass") for s, e in zip(start, end)]


def open_text(path: str | Path, *, spans_checksum: str) -> SpanText:
    """Map the file at ``path``, checking its frame, sizes and that it was written for the span
    index whose checksum is ``spans_checksum`` (not its own checksum: :func:`verify` reads
    everything)."""
    path = Path(path)
    header, arrays, text_at = _read(path)
    if header["spans_checksum"] != spans_checksum:
        raise SpanTextError(f"{path} was written for another span index (checksum {header['spans_checksum']}, "
                            f"the index's is {spans_checksum}); rerun `starscope index` with its shards, which writes it again")
    return SpanText(path, header, arrays["doc_bytes"], arrays["chunk_bytes"], text_at)


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray], int]:
    header, offset, size = framing.read_header(path, MAGIC, what="a StarScope span text file", error=SpanTextError)
    if header.get("format_version") != FORMAT_VERSION:
        raise SpanTextError(f"{path}: format version {header.get('format_version')!r}, this version reads "
                            f"{FORMAT_VERSION}; rebuild it")
    missing = [k for k in ("spans_checksum", "docs", "positions", "bytes", "arrays", "checksum") if k not in header]
    if missing:
        raise SpanTextError(f"{path}: header lacks {', '.join(missing)}; the file is corrupt")
    counts = {k: header[k] for k in ("docs", "positions", "bytes")}
    if not all(framing.is_count(v) for v in counts.values()):
        raise SpanTextError(f"{path}: header counts {counts} are not counts; the file is corrupt")
    expected = {"doc_bytes": counts["docs"] + 1, "chunk_bytes": counts["positions"], "text": counts["bytes"]}
    layout, arrays, at, text_at = header["arrays"], {}, 0, 0
    if not isinstance(layout, dict):
        raise SpanTextError(f"{path}: header arrays is not an object; the file is corrupt")
    for name, dtype in _ARRAYS:
        if layout.get(name) != [at, expected[name]]:
            raise SpanTextError(f"{path}: array {name} at {layout.get(name)!r}, expected {[at, expected[name]]}; "
                                "the file is corrupt")
        nbytes = expected[name] * np.dtype(dtype).itemsize
        if offset + at + nbytes > size:
            raise SpanTextError(f"{path}: truncated: array {name} ends past the file's {size} bytes")
        if name == "text":
            text_at = offset + at
        arrays[name] = (np.memmap(path, dtype=dtype, mode="r", offset=offset + at, shape=(expected[name],))
                        if expected[name] else np.zeros(0, dtype))
        at += framing.padded(nbytes)
    if size != offset + at:
        raise SpanTextError(f"{path}: {size} bytes, expected {offset + at}; the file is corrupt")
    if int(arrays["doc_bytes"][-1]) != counts["bytes"]:
        raise SpanTextError(f"{path}: the documents end at byte {int(arrays['doc_bytes'][-1])}, the text holds "
                            f"{counts['bytes']}; the file is corrupt")
    return header, arrays, text_at


def verify(path: str | Path) -> dict:
    """Every check of :func:`open_text` but the pairing, plus the checksum over all arrays and
    that every document's bytes are UTF-8; returns the header."""
    path = Path(path)
    header, arrays, _ = _read(path)
    actual = framing.checksum(arrays[name] for name, _ in _ARRAYS)
    if actual != header["checksum"]:
        raise SpanTextError(f"{path}: checksum mismatch: header says {header['checksum']}, arrays hash to "
                            f"{actual}; the file is corrupt, rebuild it")
    doc_bytes = np.asarray(arrays["doc_bytes"], np.int64)
    if (np.diff(doc_bytes) < 0).any():
        raise SpanTextError(f"{path}: document byte offsets decrease; the file is corrupt, rebuild it")
    try:
        bytes(arrays["text"]).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as e:
        raise SpanTextError(f"{path}: the text is not UTF-8 ({e}); the file is corrupt, rebuild it") from None
    return header
