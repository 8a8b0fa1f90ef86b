"""Is this text in the corpus, and where did each part of it come from?

A :class:`MembershipIndex` holds an index's store, Bloom filter and span index, opened once (by
:meth:`indexer.index_dir.IndexDir.membership`, which hands it the sketch config the store
records); then

* :meth:`MembershipIndex.test` answers membership as Data Portraits does: every window of the
  normalized input is tested against the filter, hits spaced by the stride chain into spans,
  and the answer reports spans (raw offsets), the longest chain, the fraction covered and the
  filter's false-positive rate; ``exact=True`` confirms every hit in the store, so no span is
  left that the corpus does not hold.
* :meth:`MembershipIndex.attribute` finds the documents on the span index (a suffix array over
  every content's chunk hashes, :mod:`membership.sequences`): the query's windows that are
  corpus chunks chain, per residue class, into **maximal** chunk matches
  (:mod:`membership.span_search`), each held by a suffix-array range that counts and ranks the
  documents holding it without reading them; a match is grown on the characters of its edges
  (less than a stride each side) in each of its first sources, and spans are reported with raw
  offsets and line numbers on both sides, the first sources by stars (each content once, with
  all the repositories of an exact duplicate), exact counts, a ``common`` flag for boilerplate
  held by many documents, and license summaries over every document holding the span. A span
  inside a longer one that the same documents hold (a file's own repeated lines) is left out:
  it names no source the longer one does not.

Data flow of ``attribute``::

    text -> normalize -> window hashes -> Bloom -> hit windows -> tokens (span index)
         -> runs of hits per residue class -> maximal chunk matches, suffix-array ranges
         -> per range: distinct documents (counted, ranked, license labels summed)
         -> edges grown, all at once, on the raw chunks around each match in its first
            sources (read from the span index's text; one normalize, one comparison with the query)
         -> spans merged by extent -> sources listed, fetched (store, by sha) -> their raw
            offsets (the same, on the chunks at the span's ends) -> Attribution

Note:
    A verbatim overlap of ``width + stride - 1`` (99) normalized characters always holds a
    whole chunk of its source, so it is always found (see :mod:`membership.chunks`). A span's
    work is bounded by its length and ``log N`` and by the holders whose edges it reads (a
    match's first by stars, one per neighbouring chunk) and the sources it shows, never by how
    many documents hold it or how long they are: no candidate is fetched to be verified, so nothing
    is left unverified. The one limit, ``max_counted`` documents counted per span, is reported
    when it applies (``truncated``, ``limits``, ``count_complete``).
"""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import compress, islice
from typing import Callable, NamedTuple, Sequence

import numpy as np
import numpy.typing as npt

from . import licenses as lic
from .bloom import BloomFilter
from .chunk_sa import ChunkSA
from .chunks import ChunkConfig, Normalized, distinct, normalize, window_hashes
from .minhash import MinHashConfig
from .near_dups import NearDuplicateFinder, NearDuplicates
from .sketch import filter_record
from .span_search import ChunkMatch, maximal_matches, occurrences_many
from .span_text import SpanText
from .store import ContentStore, StoredContent


class AttributionInputError(ValueError):
    """Text that cannot be tested; ``code`` is stable for APIs (``status`` is the HTTP one)."""

    status = 400

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class TextTooLong(AttributionInputError):
    status = 413

    def __init__(self, length: int, limit: int):
        super().__init__("text_too_long", f"the text is {length:,} characters; the limit is "
                                          f"{limit:,} (max_chars). Split it and attribute the parts.")
        self.length, self.limit = length, limit


@dataclass(frozen=True)
class AttributionConfig:
    """Knobs of membership and attribution; each request may override the three middle ones."""

    max_chars: int = 1_000_000
    min_length: int = 50  # normalized characters
    common_threshold: int = 10  # a span held by more documents than this is ``common``
    max_sources: int = 10  # sources listed per span (all are counted)
    max_candidates: int = 200  # near-duplicate candidates scored, contents read by exact membership
    # A span's sources are counted over at most this many documents (the first by stars); past
    # it its count is a lower bound, flagged (``contents`` stays exact).
    max_counted: int = 4096

    def __post_init__(self):
        for name in ("max_chars", "min_length", "max_sources", "max_candidates", "max_counted"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.common_threshold < 1:
            raise ValueError(f"common_threshold must be at least 1 (10 is usual), got {self.common_threshold}")


# -- results -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MembershipSpan:
    start: int  # raw character offsets in the input
    end: int
    text: str
    hits: int  # windows found in the filter inside the span
    longest_chain: int  # windows in the longest stride-spaced chain inside the span

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "hits": self.hits,
                "longest_chain": self.longest_chain}


@dataclass(frozen=True)
class MembershipResult:
    length: int
    normalized_length: int
    windows: int
    hits: int
    spans: tuple[MembershipSpan, ...]
    longest_chain: int  # normalized characters covered by the longest chain
    fraction: float  # of normalized characters covered by hit windows
    exact: bool
    filter: dict  # configured, theoretical and measured false-positive rates

    @property
    def member(self) -> bool:
        return bool(self.spans)

    def to_json(self) -> dict:
        return {"member": self.member, "length": self.length,
                "normalized_length": self.normalized_length, "windows": self.windows,
                "hits": self.hits, "spans": [s.to_json() for s in self.spans],
                "longest_chain": self.longest_chain, "fraction": self.fraction,
                "exact": self.exact, "filter": self.filter}


