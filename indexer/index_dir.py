"""One index directory, and each of its artifacts opened once, on first use.

An index directory holds::

    manifest.json      what it holds and how it was built; written last by a build (indexer.manifest)
    store/             the store, or the file naming its Elasticsearch index (indexer.stores)
    shards/            the per-shard completion markers (indexer.shard_log)
    membership/        the chunk-hash log, the Bloom filter and sketch.json (membership.sketch),
                       the sequence log and the span index (membership.sequences)
    optout/            the opt-out ledger, its removed chunks, the requests (indexer.optout, indexer.optout_requests)
    SUPERSEDED         present once a switch replaced it (indexer.superseded)

Each artifact's own module owns its format and its paths; :class:`IndexDir` only knows which
module that is, opens each artifact once, and hands membership what it needs, so that membership
opens nothing itself. The sketch config is read once, from the store's own record of it (the
manifest and ``sketch.json`` keep copies that are never read back for configuration).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from membership.attribution import AttributionConfig, MembershipIndex
from membership.chunk_sa import ChunkSAFileError
from membership.minhash import MinHashConfig
from membership.sequences import SequenceLog, SpansMissing, open_span_text, open_spans
from membership.sketch import ChunkLog, SketchConfig, SketchMissing, filter_record, open_bloom, read_meta

from .es_config import ElasticsearchConfig
from .manifest import read_manifest
from .optout import OptoutLedger
from .optout_requests import OptoutRequests
from .shard_log import ShardLog
from .store import Store
from .stores import open_store


class IndexDir:
    """The index directory ``path``; ``es`` says where an Elasticsearch-backed index is served
    from when not where it was built (another URL, say); ``store`` is one opened already."""

    def __init__(self, path: str | Path, *, es: ElasticsearchConfig | None = None, store: Store | None = None):
        self.path = Path(path)
        self._es = es
        self._store = store

    @classmethod
    def create(cls, path: str | Path, *, backend: str = "tantivy", sketch: bool = True,
               minhash: MinHashConfig | None = None, es: ElasticsearchConfig | None = None) -> "IndexDir":
        """A directory to build into, made if missing, with its store opened or made (see
        :func:`indexer.stores.open_store`; a build resumes into the store it finds)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path, store=open_store(path, backend=backend, create=True, sketch=sketch,
                                          minhash=minhash, es=es))

    @cached_property
    def manifest(self) -> dict:
        """The manifest (:class:`indexer.manifest.ManifestError` if the directory is no index)."""
        return read_manifest(self.path)

    @property
    def store(self) -> Store:
        """The store the manifest names (:class:`indexer.store.StoreError` if it cannot be opened)."""
        if self._store is None:
            self._store = open_store(self.path, backend=self.manifest["store"]["backend"], es=self._es)
        return self._store

    @property
    def sketch_config(self) -> SketchConfig | None:
        """The membership sketch the store was built with; None for a search-only index."""
        return self.store.sketch_config()

    @property
    def filter_record(self) -> dict | None:
        """The Bloom filter as built or last rebuilt (``sketch.json``); None without a sketch."""
        return filter_record(read_meta(self.path))

    @cached_property
    def ledger(self) -> OptoutLedger:
        return OptoutLedger(self.path)

    @cached_property
    def requests(self) -> OptoutRequests:
        return OptoutRequests(self.path)

    @cached_property
    def shard_log(self) -> ShardLog:
        return ShardLog(self.path)

    @cached_property
    def chunk_log(self) -> ChunkLog:
        return ChunkLog(self.path)

    @cached_property
    def sequence_log(self) -> SequenceLog:
        return SequenceLog(self.path)

    def membership(self, config: AttributionConfig = AttributionConfig()) -> MembershipIndex:
        """Membership and attribution over the store, the memory-mapped Bloom filter and the
        memory-mapped span index (attribution's; an index without one attributes nothing and
        says why).

        Raises:
            membership.sketch.SketchMissing: the index was built without a membership sketch.
            membership.bloom.BloomFileError: the filter is truncated, foreign or of another config.
        """
        sketch = self.sketch_config
        if sketch is None:
            raise SketchMissing(f"{self.path} was built without the membership sketch "
                                "(--no-membership); rebuild it with `starscope index`")
        try:  # membership answers without it; attribution refuses, saying why
            spans, spans_error = open_spans(self.path, chunks=sketch.chunks), ""
        except (SpansMissing, ChunkSAFileError) as e:  # said without the path: APIs show it
            spans, spans_error = None, (
                "this index has no usable span index, which attribution needs "
                f"({'built by an older StarScope' if isinstance(e, SpansMissing) else 'its file cannot be read'}); "
                "rerun `starscope index` with all its shards, which logs them without storing them again "
                "(membership tests work meanwhile)")
        return MembershipIndex(self.store, open_bloom(self.path, chunks=sketch.chunks), spans=spans,
                               texts=open_span_text(self.path, spans) if spans is not None else None,
                               spans_error=spans_error, chunks=sketch.chunks, minhash=sketch.minhash, config=config,
                               sketch=read_meta(self.path), pending_optouts=self.ledger.pending)
