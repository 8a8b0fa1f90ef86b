"""The description every store records beside its documents, and its checks.

A store's meta is its fixed format (backend-specific: version, analysis) plus the membership
sketch it was built with (a :class:`membership.sketch.SketchConfig`): ``chunks`` (a
:class:`membership.chunks.ChunkConfig`) and ``minhash`` (a :class:`membership.minhash.MinHashConfig`),
both null in a search-only store. The tantivy store keeps it in ``starscope-store.json``, the
Elasticsearch store in its mapping's ``_meta``; both refuse to open one that this version cannot
read, and refuse to resume a build with another sketch than the stored one.
"""

from __future__ import annotations

from membership.chunks import ChunkConfig
from membership.minhash import MinHashConfig
from membership.sketch import SketchConfig

from .store import StoreFormatError


def sketch_meta(sketch: bool = True, minhash=None) -> dict:
    """The sketch part of a new store's meta (``minhash``: default config if None)."""
    if not sketch:
        return {"chunks": None, "minhash": None}
    return SketchConfig(minhash=minhash or MinHashConfig()).to_json()


def check_meta(meta: dict, fixed: dict, where: str) -> dict:
    """``meta`` if it has exactly the ``fixed`` format and a usable sketch, else a
    :class:`StoreFormatError` naming the fields that differ."""
    meta = dict(meta or {})
    sketch_ok = (meta.get("chunks") == ChunkConfig().to_json() and meta.get("minhash")) or (
        meta.get("chunks") is None and meta.get("minhash") is None)
    expected = set(fixed) | {"chunks", "minhash"}
    if any(meta.get(k) != v for k, v in fixed.items()) or not sketch_ok or set(meta) != expected:
        diff = {k: (meta.get(k), fixed.get(k)) for k in sorted(expected | set(meta))
                if k in fixed and meta.get(k) != fixed[k] or k not in expected}
        if not sketch_ok:  # both set (this chunking, a MinHash config) or both null
            diff["sketch"] = ({"chunks": meta.get("chunks"), "minhash": meta.get("minhash")},
                              {"chunks": ChunkConfig().to_json(), "minhash": "a MinHash config"})
        raise StoreFormatError(f"{where} was written with another store format (stored vs this "
                               f"version: {diff}); full stored format: {meta}. Rebuild the index "
                               "with `starscope index`.")
    if meta["minhash"]:
        try:
            MinHashConfig.from_json(meta["minhash"])
        except (TypeError, ValueError) as e:
            raise StoreFormatError(f"{where}: unusable MinHash config {meta['minhash']}: {e}; "
                                   "rebuild the index with `starscope index`") from None
    return meta


def check_resume(meta: dict, wanted: dict, where: str, *, sketch: bool) -> None:
    """Refuse to add to a store built with another sketch than the one requested."""
    if (meta["chunks"] is not None) != sketch:
        raise StoreFormatError(
            f"{where} was built {'with' if meta['chunks'] else 'without'} the membership "
            f"sketch; build {'without' if meta['chunks'] else 'with'} it into a new directory")
    if sketch and meta["minhash"] != wanted["minhash"]:
        diff = {k: (meta["minhash"].get(k), v) for k, v in wanted["minhash"].items()
                if meta["minhash"].get(k) != v}
        raise StoreFormatError(
            f"{where} was built with another MinHash config (stored vs requested: "
            f"{diff}); build into a new directory, or resume with the stored config")


def sketch_config(meta: dict) -> SketchConfig | None:
    """The membership sketch a store's (checked) meta records; None for a search-only store."""
    return SketchConfig.from_json(meta)
