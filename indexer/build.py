"""``starscope index``: read shards, fold exact duplicates, write the store — resumably.

Data flow, one shard at a time::

    shard file --corpus reader--> Document --opt-out, size check--> batch --sketch step--.
        chunk-hash log <-- the shard's distinct chunk hashes <-- chunk hashes <----------+
        sequence log <-- each content's chunk hashes and offsets, its sources <----------+
        commit <-- store session add <-- batch, its chunk hashes (signed when written) <-'
          '--> marker (stats)
    all shards done --> Bloom filter rebuilt from the chunk-hash log (if it changed)
                    --> span index rebuilt from the sequence log (if it changed) --> manifest

The sketch step (:mod:`indexer.sketching`) computes what membership keeps of each content, once;
the store indexes the keys it derives from that.

A shard is done when its marker exists. Documents are committed in batches inside a shard, so
a build killed mid-shard leaves some of them stored; the rerun adds the whole shard again, and
because the store merges sources by (id, repo, path) and skips unchanged records, nothing is lost
and nothing is duplicated. A done shard without a sequence log (indexed by an older StarScope)
is read again on a rerun to log its sequences, without touching the store, so rerunning the same
command upgrades an index to the span index.
"""

from __future__ import annotations

import errno
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from membership.minhash import MinHashConfig
from membership.sequences import build_spans
from membership.sketch import build_bloom, filter_record

from .corpus import FieldMap, iter_documents, list_shards
from .es_config import ElasticsearchConfig
from .index_dir import IndexDir
from .manifest import write_manifest
from .optout import OptoutLedger, carry_optouts
from .shard_log import ShardLog, shard_key
from .sketching import SketchStep
from .store import StoreError
from .stores import BACKENDS


@dataclass(frozen=True)
class BuildConfig:
    """How documents flow into the store."""

    store: str = "tantivy"
    max_doc_bytes: int = 10_000_000
    batch_docs: int = 500
    commit_bytes: int = 256 << 20
    bloom_fpr: float = 0.001
    membership: bool = True  # chunk hashes, Bloom filter, MinHash (off: a search-only index)
    minhash: str = "default"  # "default" (datasketch 2.0's affine32, seed 1) or "bigcode" (legacy, seed 42)
    minhash_workers: int = 2  # processes that sign documents
    es: ElasticsearchConfig | None = None  # where the index lives when store == "elasticsearch"

    def __post_init__(self):
        if self.max_doc_bytes < 1:
            raise ValueError(f"max_doc_bytes must be positive, got {self.max_doc_bytes}")
        if self.batch_docs < 1:
            raise ValueError(f"batch_docs must be positive, got {self.batch_docs}")
        if self.commit_bytes < 1:
            raise ValueError(f"commit_bytes must be positive (1 commits after every batch); "
                             f"got {self.commit_bytes}")
        if self.minhash not in ("default", "bigcode"):
            raise ValueError(f"minhash is 'default' or 'bigcode' (BigCode's legacy signatures), got {self.minhash!r}")
        if self.minhash_workers < 1:
            raise ValueError(f"minhash_workers must be at least 1, got {self.minhash_workers}")
        if self.store not in BACKENDS:
            raise ValueError(f"unknown store backend {self.store!r}; choose one of {', '.join(BACKENDS)}")
        if not 0 < self.bloom_fpr < 1:
            raise ValueError(f"bloom_fpr is a probability between 0 and 1 (0.001 = 0.1%), got {self.bloom_fpr}")


    def minhash_config(self) -> MinHashConfig:
        """The MinHash config a new store gets (``bigcode``: :meth:`MinHashConfig.bigcode`)."""
        return MinHashConfig.bigcode() if self.minhash == "bigcode" else MinHashConfig()


class Progress:
    """A one-line progress report on stderr with docs/s and MB/s (only on a terminal unless
    forced)."""

    def __init__(self, *, total_shards: int, enabled: bool):
        self.enabled = enabled
        self.total_shards = total_shards
        self.start = time.perf_counter()
        self.last = 0.0
        self.docs = self.bytes = self.shards = 0

    def update(self, *, docs: int = 0, nbytes: int = 0, shards: int = 0, force: bool = False):
        self.docs += docs
        self.bytes += nbytes
        self.shards += shards
        now = time.perf_counter()
        if self.enabled and (force or now - self.last > 0.5):
            self.last = now
            dt = max(now - self.start, 1e-9)
            sys.stderr.write(f"\rindexing: shard {self.shards}/{self.total_shards}  {self.docs} docs  "
                             f"{self.bytes / 1e6:.1f} MB  {self.docs / dt:.0f} docs/s  "
                             f"{self.bytes / 1e6 / dt:.1f} MB/s ")
            sys.stderr.flush()

    def close(self):
        if self.enabled:
            self.update(force=True)
            sys.stderr.write("\n")


