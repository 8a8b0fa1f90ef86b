"""What every store's write session computes per content for membership: the chunk hashes
(for the Bloom filter and the store's chunk terms) and the MinHash signatures (for the band
keys and near-duplicate ranking). Both stores' sessions inherit it."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from membership.chunks import distinct, document_chunk_hashes
from membership.minhash import MinHasher

from .store import StoredDocument


class SketchingSession:
    """Needs ``self._store`` (a :class:`indexer.store.Store`), ``self.sign_workers``,
    ``self._chunk_hashes`` (a list) and ``self._minhasher`` (None until first needed)."""

    def drain_chunk_hashes(self) -> np.ndarray:
        """The distinct chunk hashes of every content added since the last drain, whether it
        was new, merged or already stored (a resumed build logs a shard's hashes again)."""
        out = distinct(np.concatenate(self._chunk_hashes)) if self._chunk_hashes else np.zeros(0, np.uint64)
        self._chunk_hashes = []
        return out

    def _hashes(self, contents: list[str]) -> list[np.ndarray]:
        sketch = self._store.sketch_config()
        if sketch is None:  # built without the membership sketch
            return [np.zeros(0, np.uint64)] * len(contents)
        return document_chunk_hashes(contents, sketch.chunks)

    def _signatures(self, records: Sequence[StoredDocument]) -> list[tuple]:
        """(plain, abstracted) MinHash signatures per record; None where too few tokens, or
        both None in a store without signatures."""
        sketch = self._store.sketch_config()
        if sketch is None or not records:
            return [(None, None)] * len(records)
        if self._minhasher is None:
            self._minhasher = MinHasher(sketch.minhash)
        texts = [r.content for r in records]
        plain = self._minhasher.sign_texts(texts, workers=self.sign_workers)
        abstracted = self._minhasher.sign_texts(texts, abstracted=True, langs=[r.lang for r in records],
                                                paths=[r.primary.path for r in records],
                                                workers=self.sign_workers)
        return list(zip(plain, abstracted))
