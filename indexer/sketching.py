"""The build's sketching step: what membership keeps of each content, computed once per batch,
before the store sees it.

For every content of a batch, new, merged or already stored, the step computes its chunk hashes
at once (:meth:`SketchStep.batch`): the store indexes their keys, and the step keeps the shard's
hashes for the chunk-hash log and, with each chunk's raw offset and every source, its chunk
sequences for the sequence log (:meth:`SketchStep.take_shard`; :mod:`membership.sequences`; a
resumed build logs a shard again). MinHash signatures and their band keys are computed only for the records a
store session actually writes (:meth:`SketchedBatch.signatures`), so a resumed shard does not
sign its unchanged contents again. A store session that is given no batch (tests, the rewrites
of an opt-out) sketches through a step of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from membership.chunks import distinct
from membership.sequences import SequenceRecorder, ShardSequences
from membership.sketch import NO_SIGNATURES, Signatures, SketchConfig, Sketcher


@dataclass(frozen=True)
class SketchedBatch:
    """One batch's chunk hashes by content sha; its signatures on demand."""

    hashes: dict[str, np.ndarray]
    step: "SketchStep"

    def signatures(self, records: Sequence) -> list[Signatures]:
        """The signatures of the records a session writes (see :meth:`SketchStep.sign`)."""
        return self.step.sign(records)


class SketchStep:
    """Sketches batches with ``sketcher`` (None: a search-only index, nothing to sketch) and
    keeps the chunk hashes of the shard being indexed; ``workers`` processes sign."""

    def __init__(self, sketcher: Sketcher | None, *, workers: int = 1):
        self.sketcher = sketcher
        self.workers = workers
        self._recorder = SequenceRecorder(sketcher.config.chunks) if sketcher is not None else None

    @classmethod
    def of(cls, config: SketchConfig | None, *, workers: int = 1) -> "SketchStep":
        """The step of a store's sketch config (:meth:`indexer.store.Store.sketch_config`)."""
        return cls(Sketcher(config) if config is not None else None, workers=workers)

    def batch(self, contents: Iterable, *, logged: bool = True) -> SketchedBatch:
        """The chunk hashes of each distinct content of ``contents``; ``logged``: the build's
        documents (each with ``sha``, ``content``, ``id``, ``repo``, ``path`` and ``stars``), kept
        for :meth:`take_shard` too; else anything with a ``sha`` and its ``content`` (stored
        records rewritten by a session)."""
        contents = list(contents)
        if self.sketcher is None:
            return SketchedBatch({c.sha: np.zeros(0, np.uint64) for c in contents}, self)
        if logged:
            return SketchedBatch(self._recorder.add(contents), self)
        by_sha: dict[str, str] = {}
        for c in contents:
            by_sha.setdefault(c.sha, c.content)
        return SketchedBatch(dict(zip(by_sha, self.sketcher.chunk_hashes(list(by_sha.values())))), self)

    def sign(self, records: Sequence) -> list[Signatures]:
        """The signatures of stored records (anything with ``content``, ``lang`` and a
        ``primary`` source's ``path``); none in a search-only index."""
        if self.sketcher is None:
            return [NO_SIGNATURES] * len(records)
        return self.sketcher.sign([(r.content, r.lang, r.primary.path) for r in records], workers=self.workers)

    def take_shard(self) -> tuple[np.ndarray, ShardSequences]:
        """The distinct chunk hashes logged since the last call (one shard's: what the build
        writes to the chunk-hash log) and the shard's chunk sequences (the sequence log's)."""
        if self._recorder is None:
            return np.zeros(0, np.uint64), ShardSequences.empty()
        shard = self._recorder.take()
        return (distinct(np.concatenate(shard.hashes)) if shard.hashes else np.zeros(0, np.uint64)), shard
