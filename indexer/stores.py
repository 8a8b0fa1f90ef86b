"""Choose a store backend by its config key."""

from __future__ import annotations

from pathlib import Path

from .manifest import read_manifest

BACKENDS = ("tantivy", "elasticsearch")


def open_store(index_dir: str | Path, *, backend: str = "tantivy", create: bool = False,
               sketch: bool = True, minhash=None, es=None):
    """Open (or with ``create`` make) the store of an index directory; ``sketch``: whether a
    new store keeps chunk hashes and MinHash signatures (``minhash`` config) for membership,
    attribution and near-duplicates; ``es``: an :class:`indexer.es_config.ElasticsearchConfig`
    (default: the index directory's pointer, then the environment)."""
    # Each backend's client package is imported only when that backend is chosen.
    if backend == "tantivy":
        from .tantivy_store import TantivyStore

        return TantivyStore(index_dir, create=create, sketch=sketch, minhash=minhash)
    if backend == "elasticsearch":
        from .es_store import ElasticsearchStore

        return ElasticsearchStore(index_dir, config=es, create=create, sketch=sketch, minhash=minhash)
    raise ValueError(f"unknown store backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def open_index(index_dir: str | Path, *, es=None):
    """The store of an existing index directory, as its manifest describes it; ``es``
    overrides where an Elasticsearch-backed index is served from (another URL, say)."""
    manifest = read_manifest(index_dir)
    return open_store(index_dir, backend=manifest["store"]["backend"], es=es)