def _batches(docs: Iterable, size: int):
    batch = []
    for d in docs:
        batch.append(d)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def build_index(inputs: Iterable[str | Path], out_dir: str | Path, *, config: BuildConfig = BuildConfig(),
                fields: FieldMap | None = None, progress: bool | None = None,
                optouts_from: str | Path | None = None) -> dict:
    """Index every shard under ``inputs`` into ``out_dir`` and return the manifest.

    Rerunning on the same inputs skips completed shards; new inputs are added to the index.
    ``optouts_from``: an index directory (the one being served, when rebuilding beside it)
    whose opt-outs are carried into ``out_dir`` first, so their repositories are never ingested;
    those made later are carried by ``starscope switch`` (:mod:`indexer.live`).
    """
    out = Path(out_dir)
    shards = list_shards(inputs)
    index = IndexDir.create(out, backend=config.store, sketch=config.membership,
                            minhash=config.minhash_config(), es=config.es)
    store = index.store
    if optouts_from is not None:
        carry_optouts(Path(optouts_from).resolve(), out.resolve(), store, who="starscope index --optouts-from")
    log = index.shard_log
    chunk_log, sequence_log = index.chunk_log, index.sequence_log
    report = Progress(total_shards=len(shards),
                      enabled=sys.stderr.isatty() if progress is None else progress)
    try:
        with store.loading():
            for path in shards:
                key = shard_key(path)
                if log.is_done(key):
                    if config.membership and not sequence_log.path(key).exists():
                        # indexed by a StarScope without the sequence log: read the shard again
                        # (the store is not touched) so the span index can be built
                        sequence_log.write(key, _shard_sequences(path, index, fields))
                    report.update(shards=1)
                    continue
                try:
                    stats, (hashes, sequences) = _index_shard(path, store, config, fields, report, index.ledger)
                    if config.membership:
                        stats["chunk_hashes"] = chunk_log.write(key, hashes)
                        stats["chunks_logged"] = sequence_log.write(key, sequences)
                    log.mark_done(key, source=path, stats=+stats)
                except StoreError as e:
                    raise type(e)(f"shard {path}: {e}. {RESUME}") from e
                except OSError as e:
                    if e.errno not in WRITE_ERRNOS:
                        raise
                    raise BuildWriteError(f"shard {path}: cannot write the index ({e.strerror}: "
                                          f"{e.filename or out}). Free space or make {out} writable, then "
                                          f"{RESUME[0].lower()}{RESUME[1:]}") from e
                report.update(shards=1)
    finally:
        report.close()
    try:
        sketch = finish_membership(index, fpr=config.bloom_fpr) if config.membership else None
        return refresh_manifest(out, config=config, store=store, log=log, sketch=sketch)
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:
            raise
        raise BuildWriteError(f"every shard is indexed, but the filter or manifest cannot be written "
                              f"({e.strerror}: {e.filename or out}); free space or make {out} writable and "
                              "rerun the same command (it only rewrites them)") from e


def finish_membership(index: IndexDir, *, fpr: float) -> dict:
    """The Bloom filter and the span index, each rebuilt from its log if that changed; returns
    the filter's record with the span index's (``spans``)."""
    chunks = index.store.sketch_config().chunks
    sketch = build_bloom(index.path, chunks=chunks, fpr=fpr)
    spans = build_spans(index.path, shards=list(index.shard_log.done()), chunks=chunks,
                        excluded=index.ledger.excluder(), ledger_seq=index.ledger.last_seq(),
                        store=index.store)
    return {**sketch, "spans": {k: v for k, v in spans.items() if k != "shards"}}


RESUME = "Rerun the same command to resume; finished shards are kept and nothing is duplicated."
WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}


class BuildWriteError(RuntimeError):
    """The index directory could not be written (disk full, read-only, no permission); what
    was committed before stays valid and a rerun resumes."""


def _index_shard(path: Path, store, config: BuildConfig, fields, report: Progress, ledger: OptoutLedger):
    """Add one shard's documents in committed batches; return its stats, its distinct chunk
    hashes and its chunk sequences."""
    stats: Counter = Counter()
    opted_out = ledger.excluder()
    step = SketchStep.of(store.sketch_config(), workers=config.minhash_workers)
    with store.session(sketch=step) as session:
        pending_bytes = 0
        docs = iter_documents(path, stats=stats, fields=fields)
        for batch in _batches(docs, config.batch_docs):
            allowed = [d for d in batch if not opted_out(d.repo)]
            stats["skipped_opted_out"] += len(batch) - len(allowed)  # the ledger: never re-ingested
            kept = [d for d in allowed if d.size <= config.max_doc_bytes]
            stats["skipped_too_large"] += len(allowed) - len(kept)
            session.add(kept, step.batch(kept))
            nbytes = sum(d.size for d in kept)
            pending_bytes += nbytes
            report.update(docs=len(kept), nbytes=nbytes)
            if pending_bytes >= config.commit_bytes:
                session.commit()
                pending_bytes = 0
    stats["docs_indexed"] = stats["docs_read"] - stats["skipped_too_large"] - stats["skipped_opted_out"]
    stats.update({f"store_{k}": v for k, v in session.counts.items()})
    return stats, step.take_shard()


def _shard_sequences(path: Path, index: IndexDir, fields):
    """The sequence log of a shard the store already holds, from the shard, kept as its build
    kept it (the index's recorded ``max_doc_bytes``; opt-outs are dropped by the span index)."""
    max_doc_bytes = index.manifest["configs"]["build"]["max_doc_bytes"]
    step = SketchStep.of(index.store.sketch_config())
    for batch in _batches(iter_documents(path, stats=Counter(), fields=fields), 500):
        step.batch([d for d in batch if d.size <= max_doc_bytes])
    return step.take_shard()[1]


def refresh_manifest(out: Path, *, config: BuildConfig, store, log: ShardLog, sketch: dict | None) -> dict:
    """Rewrite the manifest from the shard markers, the store's own counts and the sketch."""
    done = log.done()
    counts = dict(sorted(log.merged_stats().items()))
    stats = store.stats()
    counts.update(documents=stats.documents, sources=stats.sources, content_bytes=stats.content_bytes,
                  duplicate_sources=stats.sources - stats.documents)
    return write_manifest(out, configs={"build": asdict(config), "store": store.describe(),
                                        "membership": filter_record(sketch)},
                          shards=list(done), counts=counts,
                          store={"backend": config.store, "by_lang": stats.by_lang, **store.location()})
