"""A fixed sample of an index's own corpus, for training the demo model on it.

The index's completion markers name the shards it was built from; the sample reads them again,
in order, so the same index, size and seed give the same texts on any machine.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from indexer.corpus.shards import iter_documents
from indexer.shard_log import ShardLog


def index_sample(index_dir: str | Path, limit_bytes: int, seed: int) -> list[str]:
    """A deterministic sample of the index's documents: its shards (as its markers name them)
    read in order, each document kept with a fixed probability until ``limit_bytes``."""
    markers = ShardLog(index_dir).done()
    if not markers:
        raise ValueError(f"{index_dir} has no finished shards to train on; build it with `starscope index`")
    rng = random.Random(seed)
    texts, total, seen = [], 0, set()
    for rec in sorted(markers.values(), key=lambda r: r["key"]):
        source = Path(rec["source"])
        if not source.exists():
            raise FileNotFoundError(f"shard {source} (named in {index_dir}'s markers) is gone; the demo model "
                                    "trains on the index's own shards")
        for doc in iter_documents(source, stats=Counter()):
            if doc.sha in seen or not doc.content.strip() or rng.random() > 0.5:
                continue
            seen.add(doc.sha)
            texts.append(doc.content)
            total += len(doc.content.encode("utf-8", "surrogatepass"))
            if total >= limit_bytes:
                return texts
    return texts
