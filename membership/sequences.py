"""The chunk-sequence log and the span index built from it: what lets attribution grow a span
on chunk hashes instead of reading the documents that hold it.

The build logs, per shard, every content it indexed as the sequence of its chunk hashes (stride
50, in order) with the raw character offset of each chunk, its raw length, and every source it
was found at (id, repo, path, stars, licenses). When all shards are done, :func:`build_spans` merges the
shards' logs by content sha (a content logged by several shards is one document; a source
logged twice, by a rerun or another shard, is one source, as the store merges them), drops the
sources of opted-out repositories, ranks the documents as attribution lists its sources (most
stars first, then repository and path of the most-starred source: the store's ``primary``) and
builds the suffix array over their chunk sequences (:class:`membership.chunk_sa.ChunkSA`), with
the document table attribution needs: each document's sha, number of sources, and how many of
its sources carry each license list (a label: the JSON list), so that a span's license summary
over every document holding it needs no fetch.

Data flow::

    build, per shard: contents --document_chunks--> hashes, offsets --SequenceLog.write-->
        membership/sequences/<shard>.npz          (with the shard's sources)
    all shards done:  every shard's log --merge by sha, opt-outs dropped, ranked-->
        ChunkSA.build --> membership/spans.chunksa, membership/spans.json (what it was built from)
        the store's contents, in the span index's order --span_text.write--> membership/spans.text

Files: each shard's log is an ``.npz`` (no pickles) written atomically, the arrays::

    sha          S40[C]      each content's sha (hex)
    chunks       int64[C]    how many chunks each content has
    hashes       uint64[H]   the chunk hashes, content after content
    offsets      uint32[H]   the raw character offset of each chunk
    raw_length   int64[C]    each content's raw length in characters
    src_content  int64[S]    for each source, the index of its content
    src_stars    int64[S]
    src_names    uint8[*]    UTF-8 JSON list of [id, repo, path, [licenses]], one per source

``spans.json`` records the shard keys, the ledger sequence and the chunk settings it reflects,
so a rerun of the build rebuilds it only when something changed (as the Bloom filter's
``sketch.json`` does).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from . import chunk_sa, span_text
from .chunk_sa import ChunkSA
from .chunks import ChunkConfig, document_chunks
from .sketch import SKETCH_DIR, ShardFiles, write_json
from .store import ContentStore

FORMAT_VERSION = 1
_FIELDS = ("sha", "chunks", "hashes", "offsets", "raw_length", "src_content", "src_stars", "src_names")


class SequenceLogError(ValueError):
    """A shard's sequence log that cannot be read (foreign, truncated or inconsistent)."""


class SpansMissing(FileNotFoundError):
    """An index whose build wrote no span index (older than this StarScope, or search-only)."""


@dataclass(frozen=True)
class Source:
    """One place a content was found, as the log keeps it."""

    id: str
    repo: str
    path: str
    stars: int
    licenses: tuple[str, ...] = ()


@dataclass
class ShardSequences:
    """One shard's contents (each once, by sha) as chunk sequences, and their sources."""

    shas: list[str]
    hashes: list[np.ndarray]  # per content, uint64
    offsets: list[np.ndarray]  # per content, uint32 raw character offsets
    raw_lengths: list[int]
    sources: list[tuple[int, Source]]  # (content index, source)

    @classmethod
    def empty(cls) -> "ShardSequences":
        return cls([], [], [], [], [])

    def __len__(self) -> int:
        return len(self.shas)


