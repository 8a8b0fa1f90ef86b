"""Per-shard completion markers: ``<index>/shards/<key>.done.json``.

A shard is done only when its marker exists; the marker holds the shard's stats as mergeable
JSON, written atomically after the store committed the shard's documents.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

SHARDS_DIR = "shards"
FORMAT_VERSION = 1


def shard_key(path: Path) -> str:
    """Stable name for one input file: its name plus a digest of its location, size and mtime,
    so a changed file is indexed again (idempotently) while an unchanged one is skipped."""
    st = path.stat()
    digest = hashlib.sha1(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in path.name)[:80]
    return f"{stem}-{digest}"


class ShardLog:
    """Reads and writes the completion markers of one index directory."""

    def __init__(self, index_dir: str | Path):
        self.dir = Path(index_dir) / SHARDS_DIR

    def _marker(self, key: str) -> Path:
        return self.dir / f"{key}.done.json"

    def is_done(self, key: str) -> bool:
        return self._marker(key).exists()

    def mark_done(self, key: str, *, source: Path, stats: Counter) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{key}.tmp"
        tmp.write_text(json.dumps({"version": FORMAT_VERSION, "key": key, "source": str(source),
                                   "stats": dict(sorted(stats.items()))}, indent=1))
        os.replace(tmp, self._marker(key))

    def done(self) -> dict[str, dict]:
        """Every completed shard's marker, by key."""
        if not self.dir.exists():
            return {}
        out = {}
        for p in sorted(self.dir.glob("*.done.json")):
            rec = json.loads(p.read_text())
            if rec.get("version") != FORMAT_VERSION:
                raise RuntimeError(f"{p}: marker version {rec.get('version')} is not {FORMAT_VERSION}")
            out[rec["key"]] = rec
        return out

    def merged_stats(self) -> Counter:
        total: Counter = Counter()
        for rec in self.done().values():
            total.update(rec["stats"])
        return total

    def verify(self) -> int:
        """Re-read every marker; returns how many there are."""
        return len(self.done())
