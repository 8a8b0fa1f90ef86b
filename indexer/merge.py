"""``starscope merge``: one servable index directory from several indexers' work directories.

Indexers over disjoint shard sets (processes or machines) all write one Elasticsearch index,
each with its own work directory holding its shard markers, chunk-hash and sequence logs. Merging
copies the markers and logs into one directory, points it at the shared index, builds the Bloom
filter and the span index from every shard's logs (bit for bit what one indexer over all shards
would have built) and writes the manifest. API nodes then serve that directory (or a copy of
it). Merging again after more shards were indexed adds them; a shard two parts both finished is
taken once.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import fields
from pathlib import Path

from .build import BuildConfig, finish_membership, refresh_manifest
from .es_config import ElasticsearchConfig, pointer_path
from .index_dir import IndexDir
from .manifest import ManifestError
from .stores import open_store


class MergeError(ManifestError):
    pass


def _build_config(manifest: dict) -> BuildConfig:
    build = dict(manifest["configs"]["build"])
    es = build.pop("es", None)
    known = {f.name for f in fields(BuildConfig)}
    es_known = {f.name for f in fields(ElasticsearchConfig)}
    return BuildConfig(**{k: v for k, v in build.items() if k in known},
                       es=ElasticsearchConfig(**{k: v for k, v in es.items() if k in es_known}) if es else None)


def _copy(src: Path, dst: Path) -> None:
    """Copy atomically (a reader of ``dst`` never sees half a file)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def merge_indexes(out_dir: str | Path, parts: list[str | Path]) -> dict:
    """Merge the work directories ``parts`` into ``out_dir``; returns the new manifest.

    Raises:
        MergeError: a part is not an index, is not Elasticsearch-backed, or was built with
            another store index, store format or Bloom filter rate than the others.
    """
    out = Path(out_dir)
    if not parts:
        raise MergeError("name at least one work directory to merge")
    dirs = [IndexDir(p) for p in parts]
    manifests = [(d.path, d.manifest) for d in dirs]
    first_dir, first = manifests[0]
    for path, m in manifests:
        if m["store"]["backend"] != "elasticsearch":
            raise MergeError(f"{path} has a {m['store']['backend']} store, which only its own directory "
                             "serves; merging needs indexers that share one Elasticsearch index")
        for what, a, b in (("Elasticsearch index", m["store"].get("elasticsearch"), first["store"].get("elasticsearch")),
                           ("store format", m["configs"]["store"], first["configs"]["store"]),
                           ("Bloom filter rate", m["configs"]["build"]["bloom_fpr"],
                            first["configs"]["build"]["bloom_fpr"])):
            if a != b:
                raise MergeError(f"{path} and {first_dir} differ in their {what} ({a} vs {b}); "
                                 "only work directories of one build can be merged")
    out.mkdir(parents=True, exist_ok=True)
    target = IndexDir(out)
    if (out / "manifest.json").exists():
        prev = target.manifest
        if prev["store"].get("elasticsearch") != first["store"].get("elasticsearch"):
            raise MergeError(f"{out} serves another index ({prev['store'].get('elasticsearch')}); "
                             "merge into a new directory")
    _copy(pointer_path(first_dir), pointer_path(out))
    log, chunk_log = target.shard_log, target.chunk_log
    for part in dirs:
        for key in part.shard_log.done():
            if log.is_done(key):
                continue
            if first["configs"]["membership"] is not None:
                _copy(part.chunk_log.path(key), chunk_log.path(key))
                if part.sequence_log.path(key).exists():  # else: no span index, said in spans.json
                    _copy(part.sequence_log.path(key), target.sequence_log.path(key))
            _copy(part.shard_log.dir / f"{key}.done.json", log.dir / f"{key}.done.json")
    config = _build_config(first)
    store = open_store(out, backend="elasticsearch")
    sketch = finish_membership(IndexDir(out, store=store), fpr=config.bloom_fpr) if config.membership else None
    return refresh_manifest(out, config=config, store=store, log=log, sketch=sketch)
