"""How a search or a term lookup is planned and run, once for every store.

What here is true of both stores (the tantivy directory and the Elasticsearch index):

* how a chunk hash becomes the key a store indexes (:func:`chunk_keys`);
* the plan of a search (:func:`plan_search`): which index terms, phrases and patterns a query's
  keywords, literals and filters stand for, as a few plain nodes (:class:`Term`,
  :class:`Phrase`, :class:`ConstantTerms`, :class:`Regex`, :class:`AnyOf`), and the plan of a
  lookup by exact terms (:func:`plan_lookup`) or by chunk hashes (:func:`plan_chunk_lookup`):
  which fields take exact terms, which keys a hash is looked up by, and how many are ranked;
* the :class:`SearchPlanner` that runs a search around a store's :class:`SearchBackend`:
  verification of literals on the stored content, the cache of verified rankings, the camel
  vocabulary, the hits and their snippets.

A backend only translates the nodes into its own query language and reads what the planner
asks for.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Hashable, Iterable, NamedTuple, Protocol, Sequence, Union

import numpy as np

from .analysis import LONG_WORD_MARK, CamelVocabulary
from .query import Filters, Keyword, SearchQuery, literal_terms
from .snippets import line_snippets, match_ranges, verified_occurrences
from .store import Hit, Page, PageOutOfRange, SearchResult, StoredDocument

# A chunk hash is indexed by its high 32 bits: half the size of whole 64-bit terms. The store
# only proposes candidates, which attribution verifies, so a rare key collision (about one
# lookup in 1,300 for 3.3M chunks) costs a verification, never a wrong answer.
CHUNK_KEY_BITS = 32
# Up to this many terms (or chunk hashes), a lookup ranks by BM25 (more and rarer terms
# first); beyond, one unranked term-set query.
RANKED_TERMS = 1024
# The score of a match through a camel word alone (BM25 of a whole-word match is typically 2-15).
CAMEL_SCORE = 1.0
# Exact-match term fields; values are lowercased except the hash-like ``sha`` and ``band``.
TERM_FIELDS = ("sha", "repo", "owner", "path", "license", "lang", "band")
# The field of the chunk keys: looked up by chunk hash (:func:`plan_chunk_lookup`), never by term.
CHUNK = "chunk"
# Verified rankings of literal queries kept per store; each is a list of (rank, count, key).
VERIFIED_CACHE_SIZE = 32
# The fields a search plan names: the words and the camel words of the content (tantivy calls
# the words field ``content``), and the filter fields, which are term fields.
WORDS, CAMEL = "words", "camel"


def chunk_keys(hashes: np.ndarray) -> np.ndarray:
    """The keys a store indexes for 64-bit chunk hashes (``uint64``): their high
    :data:`CHUNK_KEY_BITS` bits."""
    return hashes >> np.uint64(64 - CHUNK_KEY_BITS)


# -- plans ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """Documents holding ``value`` in ``field``."""

    field: str
    value: str


@dataclass(frozen=True)
class Phrase:
    """Documents holding ``words`` in a row in ``field``."""

    field: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class ConstantTerms:
    """Documents holding any of ``values`` in ``field``, each scored ``score`` however many."""

    field: str
    values: tuple[str, ...]
    score: float


@dataclass(frozen=True)
class Regex:
    """Documents holding a term of ``field`` that ``pattern`` matches whole (the regular
    expressions both engines read alike: ``.*`` and literal word characters)."""

    field: str
    pattern: str


@dataclass(frozen=True)
class AnyOf:
    """Documents matching at least one of ``alternatives``, scored by the sum of those they match."""

    alternatives: tuple["Node", ...]


Node = Union[Term, Phrase, ConstantTerms, Regex, AnyOf]


@dataclass(frozen=True)
class Plan:
    """A search as index queries: a document matches every node of ``must`` (they score; none:
    every document matches) and every ``filters`` term (they do not score); ``order`` is None
    (by score) or ``"stars"`` (by stars, then score)."""

    must: tuple[Node, ...] = ()
    filters: tuple[Term, ...] = ()
    order: str | None = None


def plan_search(query: SearchQuery, sort: str = "score", vocabulary: CamelVocabulary | None = None) -> Plan:
    """The index queries that find every candidate of ``query``, sorted by ``sort``.

    ``vocabulary`` holds the index's camel words a keyword's pieces expand into (None: none).
    A literal's terms only propose candidates, which the planner verifies on the content.
    """
    must = [_keyword_node(kw, vocabulary) for kw in query.keywords]
    for literal in query.literals:
        must += _literal_nodes(literal)
    return Plan(must=tuple(must), filters=_filter_terms(query.filters),
                order="stars" if sort == "stars" else None)


def _words_node(words: Sequence[str]) -> Node:
    return Term(WORDS, words[0]) if len(words) == 1 else Phrase(WORDS, tuple(words))


def _keyword_node(kw: Keyword, vocabulary: CamelVocabulary | None) -> Node:
    """The keyword's words (a term, or a phrase for ``foo_bar``/``os.path``), its pieces as a
    phrase when they differ (``fooBar`` also finds ``foo_bar``), and every camel word holding
    its pieces in a row (``bar`` finds ``fooBar``), the last at a fixed score below a typical
    whole-word match."""
    alternatives = [_words_node(kw.words)]
    if kw.parts != kw.words:
        alternatives.append(_words_node(kw.parts))
    camel = vocabulary.containing(kw.parts) if vocabulary is not None else []
    if camel:
        alternatives.append(ConstantTerms(CAMEL, tuple(camel), CAMEL_SCORE))
    return alternatives[0] if len(alternatives) == 1 else AnyOf(tuple(alternatives))


def _literal_nodes(literal: str) -> list[Node]:
    """What a document holding ``literal`` must match: its whole inner words, or else each open
    edge as a pattern (none: every document is a candidate)."""
    terms = literal_terms(literal)
    if terms.exact:
        # Whole words already narrow the candidates; an open edge would cost a scan of the
        # whole term dictionary, and verification keeps the result exact without it.
        return [Term(WORDS, w) for w in terms.exact]
    edges = ([f".*{w}" for w in terms.suffixes] + [f"{w}.*" for w in terms.prefixes]
             + [f".*{w}.*" for w in terms.infixes])
    # A word over MAX_TERM_CHARS is not in the dictionary: documents holding one stay
    # candidates through their mark, so an edge inside such a word is still found.
    return [AnyOf((Regex(WORDS, e), Term(CAMEL, LONG_WORD_MARK))) for e in edges]


def _filter_terms(filters: Filters) -> tuple[Term, ...]:
    """The filters as terms, lowercased; ``repo`` names a repository (``owner/name``) or else
    an owner."""
    out = []
    if filters.lang:
        out.append(Term("lang", filters.lang.lower()))
    if filters.license:
        out.append(Term("license", filters.license.lower()))
    if filters.repo:
        field = "repo" if "/" in filters.repo else "owner"
        out.append(Term(field, filters.repo.lower().strip("/")))
    return tuple(out)


@dataclass(frozen=True)
class Lookup:
    """Documents holding any of ``terms`` in the term field ``field``: ranked by BM25 over the
    terms (more and rarer first) when :attr:`ranked`, else one unranked set. ``values`` are
    what the index holds for each term: the term itself, or a chunk hash's key."""

    field: str
    terms: tuple[str | int, ...]
    values: tuple[str | int, ...]

    @property
    def ranked(self) -> bool:
        return len(self.values) <= RANKED_TERMS


