"""An index's membership sketch: its config, what it holds of each content (:class:`Sketcher`),
the per-shard chunk-hash log and the Bloom filter built from it.

Owns ``<index>/membership/``::

    chunks/<shard key>.npy   distinct chunk hashes of one shard's contents (uint64, sorted)
    bloom.bin                the Bloom filter of every logged hash (format: membership.bloom)
    sketch.json              what the filter was built from, and its false-positive rates

The build logs a shard's hashes before it marks the shard done, so a rerun that skips finished
shards still has all of them; the filter is then rebuilt from the log whenever the set of
logged shards changed. Hashes are split across threads, each filling a filter of the same
size, and the filters are merged (bitwise OR): the result is bit-identical to a serial build.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from . import bloom as bloom_format
from .bloom import BloomConfig, BloomFileError, BloomFilter, BloomFormatOutdated
from .chunks import ChunkConfig, distinct, document_chunk_hashes
from .minhash import MinHashConfig, MinHasher

SKETCH_DIR = "membership"
FORMAT_VERSION = 1
# Probes of random hashes: a 50-character chunk of code is not a uniformly random 64-bit value,
# but its hash is, so random hashes stand for text that is not in the corpus.
FPR_PROBES = 200_000


class SketchMissing(BloomFileError):
    """The index has no membership sketch (built before membership existed, or unfinished)."""


@dataclass(frozen=True)
class SketchConfig:
    """What an index's membership sketch is made with: the chunking (of the Bloom filter and of
    the store's chunk keys) and the MinHash config (of the near-duplicate signatures).

    The store records it beside its documents, as the two keys of :meth:`to_json`; a
    search-only store records both as null, which :meth:`from_json` reads as None.
    """

    chunks: ChunkConfig = ChunkConfig()
    minhash: MinHashConfig = MinHashConfig()

    def to_json(self) -> dict:
        return {"chunks": self.chunks.to_json(), "minhash": self.minhash.to_json()}

    @classmethod
    def from_json(cls, data: dict) -> "SketchConfig | None":
        """The config of a store's ``{"chunks", "minhash"}``; None when both are null."""
        if data.get("chunks") is None and data.get("minhash") is None:
            return None
        return cls(chunks=ChunkConfig.from_json(data["chunks"]), minhash=MinHashConfig.from_json(data["minhash"]))


class Signatures(NamedTuple):
    """A content's MinHash signatures, plain and abstracted (None where it has too few tokens),
    and the LSH band keys of both, which a store keeps as exact-match terms."""

    plain: np.ndarray | None
    abstracted: np.ndarray | None
    band_keys: tuple[str, ...]


NO_SIGNATURES = Signatures(None, None, ())


class Sketcher:
    """What the sketch of ``config`` holds of each content: its chunk hashes (for the Bloom
    filter and the store's chunk keys) and its signatures (for near-duplicates)."""

    def __init__(self, config: SketchConfig):
        self.config = config
        self._minhasher = MinHasher(config.minhash)

    def chunk_hashes(self, contents: Sequence[str]) -> list[np.ndarray]:
        """The chunk hashes of each raw content (:func:`membership.chunks.document_chunk_hashes`)."""
        return document_chunk_hashes(contents, self.config.chunks)

    def sign(self, records: Sequence[tuple[str, str, str]], *, workers: int = 1) -> list[Signatures]:
        """The signatures of each ``(content, lang, path)``; ``lang`` and ``path`` choose the
        lexer of the abstracted token stream; ``workers`` processes sign."""
        if not records:
            return []
        texts = [content for content, _, _ in records]
        hasher = self._minhasher
        plain = hasher.sign_texts(texts, workers=workers)
        abstracted = hasher.sign_texts(texts, abstracted=True, langs=[lang for _, lang, _ in records],
                                       paths=[path for _, _, path in records], workers=workers)
        out = []
        for p, a in zip(plain, abstracted):
            keys = [key for kind, sig in (("p", p), ("a", a)) if sig is not None
                    for key in hasher.band_keys(sig, kind=kind)]
            out.append(Signatures(p, a, tuple(keys)))
        return out


class ShardFiles:
    """One file per shard key under ``<index>/membership/<name>/``, each ending in ``suffix``,
    written whole or not at all (a rerun of the shard replaces it)."""

    name = ""
    suffix = ""

    def __init__(self, index_dir: str | Path):
        self.dir = Path(index_dir) / SKETCH_DIR / self.name

    def path(self, key: str) -> Path:
        return self.dir / f"{key}{self.suffix}"

    def keys(self) -> list[str]:
        if not self.dir.exists():
            return []
        return sorted(p.name[:-len(self.suffix)] for p in self.dir.glob(f"*{self.suffix}")
                      if not p.name.startswith("."))

    def _replace(self, key: str, write) -> None:
        """``write(file)`` into a temporary sibling, fsynced, then renamed over the key's file."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{key}.tmp{self.suffix}"
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path(key))


class ChunkLog(ShardFiles):
    """The per-shard files of chunk hashes under ``<index>/membership/chunks/``."""

    name, suffix = "chunks", ".npy"

    def write(self, key: str, hashes: np.ndarray) -> int:
        """Log a shard's distinct hashes atomically; returns how many."""
        hashes = distinct(np.asarray(hashes, dtype=np.uint64))
        self._replace(key, lambda f: np.save(f, hashes))
        return len(hashes)

    def read(self, key: str) -> np.ndarray:
        arr = np.load(self.path(key), mmap_mode="r")
        if arr.dtype != np.uint64 or arr.ndim != 1:
            raise BloomFileError(f"{self.path(key)}: expected a 1-D uint64 array, found "
                                 f"{arr.ndim}-D {arr.dtype}; rebuild the index")
        return arr

    def verify(self) -> int:
        """Re-read every shard's hashes; returns the total count."""
        return sum(len(self.read(k)) for k in self.keys())


