"""``/api/health``: is the index served, how big is it, and which corpus build is it."""

from __future__ import annotations

from flask import Blueprint

from .app import served_index

bp = Blueprint("health", __name__)


def index_summary(manifest: dict) -> dict:
    """What the manifest says about the build: counts, corpus fingerprint, when, which backend."""
    return {"backend": manifest.get("store", {}).get("backend"),
            "counts": manifest.get("counts", {}),
            "corpus_fingerprint": manifest.get("corpus_fingerprint"),
            "updated": manifest.get("updated")}


@bp.get("/api/health")
def health():
    """``documents`` is the store's live count (it drops after an opt-out); ``index`` is the
    manifest as of the last build."""
    index = served_index()
    return {"status": "ok", "documents": index.store.stats().documents,
            "index": index_summary(index.manifest)}