def plan_lookup(field: str, terms: Iterable[str]) -> Lookup:
    """The lookup of ``terms`` (deduplicated, in order) in the exact-match ``field``.

    Raises:
        ValueError: ``field`` is not one of :data:`TERM_FIELDS` (chunk hashes are looked up as
            integers, by :func:`plan_chunk_lookup`).
    """
    if field == CHUNK:
        raise ValueError("chunk hashes are looked up as integers, not terms: use contents_with_chunks, "
                         "count_contents_with_chunks or chunk_doc_counts")
    if field not in TERM_FIELDS:
        raise ValueError(f"{field!r} is not a term field; use one of {TERM_FIELDS}")
    terms = tuple(dict.fromkeys(terms))
    return Lookup(field, terms, terms)


def plan_chunk_lookup(hashes: np.ndarray) -> Lookup:
    """The lookup of chunk ``hashes`` (``uint64``; deduplicated, in order) by the keys the store
    indexes (:func:`chunk_keys`; two hashes may share one, and each still counts in the ranking)."""
    unique = np.array(list(dict.fromkeys(np.asarray(hashes, dtype=np.uint64).tolist())), dtype=np.uint64)
    return Lookup(CHUNK, tuple(unique.tolist()), tuple(chunk_keys(unique).tolist()))


