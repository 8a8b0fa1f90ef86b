"""Choose a store backend by its config key."""

from __future__ import annotations

from pathlib import Path

BACKENDS = ("tantivy",)


def open_store(index_dir: str | Path, *, backend: str = "tantivy", create: bool = False):
    """Open (or with ``create`` make) the store of an index directory."""
    if backend == "tantivy":
        from .tantivy_store import TantivyStore

        return TantivyStore(index_dir, create=create)
    raise ValueError(f"unknown store backend {backend!r}; choose one of {', '.join(BACKENDS)}")
