"""``<index>/manifest.json``: what an index directory holds and how it was built."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


class ManifestError(RuntimeError):
    pass


def corpus_fingerprint(shard_keys) -> str:
    """Digest of the completed shards' keys (name, location, size, mtime of each input)."""
    h = hashlib.sha256()
    for key in sorted(shard_keys):
        h.update(key.encode() + b"\n")
    return h.hexdigest()


def write_manifest(index_dir: str | Path, *, configs: dict, shards: list[str], counts: dict,
                   store: dict) -> dict:
    """Write the manifest atomically and return it."""
    manifest = {
        "format": "starscope-index", "version": FORMAT_VERSION,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "configs": configs, "corpus_fingerprint": corpus_fingerprint(shards),
        "shards": sorted(shards), "counts": counts, "store": store,
    }
    path = Path(index_dir) / MANIFEST_FILE
    tmp = path.with_name(f".{MANIFEST_FILE}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return manifest


def read_manifest(index_dir: str | Path) -> dict:
    """Read and check the manifest; a clear error for a directory that is not an index."""
    path = Path(index_dir) / MANIFEST_FILE
    if not path.exists():
        raise ManifestError(f"{index_dir} is not a StarScope index (no {MANIFEST_FILE}); "
                            "build one with `starscope index SHARDS --out DIR`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path} is not valid JSON: {e}") from e
    if manifest.get("format") != "starscope-index" or manifest.get("version") != FORMAT_VERSION:
        raise ManifestError(f"{path}: format {manifest.get('format')} v{manifest.get('version')} is not "
                            f"starscope-index v{FORMAT_VERSION}; rebuild the index")
    return manifest


def verify(index_dir: str | Path) -> dict:
    return read_manifest(index_dir)