# -- running a search --------------------------------------------------------------------------
class Snapshot(NamedTuple):
    """What one search reads: the backend's ``reader`` (a tantivy searcher; None for a server,
    which is asked afresh) and the ``version`` it sees, None when unknown (then nothing is
    cached for it)."""

    reader: object
    version: Hashable | None


class SearchBackend(Protocol):
    """What a store gives the planner: snapshots, its camel words, its own query language, and
    one translated query run three ways (a page, every candidate, documents by key)."""

    def snapshot(self) -> Snapshot: ...

    def camel_terms(self, snap: Snapshot) -> Iterable[str]:
        """Every camel word the snapshot's documents hold."""

    def translate(self, plan: Plan) -> object:
        """``plan`` in the backend's query language."""

    def page(self, snap: Snapshot, native, order: str | None, offset: int, size: int
             ) -> tuple[int, list[tuple[float, StoredDocument]]]:
        """The exact number of matches and the ``size`` of them from ``offset``, each with its
        score, best first (by stars first when ``order`` is ``"stars"``).

        Note:
            Under an order the score is the backend's own: tantivy gives the stars, Elasticsearch
            the BM25 score (a verified page gives the stars in both). The divergence is kept,
            deliberately for now; unifying it is a behaviour change, with its own test.
        """

    def candidates(self, snap: Snapshot, native, order: str | None) -> Iterable[tuple[float, Hashable, str]]:
        """Every match in :meth:`page`'s order, as (its sort value when ``order`` is set, else
        its score; a key for :meth:`fetch`; its content)."""

    def fetch(self, snap: Snapshot, keys: Sequence[Hashable]) -> list[StoredDocument | None]:
        """The documents of ``keys`` (from :meth:`candidates`), None where one is gone."""


def verified_ranking(candidates: Iterable[tuple[float, Hashable, str]], query: SearchQuery,
                     order: str | None) -> list[tuple[float, int, Hashable]]:
    """The candidates that truly match ``query`` (:func:`indexer.snippets.verified_occurrences`),
    as (rank, occurrences, key), best first.

    Note:
        The rank is the sort value when there is an ``order``, else the score when the query
        has keywords, else the literals' occurrences; ties go to more occurrences, then keep
        the candidates' order (the sort is stable).
    """
    matches = []
    for score, key, content in candidates:
        occurrences = verified_occurrences(content, query)
        if occurrences is not None:
            rank = float(score) if query.keywords or order else float(occurrences)
            matches.append((rank, occurrences, key))
    matches.sort(key=lambda m: (-m[0], -m[1]))
    return matches


