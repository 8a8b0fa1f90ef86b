"""Near-duplicates and renamed copies: MinHash LSH over the store's band terms.

Verbatim spans miss code that was reformatted, lightly edited or had its variables renamed.
Each stored document carries two MinHash signatures (see :mod:`membership.minhash`): one over
its tokens (``plain``) and one over its pygments token stream with identifiers and literals
abstracted away (``abstracted``), and the LSH band keys of both as exact-match terms. A query:

    text -> signatures (plain, abstracted) -> band keys -> one term lookup in the store
         -> candidates with their stored signatures -> estimated Jaccard (re-rank)
         -> exact shingle Jaccard for the top ones -> NearDuplicate rows

A candidate is a ``near-duplicate`` when its plain signature is close enough, else a
``renamed copy`` when only the abstracted one is (``def add(a, b): return a + b`` and
``def plus(x, y): return x + y``). Why band terms in the store and not datasketch's in-RAM
``MinHashLSH``: its memory grows with the corpus (users report 31 GB for 6 GB of signatures),
while terms live on disk with the rest of the index and need one lookup per query.

Note:
    With ``b`` bands of ``r`` rows, a pair of Jaccard similarity ``s`` shares at least one
    band with probability ``1 - (1 - s^r)^b``: for 25 × 10 and ``s`` = 0.5, 0.6, 0.7, 0.8
    that is 2.4%, 14.1%, 51.1%, 94.2% (the S-curve; BigCode's threshold 0.7 sits on its slope).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .licenses import overall_family
from .lexers import abstract_tokens
from .minhash import MinHashConfig, MinHasher, jaccard, tokens
from .store import ContentStore, StoredContent

PLAIN, ABSTRACTED = "plain", "abstracted"


@dataclass(frozen=True)
class NearDuplicate:
    sha: str
    repo: str
    path: str
    licenses: tuple[str, ...]
    lang: str
    stars: int
    url: str | None
    documents: int  # sources holding this exact content
    signature: str  # "plain" (near-duplicate) or "abstracted" (renamed copy)
    estimated_jaccard: float  # from the signatures, for the signature that matched
    jaccard: float  # exact, over the shingles of that token stream
    estimated_plain: float | None
    estimated_abstracted: float | None

    @property
    def kind(self) -> str:
        return "near-duplicate" if self.signature == PLAIN else "renamed copy"

    def to_json(self) -> dict:
        return {"id": self.sha, "repo": self.repo, "path": self.path, "licenses": list(self.licenses),
                "license_family": overall_family(self.licenses), "lang": self.lang,
                "stars": self.stars, "url": self.url, "documents": self.documents,
                "signature": self.signature, "kind": self.kind,
                "estimated_jaccard": round(self.estimated_jaccard, 4), "jaccard": round(self.jaccard, 4),
                "estimated_plain": self.estimated_plain, "estimated_abstracted": self.estimated_abstracted}


@dataclass(frozen=True)
class NearDuplicates:
    """The answer of :meth:`NearDuplicateFinder.find`; ``reason`` says why nothing could be
    computed (too few tokens) instead of a bogus score.

    Note:
        At most ``max_candidates`` documents sharing a band with the text are scored, those
        sharing the most bands first. When more share one (``candidates_available``, counted
        by the store), the answer is ``truncated``: a document left out might have scored
        higher than some reported.
    """

    near_duplicates: tuple[NearDuplicate, ...]
    candidates: int  # documents scored
    lexer: str | None
    reason: str | None = None
    max_candidates: int = 0
    candidates_available: int = 0  # documents sharing a band with the text (exact)

    @property
    def truncated(self) -> bool:
        return self.candidates_available > self.candidates

    def to_json(self) -> dict:
        return {"near_duplicates": [n.to_json() for n in self.near_duplicates],
                "candidates": self.candidates, "lexer": self.lexer, "reason": self.reason,
                "truncated": self.truncated,
                "limits": {"max_candidates": self.max_candidates,
                           "candidates_available": self.candidates_available}}


class NearDuplicateFinder:
    """Queries a store's band terms with a text's signatures."""

    def __init__(self, store: ContentStore, config: MinHashConfig, *, max_candidates: int = 200,
                 min_jaccard: float = 0.5, limit: int = 10):
        self.store, self.config = store, config
        self.hasher = MinHasher(config)
        self.max_candidates, self.min_jaccard, self.limit = max_candidates, min_jaccard, limit

    def find(self, text: str, *, lang: str | None = None, path: str | None = None,
             min_jaccard: float | None = None, limit: int | None = None) -> NearDuplicates:
        min_jaccard = self.min_jaccard if min_jaccard is None else min_jaccard
        limit = self.limit if limit is None else limit
        k = self.config.shingle
        # The very shingles the build signed: same tokenizer, same bounds.
        _, lexer = abstract_tokens(text[:2000], lang=lang, path=path, max_tokens=1)
        shingles = {PLAIN: self.hasher.shingles(text),
                    ABSTRACTED: self.hasher.shingles(text, abstracted=True, lang=lang, path=path)}
        sigs = {kind: self.hasher.sign(sh) for kind, sh in shingles.items()}
        if sigs[PLAIN] is None and sigs[ABSTRACTED] is None:
            return NearDuplicates((), 0, lexer, reason=(
                f"the text has {len(tokens(text))} tokens; near-duplicate signatures need at least {k}"),
                max_candidates=self.max_candidates)
        keys = []
        for kind, prefix in ((PLAIN, "p"), (ABSTRACTED, "a")):
            if sigs[kind] is not None:
                keys += self.hasher.band_keys(sigs[kind], kind=prefix)
        candidates = self.store.signed_contents_with_bands(keys, limit=self.max_candidates)
        # At the cap, the store counts what it left out: the answer says so instead of guessing.
        available = (self.store.count_contents_with_bands(keys)
                     if len(candidates) >= self.max_candidates else len(candidates))
        scored = []
        for doc, plain_sig, abstract_sig in candidates:
            est = {PLAIN: _estimate(sigs[PLAIN], plain_sig), ABSTRACTED: _estimate(sigs[ABSTRACTED], abstract_sig)}
            best = PLAIN if (est[PLAIN] or 0) >= min_jaccard else ABSTRACTED
            if (est[best] or 0) >= min_jaccard:
                scored.append((est[best], best, doc, est))
        # Ranked by the better of the two estimates: a reformatted copy's abstracted stream is
        # closer to its original than a sibling file's, even where its plain estimate is not.
        scored.sort(key=lambda s: (-max(v or 0 for v in s[3].values()), s[1] != PLAIN,
                                   -s[2].stars, s[2].sha))
        rows = []
        for estimate, kind, doc, est in scored[:limit]:
            rows.append(self._row(doc, kind, estimate, est, shingles[kind], lang))
        return NearDuplicates(tuple(rows), len(candidates), lexer, max_candidates=self.max_candidates,
                              candidates_available=max(available, len(candidates)))

    def _row(self, doc: StoredContent, kind: str, estimate: float, est: dict, query_shingles: set,
             lang: str | None) -> NearDuplicate:
        theirs = self.hasher.shingles(doc.content, abstracted=kind == ABSTRACTED,
                                      lang=doc.lang or lang, path=doc.primary.path)
        exact = jaccard(query_shingles, theirs)
        primary = doc.primary
        return NearDuplicate(sha=doc.sha, repo=primary.repo, path=primary.path, licenses=doc.licenses,
                             lang=doc.lang, stars=doc.stars, url=primary.url, documents=len(doc.sources),
                             signature=kind, estimated_jaccard=estimate, jaccard=exact,
                             estimated_plain=_round(est[PLAIN]), estimated_abstracted=_round(est[ABSTRACTED]))


def _estimate(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None or len(a) != len(b):
        return None
    return float(np.mean(a == b))


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