def bloom_path(index_dir: str | Path) -> Path:
    return Path(index_dir) / SKETCH_DIR / "bloom.bin"


def _meta_path(index_dir: str | Path) -> Path:
    return Path(index_dir) / SKETCH_DIR / "sketch.json"


def read_meta(index_dir: str | Path) -> dict | None:
    path = _meta_path(index_dir)
    return json.loads(path.read_text()) if path.exists() else None


def filter_record(meta: dict | None) -> dict | None:
    """``sketch.json`` as the index describes its filter (stats, the manifest): all but the
    per-shard bookkeeping. It is current after ``rebuild-filter``, which the manifest (written by
    builds only) is not."""
    return {k: v for k, v in meta.items() if k != "shards"} if meta else None


def build_bloom(index_dir: str | Path, *, chunks: ChunkConfig = ChunkConfig(), fpr: float = 0.001,
                workers: int = 2, force: bool = False, ledger_seq: int | None = None) -> dict:
    """(Re)build ``bloom.bin`` from the chunk log unless it is current; returns ``sketch.json``.
    ``ledger_seq`` is the last opt-out whose removed chunks the log no longer holds
    (:func:`indexer.optout.rebuild_filter` sets it; other rebuilds keep the recorded one).

    A filter of an older format (``bloom_format``) is rebuilt too, so rerunning ``starscope
    index`` upgrades it.

    Note:
        Sized for ``n`` distinct hashes at false-positive rate ``p`` by
        :meth:`BloomConfig.for_capacity` (15.7 bits per chunk and k = 8 at 0.1%, blocked). The
        measured rate (random probes) and the rate of the bits as set (``fpr_from_fill``) are
        recorded beside the configured one, so a wrong sizing or a broken hash shows up in the
        manifest.
    """
    log = ChunkLog(index_dir)
    keys = log.keys()
    meta = read_meta(index_dir)
    wanted = {"format_version": FORMAT_VERSION, "bloom_format": bloom_format.FORMAT_VERSION,
              "chunks": chunks.to_json(), "fpr": fpr, "shards": keys}
    if (not force and meta and {k: meta.get(k) for k in wanted} == wanted
            and bloom_path(index_dir).exists()):
        return meta
    t0 = time.perf_counter()
    hashes = distinct(np.concatenate([log.read(k) for k in keys])) if keys else np.zeros(0, np.uint64)
    config = BloomConfig.for_capacity(len(hashes), fpr, seed=chunks.seed, chunk=chunks.to_json())
    parts = np.array_split(hashes, max(1, workers))

    def fill(part: np.ndarray) -> BloomFilter:
        bf = BloomFilter(config)
        bf.add(part)
        return bf

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        filters = list(pool.map(fill, parts))
    bloom = filters[0]
    for other in filters[1:]:
        bloom.merge(other)
    path = bloom_path(index_dir)
    bloom.save(path)
    if ledger_seq is None:
        ledger_seq = (meta or {}).get("ledger_seq", 0)
    meta = {**wanted, "ledger_seq": ledger_seq, "items": len(hashes), "bits": config.bits, "hashes": config.hashes,
            "bytes": path.stat().st_size, "bits_per_item": config.bits / max(len(hashes), 1),
            "fpr_theoretical": config.theoretical_fpr(len(hashes)),
            "fpr_from_fill": bloom.estimated_fpr(), "fpr_measured": bloom.measure_fpr(FPR_PROBES),
            "fpr_probes": FPR_PROBES, "seconds": round(time.perf_counter() - t0, 3)}
    write_json(_meta_path(index_dir), meta)
    return meta


def write_json(path: Path, record: dict) -> None:
    """Write a record atomically: a reader sees the old one or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def open_bloom(index_dir: str | Path, *, chunks: ChunkConfig = ChunkConfig()) -> BloomFilter:
    """The index's filter, memory-mapped, checked against the chunking queries will use."""
    path = bloom_path(index_dir)
    if not path.exists():
        raise SketchMissing(f"{index_dir} has no membership sketch ({path} is missing); rebuild "
                            "the index with `starscope index` (a current build writes one)")
    try:
        return BloomFilter.open(path, expect_chunk=chunks.to_json())
    except BloomFormatOutdated as e:
        raise BloomFormatOutdated(
            f"{index_dir}: the membership filter is format version {e.version}, written by an older "
            f"StarScope; this one reads version {e.expected}. Rebuild it from the index's chunk log: "
            f"`starscope rebuild-filter {index_dir}` (or rerun `starscope index`)",
            version=e.version, expected=e.expected) from e