class SourceMatch(NamedTuple):
    """Where a span lies in one stored content, with the content's primary source (a named
    tuple: an answer lists thousands)."""

    sha: str
    repo: str
    path: str
    licenses: tuple[str, ...]
    lang: str
    stars: int
    url: str | None
    start: int  # raw character offsets in the source content
    end: int
    start_line: int
    end_line: int
    documents: int  # sources (repo, path) holding this exact content
    also_in: tuple[dict, ...] = ()  # the other sources of an exact duplicate

    def to_json(self) -> dict:
        return {"id": self.sha, "repo": self.repo, "path": self.path, "licenses": list(self.licenses),
                "license_family": lic.overall_family(self.licenses), "lang": self.lang, "stars": self.stars,
                "url": self.url, "start": self.start, "end": self.end, "start_line": self.start_line,
                "end_line": self.end_line, "documents": self.documents, "also_in": list(self.also_in)}


@dataclass(frozen=True)
class AttributedSpan:
    """A maximal verbatim span of the input, its sources (the first ``max_sources`` by stars)
    and, over every document holding it, its counts and license summary."""

    start: int  # raw character offsets in the input
    end: int
    text: str
    start_line: int
    end_line: int
    normalized_length: int
    common: bool
    count: int  # sources holding the span (every source of every content)
    count_complete: bool  # False: a lower bound (over max_counted contents, or opt-outs pending)
    contents: int  # distinct contents holding it (exact)
    sources: tuple[SourceMatch, ...]
    licenses: dict

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text,
                "start_line": self.start_line, "end_line": self.end_line,
                "normalized_length": self.normalized_length, "common": self.common,
                "count": self.count, "count_complete": self.count_complete,
                "contents": self.contents, "sources": [s.to_json() for s in self.sources],
                "licenses": self.licenses}


@dataclass(frozen=True)
class AttributionLimits:
    """What limits left out of one attribution.

    Note:
        Verbatim spans are found whole, in every document, by the span index; a span's sources
        are listed and its count summed from at most ``max_counted`` documents (the first by
        stars): a span held by more (boilerplate in thousands of files) has an exact
        ``contents`` count and ``common`` flag, but its ``count`` of sources is a lower bound
        (``count_complete`` false), counted in ``incomplete_counts``. Near-duplicates score at
        most ``max_candidates`` stored files of the ``near_duplicate_candidates_available``
        sharing a band with the text.
    """

    max_candidates: int
    max_counted: int = 0
    incomplete_counts: int = 0  # spans held by more than max_counted documents
    near_duplicate_candidates_available: int | None = None  # None: near-duplicates not looked for

    @property
    def truncated(self) -> bool:
        near = self.near_duplicate_candidates_available
        return self.incomplete_counts > 0 or (near is not None and near > self.max_candidates)

    def to_json(self) -> dict:
        return {"max_candidates": self.max_candidates, "max_counted": self.max_counted,
                "incomplete_counts": self.incomplete_counts,
                "near_duplicate_candidates_available": self.near_duplicate_candidates_available}


@dataclass(frozen=True)
class Attribution:
    """The one answer type of ``attribute`` for the CLI, the API and the UI.

    Never silently partial: when a limit cut it, ``truncated`` is true and ``limits`` says which
    and by how much (see :class:`AttributionLimits`).
    """

    length: int
    normalized_length: int
    spans: tuple[AttributedSpan, ...]  # longest first; ``common`` ones included, flagged
    coverage: float  # fraction of the input's normalized characters inside a non-common span
    longest: int  # normalized length of the longest non-common span
    licenses: dict  # over every source of every non-common span
    candidates: int  # stored contents fetched: the sources shown (and, without the span index's text, holders read)
    filter: dict
    limits: AttributionLimits
    near_duplicates: tuple = field(default=())

    @property
    def truncated(self) -> bool:
        return self.limits.truncated

    def to_json(self) -> dict:
        return {"length": self.length, "normalized_length": self.normalized_length,
                "spans": [s.to_json() for s in self.spans], "coverage": self.coverage,
                "longest": self.longest, "licenses": self.licenses, "candidates": self.candidates,
                "filter": self.filter, "truncated": self.truncated, "limits": self.limits.to_json(),
                "near_duplicates": [n.to_json() for n in self.near_duplicates]}


# -- helpers -------------------------------------------------------------------------------------


def _hashes(values) -> np.ndarray:
    """Chunk hashes (Python ints, in order) as the ``uint64`` array a store looks up."""
    return np.fromiter(values, dtype=np.uint64, count=len(values))


class _Lines:
    """Raw offset -> 1-based line number."""

    def __init__(self, text: str):
        codes = (np.frombuffer(text.encode("ascii"), np.uint8) if text.isascii()
                 else np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32))
        self.starts = np.flatnonzero(codes == 10) + 1

    def line(self, offset: int) -> int:
        return int(np.searchsorted(self.starts, offset, side="right")) + 1


def hit_spans(offsets: np.ndarray, width: int, stride: int) -> tuple[list[tuple[int, int, int, int]], int]:
    """The spans of hit windows, and the longest chain of hits ``stride`` apart.

    ``offsets``: the sorted normalized offsets of the windows that hit. Windows that overlap or
    touch form one span ``(start, end, hits, longest)``, ``longest`` being the most hits in a
    chain ``i, i + stride, i + 2 stride, ...`` inside it (a chain never leaves its span, as
    ``stride <= width``). Vectorized: a 1 MB input holds tens of thousands of hits.
    """
    m = len(offsets)
    if not m:
        return [], 0
    # Chains: sorted by offset within each residue mod stride, a hit continues the chain of the
    # one before it exactly when it lies stride after it.
    order = np.argsort(offsets % stride, kind="stable")
    by_residue = offsets[order]
    at = np.arange(m)
    chain_start = at.copy()
    chain_start[1:][by_residue[1:] - by_residue[:-1] == stride] = 0
    chain = np.empty(m, np.int64)
    chain[order] = at - np.maximum.accumulate(chain_start) + 1  # hits in the chain ending here
    first = np.concatenate(([0], np.flatnonzero(np.diff(offsets) > width) + 1))
    last = np.append(first[1:], m) - 1
    spans = zip(offsets[first].tolist(), (offsets[last] + width).tolist(), (last - first + 1).tolist(),
                np.maximum.reduceat(chain, first).tolist())
    return list(spans), int(chain.max())


