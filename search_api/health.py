"""``/api/health``, ``/api/stats`` and ``/openapi.json``: is the index served, what is in it,
and what the API offers."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint, current_app

from . import models
from .app import EXTENSION, served_index
from .openapi import openapi_document, operation

bp = Blueprint("health", __name__)


def index_summary(manifest: dict) -> dict:
    """What the manifest says about the build: counts, corpus fingerprint, when, which backend."""
    return {"backend": manifest.get("store", {}).get("backend"),
            "counts": manifest.get("counts", {}),
            "corpus_fingerprint": manifest.get("corpus_fingerprint"),
            "updated": manifest.get("updated")}


@operation(bp, "/api/health", summary="Is the index served?", response=models.HealthResponse)
def health():
    """``documents`` is the store's live count (it drops after an opt-out); ``index`` is the
    manifest as of the last build; ``index_dir`` the directory served (where the served link
    pointed when this worker last followed it), ``switched_at`` when it did, and
    ``switch_error`` why the directory the link points at now could not be opened (the old one
    is served meanwhile)."""
    index = served_index()
    live = current_app.extensions[EXTENSION]
    return {"status": "ok", "documents": index.store.stats().documents,
            "index": index_summary(index.manifest), "index_dir": str(index.path),
            "switched_at": live.switched_at, "switch_error": live.switch_error}


@operation(bp, "/api/stats", summary="What the index holds", response=models.StatsResponse)
def stats():
    """The store's live counts (documents, sources, bytes, per language), the build's manifest,
    the store's format, the Bloom filter (size and configured, theoretical and measured
    false-positive rates) and the generation model (null when the server has none)."""
    index = served_index()
    live = index.store.stats().to_json()
    sketch = index.manifest.get("configs", {}).get("membership")
    gen = index.generator
    model = None if gen is None else gen.describe()
    return {**live, "index": index_summary(index.manifest), "store": index.store.describe(),
            "membership": sketch, "model": model}


def _version() -> str:
    try:
        return version("starscope")
    except PackageNotFoundError:
        return "0"


def _example_sha(store) -> str | None:
    """The id of some stored document (the most-documented repository's first)."""
    top = store.repos("", limit=1)
    docs = store.docs_with_terms("repo", [top[0][0]], limit=1) if top else []
    return docs[0].sha if docs else None


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API."""
    sha = _example_sha(served_index().store)
    return openapi_document(title="StarScope", version=_version(), examples={"sha": sha} if sha else {},
                            description=(
        "Search, membership test and attribution over a code LLM's pretraining data. Every "
        "error is JSON: {\"error\": {\"code\", \"message\", \"details\"?}}."))
