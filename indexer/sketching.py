"""What every store's write session computes per content for membership: the chunk hashes
(for the Bloom filter and the store's chunk terms) and the MinHash signatures (for the band
keys and near-duplicate ranking). Both stores' sessions inherit it."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from membership.chunks import distinct, document_chunk_hashes

from .store import StoredDocument


class SketchingSession:
    """Needs ``self._store`` (with ``chunks`` and ``_hasher()``), ``self.sign_workers`` and
    ``self._chunk_hashes`` (a list)."""

    def drain_chunk_hashes(self) -> np.ndarray:
        """The distinct chunk hashes of every content added since the last drain, whether it
        was new, merged or already stored (a resumed build logs a shard's hashes again)."""
        out = distinct(np.concatenate(self._chunk_hashes)) if self._chunk_hashes else np.zeros(0, np.uint64)
        self._chunk_hashes = []
        return out

    def _hashes(self, contents: list[str]) -> list[np.ndarray]:
        if self._store.chunks is None:  # built without the membership sketch
            return [np.zeros(0, np.uint64)] * len(contents)
        return document_chunk_hashes(contents, self._store.chunks)

    def _signatures(self, records: Sequence[StoredDocument]) -> list[tuple]:
        """(plain, abstracted) MinHash signatures per record; None where too few tokens, or
        both None in a store without signatures."""
        hasher = self._store._hasher()
        if hasher is None or not records:
            return [(None, None)] * len(records)
        texts = [r.content for r in records]
        plain = hasher.sign_texts(texts, workers=self.sign_workers)
        abstracted = hasher.sign_texts(texts, abstracted=True, langs=[r.lang for r in records],
                                       paths=[r.primary.path for r in records], workers=self.sign_workers)
        return list(zip(plain, abstracted))
