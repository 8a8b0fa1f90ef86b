"""How a search or a term lookup is planned, once for every store.

What here is true of both stores (the tantivy directory and the Elasticsearch index): how a
chunk hash becomes the key a store indexes, which fields take exact terms, how many terms a
lookup ranks, and the score of a camel-word match.
"""

from __future__ import annotations

import numpy as np

# A chunk hash is indexed by its high 32 bits: half the size of whole 64-bit terms. The store
# only proposes candidates, which attribution verifies, so a rare key collision (about one
# lookup in 1,300 for 3.3M chunks) costs a verification, never a wrong answer.
CHUNK_KEY_BITS = 32
# Up to this many terms, docs_with_terms ranks by BM25 (more and rarer terms first); beyond,
# one unranked term-set query.
RANKED_TERMS = 1024
# The score of a match through a camel word alone (BM25 of a whole-word match is typically 2-15).
CAMEL_SCORE = 1.0
# Exact-match term fields; values are lowercased except the hash-like ``sha``/``chunk``/``band``.
TERM_FIELDS = ("sha", "repo", "owner", "path", "license", "lang", "chunk", "band")
# Verified rankings of literal queries kept per store; each is a list of (rank, count, key).
VERIFIED_CACHE_SIZE = 32


def chunk_keys(hashes: np.ndarray) -> np.ndarray:
    """The keys a store indexes for 64-bit chunk hashes (``uint64``): their high
    :data:`CHUNK_KEY_BITS` bits."""
    return hashes >> np.uint64(64 - CHUNK_KEY_BITS)


def chunk_key(term: str) -> int:
    """The key of a chunk hash given as a term (16 hex digits), as :func:`chunk_keys` makes it."""
    try:
        return int(term, 16) >> (64 - CHUNK_KEY_BITS)
    except ValueError:
        raise ValueError(f"chunk terms are 16 hex digits, got {term!r}") from None