# -- the index -------------------------------------------------------------------------------------
class MembershipIndex:
    """An index's store, Bloom filter and span index, opened once, answering membership and
    attribution."""

    def __init__(self, store: ContentStore, bloom: BloomFilter, *, spans: ChunkSA | None = None,
                 texts: SpanText | None = None, spans_error: str = "", chunks: ChunkConfig = ChunkConfig(),
                 minhash: MinHashConfig | None = None, config: AttributionConfig = AttributionConfig(),
                 sketch: dict | None = None, pending_optouts: Callable[[int], int] | None = None):
        """``spans`` is the span index (:mod:`membership.sequences`; None: attribution refuses
        with ``spans_error``, membership still answers) and ``texts`` its documents' raw text
        (:mod:`membership.span_text`; None: edges are read from the store); ``chunks`` and
        ``minhash`` are the sketch the store and the filter were built with (``minhash`` None:
        no near-duplicates); ``sketch`` is the filter's ``sketch.json``; ``pending_optouts(seq)``
        counts the opt-outs after ``seq`` that removed chunks (the opt-out ledger's; None: there
        are none)."""
        self.store, self.bloom, self.chunks, self.config = store, bloom, chunks, config
        self.spans, self.spans_error, self.texts = spans, spans_error, texts
        self.near = (NearDuplicateFinder(store, minhash, max_candidates=config.max_candidates)
                     if minhash is not None else None)
        sketch = sketch or {}
        self._pending_optouts = pending_optouts
        self.filter_seq = sketch.get("ledger_seq", 0)  # the last opt-out the filter reflects
        self.filter_record = filter_record(sketch)  # the filter as served (stats)
        self.filter_info = {"fpr_configured": sketch.get("fpr"),
                            "fpr_theoretical": sketch.get("fpr_theoretical"),
                            "fpr_measured": sketch.get("fpr_measured"),
                            "items": sketch.get("items", bloom.items)}

    def optouts_pending(self) -> int:
        """Opt-outs whose removed chunks the Bloom filter still holds (until
        ``starscope rebuild-filter``); while any are, membership checks its hits in the store."""
        return self._pending_optouts(self.filter_seq) if self._pending_optouts is not None else 0

    # -- input -------------------------------------------------------------------------------
    def _normalized(self, text: str) -> Normalized:
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__} (decode bytes as UTF-8 first)")
        if len(text) > self.config.max_chars:
            raise TextTooLong(len(text), self.config.max_chars)
        norm = normalize(text)
        if not len(norm):
            raise AttributionInputError("empty_text", "the text is empty (or only whitespace)")
        if len(norm) < self.chunks.width:
            raise AttributionInputError(
                "text_too_short", f"after whitespace normalization the text has {len(norm)} "
                f"characters; membership needs at least {self.chunks.width} (one chunk)")
        return norm

    # -- membership --------------------------------------------------------------------------
    def test(self, text: str, *, exact: bool = False) -> MembershipResult:
        """Data Portraits membership of ``text`` (see the module docstring). After an opt-out,
        until the filter is rebuilt, hits are checked in the store (``exact``), so removed code
        is not reported present."""
        norm = self._normalized(text)
        pending = self.optouts_pending()
        exact = exact or pending > 0
        windows = window_hashes(norm.codes, self.chunks)
        hit = self.bloom.contains(windows)
        if exact and hit.any():
            hit &= self._confirmed(norm, windows, hit)
        offsets = np.flatnonzero(hit)
        w, s = self.chunks.width, self.chunks.stride
        groups, longest_hits = hit_spans(offsets, w, s)
        spans, covered = [], 0
        for a, b, hits, longest in groups:
            covered += b - a
            ra, rb = norm.raw_span(a, b)
            spans.append(MembershipSpan(ra, rb, text[ra:rb], hits, longest))
        return MembershipResult(
            length=len(text), normalized_length=len(norm), windows=len(windows), hits=len(offsets),
            spans=tuple(spans), longest_chain=(longest_hits - 1) * s + w if longest_hits else 0,
            fraction=covered / len(norm), exact=exact,
            filter={**self.filter_info, "optouts_pending": pending} if pending else self.filter_info)

    def _confirmed(self, norm: Normalized, windows: np.ndarray, hit: np.ndarray) -> np.ndarray:
        """Which hit windows some stored content holds (the rest are false positives). Never
        cut: the chunks that the first, capped fetch left unconfirmed are looked up one by one."""
        offsets = np.flatnonzero(hit)
        hashes = windows[offsets]
        unique = distinct(hashes)
        counts = dict(zip(unique.tolist(), self.store.chunk_doc_counts(unique).tolist()))
        ok = np.zeros(len(windows), bool)
        pending: dict[int, list[int]] = {}  # held chunk -> the offsets of its windows
        for i, h in zip(offsets.tolist(), hashes.tolist()):
            if counts[h]:
                pending.setdefault(h, []).append(i)
        docs = self.store.contents_with_chunks(_hashes(pending), limit=self.config.max_candidates)
        texts = [normalize(d.content).text for d in docs]
        w = self.chunks.width
        for h, where in list(pending.items()):
            for i in where:
                if any(norm.text[i:i + w] in dt for dt in texts):
                    ok[i] = True
            if ok[where].all():
                del pending[h]
        for h, where in pending.items():  # not among the fetched contents: look each up
            for d in self.store.contents_with_chunks(_hashes([h]), limit=3):
                dt = normalize(d.content).text
                for i in where:
                    ok[i] |= norm.text[i:i + w] in dt
        return ok

    # -- attribution -------------------------------------------------------------------------
    def no_limits(self) -> AttributionLimits:
        """The limits of an answer that nothing cut (a text too short to look up)."""
        return AttributionLimits(max_candidates=self.config.max_candidates, max_counted=self.config.max_counted)

    def near_duplicates(self, text: str, *, lang: str | None = None, path: str | None = None,
                        min_jaccard: float | None = None, limit: int | None = None) -> NearDuplicates:
        """Stored documents whose shingles resemble ``text``'s (see :mod:`membership.near_dups`);
        ``lang`` or ``path`` choose the lexer of the abstracted token stream."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        if len(text) > self.config.max_chars:
            raise TextTooLong(len(text), self.config.max_chars)
        if not text.strip():
            raise AttributionInputError("empty_text", "the text is empty (or only whitespace)")
        if self.near is None:
            raise AttributionInputError("no_signatures", "this index holds no MinHash signatures; "
                                        "rebuild it with `starscope index`")
        if min_jaccard is not None and not 0 < min_jaccard <= 1:
            raise AttributionInputError("invalid_parameter", f"min_jaccard is in (0, 1], got {min_jaccard}")
        return self.near.find(text, lang=lang, path=path, min_jaccard=min_jaccard, limit=limit)

    def attribute(self, text: str, *, min_length: int | None = None, common_threshold: int | None = None,
                  max_sources: int | None = None, lang: str | None = None, path: str | None = None,
                  near_duplicates: bool = True) -> Attribution:
        """Maximal verbatim spans of ``text`` in the corpus, with sources and licenses, and
        (unless ``near_duplicates`` is false) its near-duplicates and renamed copies."""
        cfg = self.config
        min_length = cfg.min_length if min_length is None else min_length
        threshold = cfg.common_threshold if common_threshold is None else common_threshold
        max_sources = cfg.max_sources if max_sources is None else max_sources
        if min_length < 1 or threshold < 1 or max_sources < 1:
            raise AttributionInputError("invalid_parameter", "min_length, common_threshold and "
                                        "max_sources must be at least 1")
        norm = self._normalized(text)
        if self.spans is None:
            raise SpansUnavailable(self.spans_error)
        near = (self.near.find(text, lang=lang, path=path)
                if near_duplicates and self.near is not None else None)
        limits = replace(self.no_limits(),
                         near_duplicate_candidates_available=near.candidates_available if near else None)
        windows = window_hashes(norm.codes, self.chunks)
        at = np.flatnonzero(self.bloom.contains(windows))
        tokens = np.full(len(windows), -1, np.int64)
        tokens[at] = self.spans.tokens(windows[at])  # the filter's false positives stay -1
        with _collector_paused():
            found = self._spans(text, norm, maximal_matches(self.spans, tokens, self.chunks.stride),
                                min_length, threshold, max_sources)
        spans, real_docs, fetched, cut = found
        real = [sp for sp in spans if not sp.common]
        covered = np.zeros(len(norm), bool)
        for sp in real:
            a = norm_index(norm, sp.start)
            covered[a:a + sp.normalized_length] = True
        limits = replace(limits, incomplete_counts=cut)
        return Attribution(
            length=len(text), normalized_length=len(norm), spans=tuple(spans),
            coverage=float(covered.mean()), longest=max((sp.normalized_length for sp in real), default=0),
            licenses=_license_summary(self.spans.doc_label_counts(sorted(real_docs))),
            candidates=fetched, filter=self.filter_info, limits=limits,
            near_duplicates=near.near_duplicates if near else ())

    def _spans(self, text: str, norm: Normalized, matches: list[ChunkMatch], min_length: int, threshold: int,
               max_sources: int) -> tuple[list[AttributedSpan], set[int], int, int]:
        """The spans of ``matches``: each grown to its maximal extent on the edges of its first
        sources, those with the same extent merged and those inside a longer span of the same
        documents left out, with exact counts and license summaries from the span index and
        their first sources fetched; also the documents of the spans that are not common, how
        many contents were fetched and how many counts were cut."""
        sa = self.spans
        if not matches:
            return [], set(), 0, 0
        # Each suffix-array range's documents listed once: a query repeating a text (a licence
        # header quoted twice, a repeated block) holds the same range at each place.
        ls = np.array([m.l for m in matches], np.int64)
        rs = np.array([m.r for m in matches], np.int64)
        _, once, of = np.unique(ls * (len(sa.sa) + 1) + rs, return_index=True, return_inverse=True)
        of = of.reshape(-1)
        q, docs = sa.first_documents_many(ls[once], rs[once], self.config.max_counted)
        bounds = np.searchsorted(q, np.arange(len(once) + 1))
        ranges = [docs[bounds[u]:bounds[u + 1]] for u in range(len(once))]
        per = [ranges[u] for u in of.tolist()]  # (the same array for the same range)
        # Fewer than max_counted listed: that is every document; the others are counted apart.
        contents = np.diff(bounds)
        full = np.flatnonzero(contents >= self.config.max_counted)
        if len(full):
            contents[full] = np.atleast_1d(sa.count_documents(ls[once][full], rs[once][full]))
        contents = contents[of]
        # The holders whose edges are grown: a maximal match's first; a prefix match's first
        # of those whose own match ends there (the others hold its parent, reported apart).
        first = []
        for m, ds in zip(matches, per):
            if m.parent is None:
                first.append(ds[:max_sources].tolist())
            elif len(per[m.parent]) > _FEW:
                first.append(ds[~np.isin(ds, per[m.parent])][:max_sources].tolist())
            else:  # (its documents hold the parent's: the first few others are soon found)
                parent = set(per[m.parent].tolist())
                first.append(list(islice((d for d in ds.tolist() if d not in parent), max_sources)))
        # Edges are read from the span index's text; without it, from the store: a few holders
        # fetched together (one store call), many only one per neighbouring chunk, then those
        # listed. While opt-outs are pending the span index may list removed contents: every
        # holder is fetched, the stored ones grown (the text still holds the removed ones).
        pending = self.optouts_pending() > 0  # removed contents may still be counted
        read = _Reader(self.store, sa, None if pending else self.texts)
        record_of = read.records
        fetch = read.fetch
        shown = sorted({d for ds in first for d in ds})
        if pending or (self.texts is None and len(shown) <= _FETCH_TOGETHER):
            fetch(shown)
            first = [[d for d in ds if record_of[d] is not None] for ds in first]
        # One span per extent: matches of other alignments reaching the same extent are merged.
        # A group keeps its holders as arrays (common spans have thousands), and for the
        # grown ones the match they hold it by (where their edges were grown).
        groups: dict[tuple[int, int], dict] = {}
        grown, every = self._grow(norm, matches, first, read)

        def group(key) -> dict:
            return groups.setdefault(key, {"parts": [], "by": {}, "contents": 0, "complete": True, "own": set()})

        for k, (m, ds, n, mine) in enumerate(zip(matches, per, contents.tolist(), first)):
            shown_here = [d for d in mine if (k, d) in grown]
            if not shown_here:
                continue  # no holder ends here, or every shown one was removed since the build
            # Each shown holder grown on its own edges (the longest of its occurrences). When
            # every holder was grown, the first one's extent is the span all are counted under,
            # and a holder reaching further (the query's own file, beside files that share its
            # start) gives the longer span too, counted exactly; when more hold the match than
            # were grown, the span is the furthest reach among those grown.
            ext = {d: grown[k, d] for d in shown_here}
            if n <= len(shown_here):
                top = ext[shown_here[0]]
                longer = [e for e in ext.values() if e.qs < top.qs or e.qe > top.qe]
            else:
                top, longer = max(ext.values(), key=lambda e: (e.qe - e.qs, -e.qs)), []
            for e in [top] + longer:
                if e.qe - e.qs < min_length or (e is not top and (e.qs, e.qe) in groups):
                    continue
                g = group((e.qs, e.qe))
                if e is top:
                    g["parts"].append(ds)
                    g["contents"] += n
                    g["complete"] &= n <= len(ds)
                else:
                    holding = [d for d in shown_here if ext[d].qs <= e.qs and e.qe <= ext[d].qe]
                    g["parts"].append(np.array(holding, np.int64))
                    g["contents"] += len(holding)
                for d in first[k]:
                    g["by"].setdefault(d, k)
                # listed first: the holders whose own extent this is (the span is maximal in them)
                g["own"].update(d for d in shown_here if (ext[d].qs, ext[d].qe) == (e.qs, e.qe))
        # A span lies inside the chunks of a match of another alignment (its text quoted by
        # other documents at another place on their chunk grid): their documents hold it too.
        s, w = self.chunks.stride, self.chunks.width
        core_start = np.array([m.start for m in matches], np.int64)
        core_end = core_start + np.array([(m.length - 1) * s + w for m in matches], np.int64)
        for (qs, qe), g in groups.items():
            for k in np.flatnonzero((core_start <= qs) & (core_end >= qe)).tolist():
                g["parts"].append(per[k])
                for d in first[k]:
                    g["by"].setdefault(d, k)
                g["contents"] = max(g["contents"], int(contents[k]))
                g["complete"] &= int(contents[k]) <= len(per[k])
        found, real_docs, cut = [], set(), 0
        # Longest first; a span inside a longer one that the same documents hold says nothing
        # the longer one does not (a file's own repeated lines, a part of a copied block) and is
        # left out.
        kept: dict[bytes, list[tuple[int, int]]] = {}  # the extents of spans kept, by holders
        for (qs, qe), g in sorted(groups.items(), key=lambda kv: (kv[0][0] - kv[0][1], kv[0][0])):
            held = distinct(np.concatenate(list({id(a): a for a in g["parts"]}.values())))
            same = kept.setdefault(held.tobytes(), []) if g["complete"] else []
            if any(a <= qs and qe <= b for a, b in same):
                continue
            same.append((qs, qe))
            contents_n = len(held) if g["complete"] else max(len(held), g["contents"])
            cut += not g["complete"]
            # Sources: the documents of the matches that reach exactly this extent first (the
            # span is maximal in them), then those holding it inside a longer match, by rank;
            # the grown ones only (a match's first), each where it holds the span whole.
            listed = [d for d in g["by"] if (g["by"][d], d) in grown]
            own, rank = g["own"], dict(zip(listed, sa.doc_rank[listed].tolist()))
            picked = []
            for d in sorted(listed, key=lambda d: (d not in own, rank[d])):
                e = _holding(every.get(key := (g["by"][d], d)) or (grown[key],), qs, qe)
                if e is not None:
                    picked.append((d, e))
                    if len(picked) == max_sources:
                        break
            found.append((qs, qe, held, contents_n, g["complete"], picked))
        fetch(sorted({d for *_, picked in found for d, _ in picked}))  # the sources listed
        found = [(*f[:5], [(d, e) for d, e in f[5] if record_of[d] is not None]) for f in found]
        listed = [(d, e, qs, qe) for qs, qe, *_, picked in found for d, e in picked]
        ranges = list(self._raw_ranges(read, listed))
        texts = [record_of[d].content for d, *_ in listed]
        lines = _lines(texts + texts, [ra for ra, _ in ranges] + [max(rb - 1, ra) for ra, rb in ranges])
        sources = iter(self._sources(listed, record_of, ranges, lines))
        spans, qlines, summaries = [], _Lines(text), {}  # spans held by the same documents share a summary
        for qs, qe, held, contents_n, complete, picked in found:
            count = int(sa.doc_sources[held].sum()) + (contents_n - len(held))
            ra, rb = norm.raw_span(qs, qe)
            common = count > threshold
            if not common:
                real_docs.update(held.tolist())
            spans.append(AttributedSpan(
                start=ra, end=rb, text=text[ra:rb], start_line=qlines.line(ra),
                end_line=qlines.line(max(rb - 1, ra)), normalized_length=qe - qs, common=common,
                count=count, count_complete=complete and not pending, contents=contents_n,
                sources=tuple(next(sources) for _ in picked),
                licenses=summaries.get(key := held.tobytes()) or summaries.setdefault(
                    key, _license_summary(sa.doc_label_counts(held)))))
        return spans, real_docs, sum(r is not None for r in record_of.values()), cut

    def _grow(self, norm: Normalized, matches: list[ChunkMatch], first: list[list[int]],
              read: _Reader) -> tuple[dict, dict]:
        """Each match held by each of its first documents, at each of its occurrences there,
        grown on the characters of its edges to the maximal verbatim match, which starts and
        ends off whitespace: ``{(match, document): extent}``, the longest (then leftmost) of
        the document's, and ``{(match, document): [extent, ...]}`` for the documents holding the
        match more than once, in the document's order. The characters are read
        from one content per distinct neighbouring chunk, the first-ranked holding it
        (``read``: from the span index's text, or fetched from the store).

        Note:
            A maximal match of chunks leaves less than one stride to grow on each side (a whole
            matching chunk there would have been a hit of the match), and those characters lie
            in the chunk before the match and the chunk after it (or the document's tail), so
            only those chunks' raw text is read: once per distinct neighbouring token (or tail),
            all normalized in one pass (:class:`_Pieces`) and compared with the query at once,
            whatever the documents' length and however many share a neighbour.
        """
        sa = self.spans
        k, d, p = occurrences_many(sa, matches, first)
        order = np.argsort(sa.doc_rank[d], kind="stable")  # a piece is read from its first-ranked holder
        k, d, p = k[order], d[order], p[order]
        while True:  # (again without a holder that is not stored: it was removed under us)
            if not len(p):
                return {}, {}
            around = self._neighbours(matches, k, d, p)
            gone = read.missing(around.readers)
            if not gone:
                break
            keep = ~np.isin(d, gone)
            k, d, p = k[keep], d[keep], p[keep]
        return self._grown(norm, matches, k, d, p, around, read)

    def _neighbours(self, matches: list[ChunkMatch], k: np.ndarray, d: np.ndarray, p: np.ndarray) -> _Neighbours:
        """Where the characters around each occurrence ``(k, d, p)`` lie: the chunk before (one
        piece per distinct token), the chunks after (per token) or the last chunk with the
        document's tail (per document); with, for each piece, the document to read it from."""
        sa, s, w = self.spans, self.chunks.stride, self.chunks.width
        n = np.array([m.length for m in matches], np.int64)[k]
        ds, de = sa.doc_starts[d].astype(np.int64), sa.doc_starts[d + 1].astype(np.int64) - 1
        left = np.flatnonzero(p > ds)
        after = p + n < de
        c = np.where(after, p + n, p + n - 1)
        to = np.where(after, np.minimum(c + 1 + (w - 1) // s, de), de)
        lkeys, lfirst, lpiece = np.unique(sa.text[p[left] - 1], return_index=True, return_inverse=True)
        rkeys = np.where(after, sa.text[np.minimum(p + n, len(sa.text) - 1)].astype(np.int64), -1 - d)
        rkeys, rfirst, rpiece = np.unique(rkeys, return_index=True, return_inverse=True)
        return _Neighbours(
            left=left, left_piece=lpiece.reshape(-1), right_piece=rpiece.reshape(-1) + len(lkeys),
            skip=np.where(after, w - s, w),
            readers=np.concatenate((d[left][lfirst], d[rfirst])),
            starts=np.concatenate((p[left][lfirst] - 1, c[rfirst])),
            ends=np.concatenate((p[left][lfirst], to[rfirst])),
            doc_ends=np.concatenate((np.zeros(len(lfirst), bool), to[rfirst] >= de[rfirst])).tolist())

    def _grown(self, norm: Normalized, matches: list[ChunkMatch], k: np.ndarray, d: np.ndarray, p: np.ndarray,
               around: _Neighbours, read: _Reader) -> tuple[dict, dict]:
        """:meth:`_grow` once the neighbouring pieces are known to be readable."""
        sa, s, w = self.spans, self.chunks.stride, self.chunks.width
        left, lpiece, rp, skip = around.left, around.left_piece, around.right_piece, around.skip
        n = np.array([m.length for m in matches], np.int64)[k]
        q0 = np.array([m.start for m in matches], np.int64)[k]
        q1 = q0 + (n - 1) * s + w
        ds, de = sa.doc_starts[d].astype(np.int64), sa.doc_starts[d + 1].astype(np.int64) - 1
        pieces = _Pieces([(t.rstrip() if end else t) for t, end in zip(
            read(around.readers, around.starts, around.ends), around.doc_ends)])
        pc, qc = pieces.codes.astype(np.int64), norm.codes.astype(np.int64)
        ar = np.arange(s)
        grow_l = np.zeros(len(p), np.int64)
        if len(left):  # the common suffix of the piece before and the query before the match
            start, end = pieces.start[lpiece], pieces.end[lpiece]
            cpos = end[:, None] - s + ar
            qpos = q0[left][:, None] - s + ar
            eq = (cpos >= start[:, None]) & (qpos >= 0)
            eq &= pc[np.maximum(cpos, 0)] == qc[np.maximum(qpos, 0)]
            eq = eq[:, ::-1]
            grow_l[left] = np.where(eq.all(1), s, eq.argmin(1))
        # the common prefix of the characters after the match and the query after it
        start = pieces.start[rp] + skip
        cpos = start[:, None] + ar
        qpos = q1[:, None] + ar
        eq = (cpos < pieces.end[rp][:, None]) & (qpos < len(qc))
        eq &= pc[np.minimum(cpos, len(pc) - 1)] == qc[np.minimum(qpos, len(qc) - 1)]
        grow_r = np.where(eq.all(1), s, eq.argmin(1))
        space = (qc == 32) | (qc == 10)
        qs, qe = q0 - grow_l, q1 + grow_r
        qs += space[qs]
        qe -= space[qe - 1]
        order = np.lexsort((qs, qs - qe, d, k))  # by match and document, longest first, then leftmost
        k, d = k[order], d[order]
        first = np.ones(len(k), bool)
        first[1:] = (k[1:] != k[:-1]) | (d[1:] != d[:-1])
        keys = list(zip(k.tolist(), d.tolist()))
        shift = s * (p - ds) - q0
        extents = list(map(_Extent._make, zip(*(x[order].tolist() for x in (qs, qe, shift, ds, de)))))
        best = dict(zip(compress(keys, first), compress(extents, first)))
        starts = np.flatnonzero(first)
        ends = np.append(starts[1:], len(k))
        every = {keys[a]: sorted(extents[a:b], key=lambda e: e.shift)  # (first in the document first)
                 for a, b in zip(starts.tolist(), ends.tolist()) if b - a > 1}
        return best, every

    def _raw_ranges(self, read: _Reader, picked: list[tuple[int, _Extent, int, int]]):
        """The raw ``(start, end)`` in document ``d``'s content of the query's normalized
        ``[qs, qe)``, held there as extent ``e`` says, for each ``(d, e, qs, qe)``: ``read`` from
        the one chunk each end falls in (the last chunk with the document's tail), normalized in
        one pass (:class:`_Pieces`)."""
        if not picked:
            return iter(())
        s, offs = self.chunks.stride, self.spans.offsets
        d = np.array([x[0] for x in picked], np.int64)
        ds, de, shift = (np.array(v, np.int64) for v in zip(*((e.ds, e.de, e.shift) for _, e, _, _ in picked)))
        x = np.array([(qs, qe - 1) for *_, qs, qe in picked], np.int64) + shift[:, None]  # normalized, in the document
        last = (de - ds - 1)[:, None]
        c = np.minimum(x // s, last)
        at = ds[:, None] + c
        keys, first, piece = np.unique(at.reshape(-1), return_index=True, return_inverse=True)
        ends = (c == last).reshape(-1)[first].tolist()
        pieces = _Pieces([(t.rstrip() if end else t) for t, end in zip(
            read(np.repeat(d, 2)[first], keys, keys + 1), ends)])
        piece = piece.reshape(-1, 2)
        rel = x - c * s
        base = offs[at].astype(np.int64)
        start = base[:, 0] + pieces.raw_start(piece[:, 0], rel[:, 0])
        end = base[:, 1] + pieces.raw_end(piece[:, 1], rel[:, 1])
        return zip(start.tolist(), end.tolist())

    @staticmethod
    def _sources(listed: list[tuple[int, _Extent, int, int]], record_of: dict, ranges: list[tuple[int, int]],
                 lines: list[int]) -> list[SourceMatch]:
        """The listed documents as sources of their spans, at raw ``ranges`` (with the lines of
        their starts, then of their ends): what a content says of its sources read once."""
        about: dict[int, tuple] = {}
        out = []
        for (d, *_), (ra, rb), start_line, end_line in zip(listed, ranges, lines, lines[len(listed):]):
            meta = about.get(d)
            if meta is None:
                rec = record_of[d]
                primary = rec.primary
                meta = about[d] = (rec.sha, primary.repo, primary.path, rec.licenses, rec.lang, rec.stars,
                                   primary.url, len(rec.sources), tuple(
                    {"repo": x.repo, "path": x.path, "licenses": list(x.licenses)}
                    for x in rec.sources if x != primary))
            sha, repo, path, licenses, lang, stars, url, documents, also_in = meta
            out.append(SourceMatch(sha, repo, path, licenses, lang, stars, url, ra, rb, start_line, end_line,
                                   documents, also_in))
        return out


_FETCH_TOGETHER = 64  # holders fetched in one call; past it, the edges' readers and the listed
_FEW = 64  # documents held in a Python set costs less than an array call


class SpansUnavailable(AttributionInputError):
    """An index without a usable span index: attribution needs one (membership does not)."""

    status = 409

    def __init__(self, message: str):
        super().__init__("spans_missing", message)


class _Extent(NamedTuple):
    """A match grown in one document: the query's normalized ``[qs, qe)``, and where the
    document holds it (its normalized offset is the query's plus ``shift``)."""

    qs: int
    qe: int
    shift: int
    ds: int  # the document's first position in the span index ...
    de: int  # ... and its separator


class _Neighbours(NamedTuple):
    """The pieces around a query's occurrences (:meth:`MembershipIndex._neighbours`): which
    occurrences have a chunk before them (``left``, indices) and the piece each reads there
    (``left_piece``), the piece each reads after it (``right_piece``) from character ``skip`` on;
    and per piece, the document it is read from, the span-index positions of the chunks it runs
    between (``[start, end)``; ``end`` may be the document's separator) and whether it ends the
    document (its tail: stripped)."""

    left: np.ndarray
    left_piece: np.ndarray
    right_piece: np.ndarray
    skip: np.ndarray
    readers: np.ndarray
    starts: np.ndarray  # positions in the span index
    ends: np.ndarray
    doc_ends: list[bool]


class _Reader:
    """Where one attribution reads raw text: the pieces around its matches from the span index's
    text (``texts``, :mod:`membership.span_text`) when it has one, else from contents fetched
    from the store, each once per query and kept in ``records`` (the sources listed are read
    from there in either case)."""

    def __init__(self, store: ContentStore, sa: ChunkSA, texts: SpanText | None):
        self.store, self.sa, self.texts = store, sa, texts
        self.records: dict[int, StoredContent | None] = {}  # None: no longer in the store

    def fetch(self, docs: Sequence[int]) -> None:
        new = [d for d in docs if d not in self.records]
        if new:
            records = self.store.contents(shas := self.sa.shas(new))
            self.records.update((d, records.get(sha)) for d, sha in zip(new, shas))

    def missing(self, docs: np.ndarray) -> list[int]:
        """Of ``docs``, those that cannot be read (removed from the store since the span index
        was built: only without the text, which is not read while opt-outs are pending)."""
        if self.texts is not None:
            return []
        wanted = sorted(set(docs.tolist()))
        self.fetch(wanted)
        return [d for d in wanted if self.records[d] is None]

    def __call__(self, docs: np.ndarray, a: np.ndarray, b: np.ndarray) -> list[str]:
        """The raw text of document ``docs[i]`` from span-index position ``a[i]`` to ``b[i]``
        (exclusive; ``b[i]`` may be its separator: to the document's end)."""
        if self.texts is not None:
            return self.texts.between(docs, a, b)
        offs = self.sa.offsets
        return [self.records[d].content[x:y] for d, x, y in zip(docs.tolist(), offs[a].tolist(), offs[b].tolist())]


class _Pieces:
    """Raw pieces of documents (a chunk each, or a chunk and the document's tail,
    ``rstrip``-ped), normalized together by one :func:`membership.chunks.normalize` of their
    text joined by a non-space separator, so that each is normalized as it is inside its
    document (no whitespace run crosses a separator): ``codes[start[i]:end[i]]`` is piece
    ``i`` normalized."""

    def __init__(self, raws: list[str]):
        lengths = np.fromiter(map(len, raws), np.int64, len(raws))
        self.bases = np.cumsum(lengths + 1) - lengths  # where each piece starts in the joined text
        joined = normalize("\0" + "\0".join(raws) + "\0")
        self.codes, self._starts, self._ends = joined.codes, joined.raw_starts, joined.raw_ends
        self.start = np.searchsorted(self._starts, self.bases)
        self.end = np.searchsorted(self._starts, self.bases + lengths)

    def raw_start(self, piece: npt.ArrayLike, x: npt.ArrayLike) -> np.ndarray:
        """Where normalized character ``x`` of ``piece`` starts in the piece's raw text."""
        return self._starts[self.start[piece] + x] - self.bases[piece]

    def raw_end(self, piece: npt.ArrayLike, x: npt.ArrayLike) -> np.ndarray:
        return self._ends[self.start[piece] + x] - self.bases[piece]


def _holding(extents: Sequence[_Extent], qs: int, qe: int) -> _Extent | None:
    """Of one document's extents of a match, the first holding ``[qs, qe)`` whole, exactly
    (the span maximal there) if one does."""
    found = None
    for e in extents:
        if e.qs <= qs and qe <= e.qe:
            if (e.qs, e.qe) == (qs, qe):
                return e
            found = found or e
    return found


def _lines(texts: list[str], offsets: list[int]) -> list[int]:
    """The 1-based line of raw ``offsets[i]`` in ``texts[i]``: line breaks counted in C, each
    text read once, up to the last offset asked in it (a source of many spans is asked often)."""
    out = [0] * len(offsets)
    text, at, line = None, 0, 1
    order = np.lexsort((np.array(offsets, np.int64), np.fromiter(map(id, texts), np.uint64, len(texts))))
    for i in order.tolist():
        if texts[i] is not text:
            text, at, line = texts[i], 0, 1
        line += text.count("\n", at, offsets[i])
        at = offsets[i]
        out[i] = line
    return out


@contextmanager
def _collector_paused():
    """No cyclic garbage collection inside: an attribution makes tens of thousands of small
    objects, all freed by reference counting as it goes, and the collector's passes over the
    process's heap that they would trigger cost a tenth of its time. Resumed after (unless it
    was off already: another thread's attribution, or the application's choice)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def norm_index(norm: Normalized, raw: int) -> int:
    """The normalized offset whose raw start is ``raw`` (a span's start)."""
    return int(np.searchsorted(norm.raw_starts, raw))


def _license_summary(label_counts: dict[str, int]) -> dict:
    """:func:`membership.licenses.summarize` of sources given as license-list labels (JSON)
    with how many sources carry each. Spans of one answer, and of answers to come, share their
    summaries (the same counts of the same labels): they are read, never changed."""
    return _summary(tuple(label_counts.items()))


@lru_cache(maxsize=65536)
def _summary(label_counts: tuple[tuple[str, int], ...]) -> dict:
    return lic.summarize_counts((_label(label), n) for label, n in label_counts)


@lru_cache(maxsize=65536)
def _label(label: str) -> tuple[str, ...]:
    """A license-list label parsed (an index holds a few hundred distinct ones)."""
    return tuple(json.loads(label))
