"""What membership needs from a store, declared here, where it is used: the stores above
(:mod:`indexer.store`) implement it, and membership imports nothing of theirs.

A store holds each unique content once (:class:`StoredContent`, keyed by its git blob sha) with
every place it was found (:class:`StoredSource`). Membership asks it for contents by sha (the
sources attribution shows, found by :mod:`membership.sequences`' span index), and two things more:

* **by chunk hash**: how many contents hold each chunk, and which ones (exact membership,
  attribution, the opt-out filter rebuild). Chunk hashes cross as integers (``uint64`` arrays,
  :func:`membership.chunks.chunk_hashes`); how a store keys them is its own business, so a store
  may propose a content that shares only a key with a hash, never miss one that holds it;
* **by LSH band key**: the contents sharing a band with a text, with their stored MinHash
  signatures (near-duplicates). Band keys are opaque strings that membership makes
  (:meth:`membership.minhash.MinHasher.band_keys`) and the store keeps verbatim.

Lookups of several hashes or keys rank the contents holding more (and rarer) of them first, so
a capped lookup keeps the best candidates; the ``count_`` methods say how many a cap left out.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class StoredSource(Protocol):
    """One place a content was found."""

    @property
    def repo(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def licenses(self) -> tuple[str, ...]: ...
    @property
    def url(self) -> str | None: ...


class StoredContent(Protocol):
    """A unique content and every source it was found at."""

    @property
    def sha(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def lang(self) -> str: ...
    @property
    def sources(self) -> tuple[StoredSource, ...]: ...
    @property
    def primary(self) -> StoredSource:
        """The most-starred source."""
    @property
    def stars(self) -> int: ...
    @property
    def licenses(self) -> tuple[str, ...]: ...


class ContentStore(Protocol):
    """Lookups by sha, by chunk hash (integers) and by band key: what membership needs from a store."""

    def contents(self, shas: Sequence[str]) -> dict[str, StoredContent]:
        """The stored contents of ``shas`` that the store holds, by sha (a removed one is
        missing): attribution fetches the sources it shows, and the span index's text
        (:mod:`membership.span_text`) is written from every content."""

    def chunk_doc_counts(self, hashes: np.ndarray) -> np.ndarray:
        """How many stored contents hold each of ``hashes`` (``uint64``), aligned with them: by
        the store's key, so a count is never below the true one (a content sharing only the key,
        or one deleted but not yet merged away, may count too)."""
    def contents_with_chunks(self, hashes: np.ndarray, *, limit: int) -> list[StoredContent]:
        """Up to ``limit`` contents holding any of ``hashes``, those holding more (and rarer)
        first."""
    def count_contents_with_chunks(self, hashes: np.ndarray) -> int:
        """How many live contents hold any of ``hashes`` (what a ``limit`` left out is the
        difference)."""
    def signed_contents_with_bands(self, keys: Sequence[str], *, limit: int
                                   ) -> list[tuple[StoredContent, np.ndarray | None, np.ndarray | None]]:
        """Up to ``limit`` contents holding any of the band ``keys``, more first, each with its
        plain and abstracted MinHash signatures (None where it had too few tokens)."""
    def count_contents_with_bands(self, keys: Sequence[str]) -> int:
        """How many live contents hold any of the band ``keys``."""
