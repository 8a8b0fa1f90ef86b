"""``/api/health``, ``/api/stats`` and ``/openapi.json``: is the index served, what is in it,
and what the API offers."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint, current_app

from . import models
from .openapi import openapi_document, operation
from .served import EXTENSION, served_index

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
    manifest as of the last build (its ``corpus_fingerprint`` tells which index a worker
    serves); ``switched_at`` is when this worker last followed the served link, and
    ``switch_error`` says when the directory the link points at now could not be opened (the
    old one is served meanwhile). ``membership_error`` says why membership is off on an index
    that has a sketch (its filter is of an older format). Which directories, and why, are the
    operator's: the server log and ``GET /api/admin/status`` say; a public answer never names a
    path."""
    index = served_index()
    live = current_app.extensions[EXTENSION]
    failure = live.switch_error
    outdated = index.filter_outdated_message
    return {"status": "ok", "documents": index.store.stats().documents,
            "membership_error": None if outdated is None else {"code": "filter_outdated", "message": outdated},
            "index": index_summary(index.manifest), "switched_at": live.switched_at,
            "switch_error": None if failure is None else {
                "at": failure["at"], "message": "the index the served link points at could not be opened; "
                                                "the previous one is served meanwhile (see the server log)"}}


@operation(bp, "/api/stats", summary="What the index holds", response=models.StatsResponse)
def stats():
    """The store's live counts (documents, sources, bytes, per language), the build's manifest,
    the store's format, the Bloom filter (size and configured, theoretical and measured
    false-positive rates) and the generation model (null when the server has none)."""
    index = served_index()
    live = index.store.stats().to_json()
    # the filter being served (a rebuilt one once the server restarts); else the build's record
    sketch = (index.membership.filter_record if index.membership is not None
              else index.manifest.get("configs", {}).get("membership"))
    gen = index.generator
    model = None if gen is None else gen.describe()
    return {**live, "index": index_summary(index.manifest), "store": public_config(index.store.describe()),
            "membership": public_config(sketch), "model": model}


# Configuration a public answer leaves out: the chunk-hash seed. No client needs it (membership
# and attribution hash on the server), and an index built with a seed of its own should not
# hand it to whoever probes the filter. The default seed is in the source, so this is tidiness,
# not a security boundary: FNV-1a is not a keyed hash.
PRIVATE_KEYS = frozenset({"seed"})


def public_config(config):
    """``config`` without the chunk hashing's :data:`PRIVATE_KEYS`, at any depth under ``chunks``
    (MinHash seeds stay: they name the public signature scheme, datasketch's or BigCode's)."""
    if not isinstance(config, dict):
        return config
    return {k: ({ck: cv for ck, cv in v.items() if ck not in PRIVATE_KEYS} if k == "chunks" and isinstance(v, dict)
                else public_config(v))
            for k, v in config.items()}


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