class SequenceRecorder:
    """Collects a shard's sequences batch by batch (the build's sketch step feeds it): each
    content's chunks are computed once per shard, each source kept as it came."""

    def __init__(self, chunks: ChunkConfig):
        self.chunks = chunks
        self._at: dict[str, int] = {}
        self._shard = ShardSequences.empty()

    def add(self, documents: Iterable) -> dict[str, np.ndarray]:
        """Record ``documents`` (each with ``sha``, ``content``, ``id``, ``repo``, ``path``,
        ``stars`` and ``licenses``); returns the chunk hashes of each distinct sha among them."""
        shard, fresh, out = self._shard, {}, {}
        docs = list(documents)
        for d in docs:
            if d.sha not in self._at and d.sha not in fresh:
                fresh[d.sha] = d.content
        if fresh:
            hashes, offsets = document_chunks(list(fresh.values()), self.chunks)
            for (sha, content), h, o in zip(fresh.items(), hashes, offsets):
                self._at[sha] = len(shard.shas)
                shard.shas.append(sha)
                shard.hashes.append(h)
                shard.offsets.append(o)
                shard.raw_lengths.append(len(content))
        for d in docs:
            i = self._at[d.sha]
            shard.sources.append((i, Source(d.id, d.repo, d.path, int(d.stars), tuple(d.licenses))))
            out[d.sha] = shard.hashes[i]
        return out

    def take(self) -> ShardSequences:
        """The shard recorded so far; the recorder starts the next one empty."""
        shard, self._shard, self._at = self._shard, ShardSequences.empty(), {}
        return shard


class SequenceLog(ShardFiles):
    """The per-shard sequence logs under ``<index>/membership/sequences/``."""

    name, suffix = "sequences", ".npz"

    def write(self, key: str, shard: ShardSequences) -> int:
        """Log a shard atomically (a rerun of the shard replaces it); returns its chunk count."""
        names = json.dumps([[s.id, s.repo, s.path, list(s.licenses)] for _, s in shard.sources]).encode("utf-8")
        arrays = {
            "sha": np.array(shard.shas, dtype="S40"),
            "chunks": np.array([len(h) for h in shard.hashes], np.int64),
            "hashes": _concat(shard.hashes, np.uint64),
            "offsets": _concat(shard.offsets, np.uint32),
            "raw_length": np.array(shard.raw_lengths, np.int64),
            "src_content": np.array([i for i, _ in shard.sources], np.int64),
            "src_stars": np.array([s.stars for _, s in shard.sources], np.int64),
            "src_names": np.frombuffer(names, np.uint8),
        }
        self._replace(key, lambda f: np.savez(f, **arrays))
        return len(arrays["hashes"])

    def read(self, key: str) -> ShardSequences:
        path = self.path(key)
        fix = "delete it and rerun `starscope index` with the index's shards, which logs the shard again"
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in _FIELDS if k not in z.files]
                if missing:
                    raise SequenceLogError(f"{path}: lacks {', '.join(missing)}; {fix}")
                a = {k: z[k] for k in _FIELDS}
            names = json.loads(a["src_names"].tobytes().decode("utf-8"))
        except (OSError, ValueError) as e:
            if isinstance(e, SequenceLogError):
                raise
            raise SequenceLogError(f"{path}: cannot be read ({e}); {fix}") from e
        counts = a["chunks"]
        c = len(a["sha"])
        if (len(counts) != c or len(a["raw_length"]) != c or counts.min(initial=0) < 0
                or int(counts.sum()) != len(a["hashes"]) or len(a["offsets"]) != len(a["hashes"])
                or len(a["src_stars"]) != len(a["src_content"]) or len(names) != len(a["src_content"])
                or (len(a["src_content"]) and not 0 <= a["src_content"].min() <= a["src_content"].max() < c)):
            raise SequenceLogError(f"{path}: its arrays disagree in length; the file is corrupt: {fix}")
        bounds = np.cumsum(counts)[:-1]
        return ShardSequences(
            shas=[s.decode("ascii") for s in a["sha"].tolist()],
            hashes=np.split(a["hashes"], bounds) if c else [],
            offsets=np.split(a["offsets"], bounds) if c else [],
            raw_lengths=a["raw_length"].tolist(),
            sources=[(i, Source(n[0], n[1], n[2], st, tuple(n[3]))) for i, st, n in
                     zip(a["src_content"].tolist(), a["src_stars"].tolist(), names)])

    def verify(self) -> int:
        """Read every shard's log back; returns the total chunk count."""
        return sum(len(h) for k in self.keys() for h in self.read(k).hashes)