class SearchPlanner:
    """One store's searches: what both stores do alike around their own query language.

    It runs a query on one snapshot; verifies literal (and few redacted keyword) candidates on
    their content, keeping each verified ranking in a small LRU keyed by (query, order, the
    snapshot's version), so that paging verifies once; keeps the camel vocabulary of the
    latest version; and makes the hits with their snippets. Thread-safe.
    """

    def __init__(self, backend: SearchBackend, *, cache_size: int = VERIFIED_CACHE_SIZE):
        self._backend = backend
        self._cache_size = cache_size
        self._rankings: OrderedDict = OrderedDict()
        self._vocab: tuple = (None, None)
        self._lock = threading.Lock()

    def search(self, query: SearchQuery, *, page: Page = Page(), sort: str = "score") -> SearchResult:
        """Run ``query`` on one snapshot; totals are exact (literals are verified on every
        candidate, so a literal query's total counts only true matches; so are the keywords of
        a redacted query that few documents match, see :mod:`indexer.snippets`).

        Raises:
            PageOutOfRange: ``page`` lies past the last page of a non-empty result.
        """
        snap = self._backend.snapshot()
        plan = plan_search(query, sort, self._vocabulary(snap) if query.keywords else None)
        native = self._backend.translate(plan)
        order = plan.order
        if not query.needs_verification:
            total, page_hits = self._backend.page(snap, native, order, page.offset, page.size)
            found = [(score, rec, None) for score, rec in page_hits]
            if query.verifies_keywords(total):
                found, total = self._verified(snap, native, query, page, order)
        else:
            found, total = self._verified(snap, native, query, page, order)
        if total and page.offset >= total:
            raise PageOutOfRange(page, total, math.ceil(total / page.size))
        hits = []
        for score, rec, ranges in found:
            ranges = ranges if ranges is not None else match_ranges(rec.content, query)
            hits.append(Hit(document=rec, score=score, match_count=len(ranges),
                            snippets=tuple(line_snippets(rec.content, ranges))))
        return SearchResult(total=total, page=page, hits=tuple(hits), sort=sort)

    def _verified(self, snap: Snapshot, native, query: SearchQuery, page: Page, order: str | None):
        """The page of the verified ranking (see :func:`verified_ranking`), and its length.

        Note:
            A page may hold fewer hits than its size while the total still counts them: a
            document deleted since the ranking was made (a server's real-time read finds it
            gone) is skipped.
        """
        key = (query, order, snap.version)
        with self._lock:
            matches = self._rankings.get(key) if snap.version is not None else None
            if matches is not None:
                self._rankings.move_to_end(key)
        if matches is None:
            matches = verified_ranking(self._backend.candidates(snap, native, order), query, order)
            if snap.version is not None:
                with self._lock:
                    self._rankings[key] = matches
                    while len(self._rankings) > self._cache_size:
                        self._rankings.popitem(last=False)
        window = matches[page.offset:page.offset + page.size]
        recs = self._backend.fetch(snap, [m[2] for m in window])
        found = [(rank, rec, match_ranges(rec.content, query))
                 for (rank, _, _), rec in zip(window, recs) if rec is not None]
        return found, len(matches)

    def _vocabulary(self, snap: Snapshot) -> CamelVocabulary:
        """The camel words of ``snap``, kept for its version."""
        with self._lock:
            if snap.version is not None and self._vocab[0] == snap.version:
                return self._vocab[1]
        vocab = CamelVocabulary(self._backend.camel_terms(snap))
        if snap.version is not None:
            with self._lock:
                self._vocab = (snap.version, vocab)
        return vocab

    def warm(self) -> None:
        """Build the camel vocabulary of the latest version (~0.5 s per 100k camel words)."""
        self._vocabulary(self._backend.snapshot())

    def cached_rankings(self) -> int:
        """How many verified rankings are kept."""
        with self._lock:
            return len(self._rankings)

    def drop_cached_rankings(self) -> None:
        """Forget the verified rankings (benchmarks time cold queries)."""
        with self._lock:
            self._rankings.clear()

    def forget(self) -> None:
        """Forget the rankings and the vocabulary (the store wrote: its version may not say so)."""
        with self._lock:
            self._rankings.clear()
            self._vocab = (None, None)