def _concat(parts: Sequence[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate([np.asarray(p, dtype) for p in parts]) if parts else np.zeros(0, dtype)


# -- the span index --------------------------------------------------------------------------------
def spans_path(index_dir: str | Path) -> Path:
    return Path(index_dir) / SKETCH_DIR / "spans.chunksa"


def _meta_path(index_dir: str | Path) -> Path:
    return Path(index_dir) / SKETCH_DIR / "spans.json"


def read_spans_meta(index_dir: str | Path) -> dict | None:
    path = _meta_path(index_dir)
    return json.loads(path.read_text()) if path.exists() else None


@dataclass(frozen=True)
class MergedDocuments:
    """The documents of every shard's log, merged: what the span index is built over."""

    shas: list[str]
    hashes: list[np.ndarray]
    offsets: list[np.ndarray]
    raw_lengths: list[int]
    sources: list[list[Source]]  # per document, sorted as the store sorts them

    def labels(self) -> list[dict[str, int]]:
        """Per document, how many of its sources carry each license list (its JSON)."""
        out = []
        for srcs in self.sources:
            counts: dict[str, int] = {}
            for s in srcs:
                key = json.dumps(list(s.licenses))
                counts[key] = counts.get(key, 0) + 1
            out.append(counts)
        return out

    def ranks(self) -> np.ndarray:
        """Each document's place when sources are listed: most stars first, then the repository
        and path of its most-starred source (``StoredDocument.primary``)."""
        keys = [min((-s.stars, s.repo, s.path) for s in srcs) for srcs in self.sources]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        rank = np.empty(len(keys), np.int64)
        rank[order] = np.arange(len(keys))
        return rank


def merge_logs(log: SequenceLog, keys: Sequence[str], *, excluded: Callable[[str], bool] | None = None
               ) -> MergedDocuments:
    """Every content of the logs ``keys`` once; each source once by (id, repo, path), the later
    shard's record winning (as the store replaces a source with the newer one); sources whose
    repository ``excluded`` names dropped, and contents left with none."""
    at: dict[str, int] = {}
    hashes, offsets, lengths, sources = [], [], [], []
    for key in keys:
        shard = log.read(key)
        local = []
        for sha, h, o, n in zip(shard.shas, shard.hashes, shard.offsets, shard.raw_lengths):
            if sha not in at:
                at[sha] = len(hashes)
                hashes.append(h)
                offsets.append(o)
                lengths.append(n)
                sources.append({})
            local.append(at[sha])
        for i, s in shard.sources:
            sources[local[i]][(s.id, s.repo, s.path)] = s
    shas = list(at)
    keep = [d for d, srcs in enumerate(sources)
            if any(excluded is None or not excluded(s.repo) for s in srcs.values())]
    return MergedDocuments(
        shas=[shas[d] for d in keep], hashes=[hashes[d] for d in keep], offsets=[offsets[d] for d in keep],
        raw_lengths=[lengths[d] for d in keep],
        sources=[sorted((s for s in sources[d].values() if excluded is None or not excluded(s.repo)),
                        key=lambda s: (s.repo, s.path, s.id)) for d in keep])


def build_spans(index_dir: str | Path, *, shards: Sequence[str], chunks: ChunkConfig = ChunkConfig(),
                excluded: Callable[[str], bool] | None = None, ledger_seq: int = 0,
                store: ContentStore | None = None) -> dict:
    """(Re)build ``spans.chunksa`` from the sequence logs of ``shards`` (every shard the index
    holds) unless it is current; returns ``spans.json``. ``excluded(repo)``: the opt-out
    ledger's test (its sources are dropped); ``ledger_seq``: the last opt-out it reflects.
    ``store``: the index's store, from whose contents ``spans.text`` is written beside it
    (:mod:`membership.span_text`; None: none is, and attribution reads edges from the store).

    Note:
        An index whose older shards were built before the sequence log has none for them; a
        span index without them would be silently partial, so none is built (and a stale one is
        removed): the record says how many shards lack a log (``missing_shards``).
    """
    log = SequenceLog(index_dir)
    keys = sorted(shards)
    missing = sorted(set(keys) - set(log.keys()))
    meta = read_spans_meta(index_dir)
    wanted = {"format_version": FORMAT_VERSION, "chunk_sa_format": chunk_sa.FORMAT_VERSION,
              "chunks": chunks.to_json(), "shards": keys, "ledger_seq": ledger_seq}
    if missing:
        spans_path(index_dir).unlink(missing_ok=True)
        text_path(index_dir).unlink(missing_ok=True)
        meta = {**wanted, "missing_shards": len(missing)}
        write_json(_meta_path(index_dir), meta)
        return meta
    if meta and {k: meta.get(k) for k in wanted} == wanted and spans_path(index_dir).exists():
        if store is None:
            return meta
        sa = open_spans(index_dir, chunks=chunks)
        if open_span_text(index_dir, sa) is None:  # written by an older StarScope, or cut short
            meta = {**meta, **_write_text(index_dir, sa, store)}
            write_json(_meta_path(index_dir), meta)
        return meta
    t0 = time.perf_counter()
    docs = merge_logs(log, keys, excluded=excluded)
    t1 = time.perf_counter()
    sa = ChunkSA.build(docs.hashes, docs.offsets, docs.raw_lengths, doc_rank=docs.ranks(),
                       doc_shas=docs.shas, doc_sources=[len(s) for s in docs.sources], doc_labels=docs.labels(),
                       chunk=chunks)
    t2 = time.perf_counter()
    path = spans_path(index_dir)
    text_path(index_dir).unlink(missing_ok=True)  # written for the span index it replaces
    sa.save(path)
    meta = {**wanted, "documents": sa.docs, "chunks_total": int(len(sa.sa)), "distinct": int(len(sa.hashes)),
            "bytes": path.stat().st_size, "log_bytes": sum(log.path(k).stat().st_size for k in keys),
            "merge_s": round(t1 - t0, 3), "build_s": round(t2 - t1, 3),
            "seconds": round(time.perf_counter() - t0, 3)}
    if store is not None:
        meta.update(_write_text(index_dir, sa, store))
    write_json(_meta_path(index_dir), meta)
    return meta


def _write_text(index_dir: str | Path, sa: ChunkSA, store: ContentStore) -> dict:
    t0 = time.perf_counter()
    header = span_text.write(text_path(index_dir), sa, store, spans_checksum=sa.checksum)
    return {"text_bytes": text_path(index_dir).stat().st_size, "text_documents": header["docs"],
            "text_s": round(time.perf_counter() - t0, 3)}


def text_path(index_dir: str | Path) -> Path:
    return Path(index_dir) / SKETCH_DIR / "spans.text"


def open_span_text(index_dir: str | Path, sa: ChunkSA) -> span_text.SpanText | None:
    """The raw text written beside the span index ``sa`` (memory-mapped), or None where there is
    none that goes with it (an index built before it, or one whose text was cut short):
    attribution then reads the edges it grows from the store, and a rerun of ``starscope index``
    writes it."""
    try:
        return span_text.open_text(text_path(index_dir), spans_checksum=sa.checksum)
    except (FileNotFoundError, span_text.SpanTextError):
        return None


def open_spans(index_dir: str | Path, *, chunks: ChunkConfig = ChunkConfig()) -> ChunkSA:
    """The index's span index, memory-mapped, checked against the chunking queries will use."""
    path = spans_path(index_dir)
    if not path.exists():
        raise SpansMissing(f"{index_dir} has no span index ({path} is missing): some or all of its shards "
                           "were indexed by an older StarScope, which kept no chunk sequences; rerun "
                           "`starscope index` with all its shards (they are read again, not stored again)")
    return ChunkSA.open(path, expect_chunk=chunks)
