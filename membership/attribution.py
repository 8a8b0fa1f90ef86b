"""Is this text in the corpus, and where did each part of it come from?

A :class:`MembershipIndex` holds an index's store and Bloom filter, opened once (by
:meth:`indexer.index_dir.IndexDir.membership`, which hands it the sketch config the store
records); then

* :meth:`MembershipIndex.test` answers membership as Data Portraits does: every window of the
  normalized input is tested against the filter, hits spaced by the stride chain into spans,
  and the answer reports spans (raw offsets), the longest chain, the fraction covered and the
  filter's false-positive rate; ``exact=True`` confirms every hit in the store, so no span is
  left that the corpus does not hold.
* :meth:`MembershipIndex.attribute` finds the documents: the filter proposes hit windows, the
  store returns the contents holding their chunk hashes, each seed is verified on the
  normalized content and extended left and right to the **maximal** common span, and spans are
  reported with raw offsets and line numbers on both sides, every source (grouped by content
  sha, all repositories of an exact duplicate), a count, a ``common`` flag for boilerplate
  held by many documents, and license summaries.

Data flow of ``attribute``::

    text -> normalize -> window hashes -> Bloom -> hit hashes -> doc counts (store)
         -> candidate contents (store, ranked by matched chunks) -> normalize each
         -> seeds (query window == content chunk) -> verify -> extend to maximal
         -> group by query range -> sources, counts, common, licenses -> Attribution

Note:
    A verbatim overlap of ``width + stride - 1`` (99) normalized characters always holds a
    whole chunk of its source, so it is always proposed (see :mod:`membership.chunks`); a
    proposal is reported only after verification, so reported spans are always verbatim.
    What the fetch limits leave unverified is reported too (``truncated``, ``limits``,
    ``unverified``), never dropped in silence; exact membership is never cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from . import licenses as lic
from .bloom import BloomFilter
from .chunks import ChunkConfig, Normalized, chunk_hashes, distinct, normalize, window_hashes
from .minhash import MinHashConfig
from .near_dups import NearDuplicateFinder, NearDuplicates
from .sketch import filter_record
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
    max_candidates: int = 200  # contents fetched and verified per request

    def __post_init__(self):
        for name in ("max_chars", "min_length", "max_sources", "max_candidates"):
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


@dataclass(frozen=True)
class SourceMatch:
    """Where a span lies in one stored content, with the content's primary source."""

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
    start: int  # raw character offsets in the input
    end: int
    text: str
    start_line: int
    end_line: int
    normalized_length: int
    common: bool
    count: int  # documents holding the span (every source of every content)
    count_complete: bool  # False: more contents may hold it than were fetched
    contents: int  # distinct contents holding it
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
    """What the candidate limits left out of one attribution.

    Note:
        Attribution fetches every content holding a hit that at most ``common_threshold``
        contents hold, up to ``max_candidates`` of them; for hits held by more, only
        ``common_candidates`` (``common_threshold + 1``) contents, enough to prove them common
        boilerplate. A hit window is *unverified* when some contents holding its chunk were not
        fetched and fewer than ``common_candidates`` fetched ones hold its text (anywhere in
        them): the text there may hold spans and sources the answer does not report. Both are exact, from the store's
        counts, never guessed; only on a tantivy store after an opt-out, until the removed
        contents' segments merge, a window whose missing holders were all removed may still be
        listed (its chunk's document frequency counts them).
    """

    max_candidates: int
    candidates_available: int  # contents holding a hit held by at most common_threshold contents
    common_candidates: int
    unverified_windows: int = 0  # hit windows (50 normalized characters) left unverified
    near_duplicate_candidates_available: int | None = None  # None: near-duplicates not looked for

    @property
    def truncated(self) -> bool:
        near = self.near_duplicate_candidates_available
        return (self.candidates_available > self.max_candidates or self.unverified_windows > 0
                or (near is not None and near > self.max_candidates))

    def to_json(self) -> dict:
        return {"max_candidates": self.max_candidates, "candidates_available": self.candidates_available,
                "common_candidates": self.common_candidates, "unverified_windows": self.unverified_windows,
                "near_duplicate_candidates_available": self.near_duplicate_candidates_available}


@dataclass(frozen=True)
class Attribution:
    """The one answer type of ``attribute`` for the CLI, the API and the UI.

    Never silently partial: when a limit cut it, ``truncated`` is true, ``limits`` says which
    and by how much, and ``unverified`` gives the raw ``[start, end)`` ranges of the input whose
    hits were not checked against every content holding them (see :class:`AttributionLimits`).
    """

    length: int
    normalized_length: int
    spans: tuple[AttributedSpan, ...]  # longest first; ``common`` ones included, flagged
    coverage: float  # fraction of the input's normalized characters inside a non-common span
    longest: int  # normalized length of the longest non-common span
    licenses: dict  # over every source of every non-common span
    candidates: int  # contents fetched and verified
    filter: dict
    limits: AttributionLimits
    unverified: tuple[tuple[int, int], ...] = ()  # raw ranges of the input
    near_duplicates: tuple = field(default=())

    @property
    def truncated(self) -> bool:
        return self.limits.truncated

    def to_json(self) -> dict:
        return {"length": self.length, "normalized_length": self.normalized_length,
                "spans": [s.to_json() for s in self.spans], "coverage": self.coverage,
                "longest": self.longest, "licenses": self.licenses, "candidates": self.candidates,
                "filter": self.filter, "truncated": self.truncated, "limits": self.limits.to_json(),
                "unverified": [list(r) for r in self.unverified],
                "near_duplicates": [n.to_json() for n in self.near_duplicates]}


# -- helpers -------------------------------------------------------------------------------------
_SPACES = (10, 32)  # the only whitespace left in normalized text


def _hashes(values) -> np.ndarray:
    """Chunk hashes (Python ints, in order) as the ``uint64`` array a store looks up."""
    return np.fromiter(values, dtype=np.uint64, count=len(values))


def _common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the common prefix of two code arrays, in growing blocks (cheap when short)."""
    n = min(len(a), len(b))
    done, block = 0, 64
    while done < n:
        end = min(n, done + block)
        diff = np.flatnonzero(a[done:end] != b[done:end])
        if len(diff):
            return done + int(diff[0])
        done, block = end, block * 4
    return n


class _Lines:
    """Raw offset -> 1-based line number."""

    def __init__(self, text: str):
        codes = (np.frombuffer(text.encode("ascii"), np.uint8) if text.isascii()
                 else np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32))
        self.starts = np.flatnonzero(codes == 10) + 1

    def line(self, offset: int) -> int:
        return int(np.searchsorted(self.starts, offset, side="right")) + 1


@dataclass
class _Match:
    qs: int
    qe: int
    doc: StoredContent
    dn: Normalized
    ds: int
    de: int


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
    """An index's store and Bloom filter, opened once, answering membership and attribution."""

    def __init__(self, store: ContentStore, bloom: BloomFilter, *, chunks: ChunkConfig = ChunkConfig(),
                 minhash: MinHashConfig | None = None, config: AttributionConfig = AttributionConfig(),
                 sketch: dict | None = None, pending_optouts: Callable[[int], int] | None = None):
        """``chunks`` and ``minhash`` are the sketch the store and the filter were built with
        (``minhash`` None: no near-duplicates); ``sketch`` is the filter's ``sketch.json``;
        ``pending_optouts(seq)`` counts the opt-outs after ``seq`` that removed chunks (the
        opt-out ledger's; None: there are none)."""
        self.store, self.bloom, self.chunks, self.config = store, bloom, chunks, config
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
    def no_limits(self, common_threshold: int | None = None) -> AttributionLimits:
        """The limits of an answer that nothing cut (a text too short to look up)."""
        threshold = self.config.common_threshold if common_threshold is None else common_threshold
        return AttributionLimits(max_candidates=self.config.max_candidates, candidates_available=0,
                                 common_candidates=threshold + 1)

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
        near = (self.near.find(text, lang=lang, path=path)
                if near_duplicates and self.near is not None else None)
        limits = replace(self.no_limits(threshold),
                         near_duplicate_candidates_available=near.candidates_available if near else None)
        windows = window_hashes(norm.codes, self.chunks)
        offsets = np.flatnonzero(self.bloom.contains(windows))
        empty = Attribution(len(text), len(norm), (), 0.0, 0, lic.summarize([]), 0, self.filter_info,
                            limits, near_duplicates=near.near_duplicates if near else ())
        if not len(offsets):
            return empty
        hit_hashes = windows[offsets]
        unique = distinct(hit_hashes)
        df = dict(zip(unique.tolist(), self.store.chunk_doc_counts(unique).tolist()))  # chunk -> contents
        live = [h for h, n in df.items() if n]
        if not live:
            return empty  # every hit was a false positive of the filter
        # Every content holding a rare hit is fetched, up to max_candidates; for hits held by
        # more contents than the threshold, enough to prove a span common (their spans' counts
        # are then lower bounds, flagged): boilerplate costs a few fetches, not max_candidates.
        rare = _hashes([h for h in live if df[h] <= threshold])
        frequent = _hashes([h for h in live if df[h] > threshold])
        docs = self.store.contents_with_chunks(rare, limit=cfg.max_candidates) if len(rare) else []
        # At the cap the store counts what was left out (exactly; a guess would be silent).
        available = (max(len(docs), self.store.count_contents_with_chunks(rare))
                     if len(docs) >= cfg.max_candidates else len(docs))
        cut = {"rare": available > len(docs), "frequent": False}
        if len(frequent):
            have = {d.sha for d in docs}
            more = self.store.contents_with_chunks(frequent, limit=threshold + 1)
            cut["frequent"] = len(more) > threshold
            docs += [d for d in more if d.sha not in have]
        matches, fetched_with = self._extend_all(norm, offsets, hit_hashes, docs)
        unverified = self._unverified(norm, offsets, hit_hashes, df, fetched_with, matches, threshold, cut)
        limits = replace(limits, candidates_available=available, unverified_windows=len(unverified))
        result = self._report(text, norm, matches, df, fetched_with, windows, offsets, len(docs),
                              min_length, threshold, max_sources, limits)
        return replace(result, unverified=self._raw_ranges(norm, unverified),
                       near_duplicates=near.near_duplicates if near else ())

    def _unverified(self, norm: Normalized, offsets: np.ndarray, hit_hashes: np.ndarray, df: dict,
                    fetched_with: dict, matches: list[_Match], threshold: int, cut: dict) -> list[int]:
        """Offsets of the hit windows that a fetch limit left unverified: some content holding
        the chunk was not fetched, and fewer than ``threshold + 1`` fetched contents hold the
        window's text (at the chunk's place or elsewhere: a license header sits at other
        offsets in other files), so it is not proven common either.

        Note:
            A fetch that was not cut returned every live holder of its chunks, so its hits are
            verified even where ``df`` still counts a removed content (tantivy, until merged).
        """
        suspects = []
        for i, h in zip(offsets.tolist(), hit_hashes.tolist()):
            n = df.get(h, 0)
            if n and cut["rare" if n <= threshold else "frequent"] and \
                    fetched_with.get(h, 0) < min(n, threshold + 1):
                suspects.append(i)
        if not suspects:
            return []
        # holders[i]: fetched contents with a match covering the window that starts at i
        w = self.chunks.width
        starts: dict[str, list[tuple[int, int]]] = {}
        for m in matches:
            if m.qe - m.qs >= w:
                starts.setdefault(m.doc.sha, []).append((m.qs, m.qe - w + 1))
        change = np.zeros(len(norm) + 1, np.int32)
        for ranges in starts.values():  # each content counts once per window
            ranges.sort()
            a, b = ranges[0]
            for c, d in ranges[1:] + [(len(norm) + 1, len(norm) + 1)]:
                if c > b:
                    change[a] += 1
                    change[b] -= 1
                    a, b = c, d
                else:
                    b = max(b, d)
        holders = np.cumsum(change)
        return [i for i in suspects if holders[i] <= threshold]

    def _raw_ranges(self, norm: Normalized, starts: list[int]) -> tuple[tuple[int, int], ...]:
        """Windows at normalized ``starts`` (sorted), merged where they overlap or touch, as raw
        ``[start, end)`` ranges of the input."""
        w, merged = self.chunks.width, []
        for i in starts:
            if merged and i <= merged[-1][1]:
                merged[-1][1] = i + w
            else:
                merged.append([i, i + w])
        return tuple(norm.raw_span(a, b) for a, b in merged)

    def _extend_all(self, norm: Normalized, offsets: np.ndarray, hit_hashes: np.ndarray,
                    docs: list[StoredContent]):
        """Seeds in every candidate, verified and extended; also, per hit hash, how many of the
        fetched contents hold it (to know whether a span's count is complete)."""
        w, s = self.chunks.width, self.chunks.stride
        by_hash: dict[int, list[int]] = {}
        for i, h in zip(offsets.tolist(), hit_hashes.tolist()):
            by_hash.setdefault(h, []).append(i)
        q = norm.codes
        matches: list[_Match] = []
        fetched_with: dict[int, int] = {}
        for doc in docs:
            dn = normalize(doc.content)
            d = dn.codes
            dh = chunk_hashes(d, self.chunks).tolist()
            found: dict[int, list[tuple[int, int]]] = {}  # diagonal -> [(qs, qe)]
            seen_here = set()
            for j, h in enumerate(dh):
                where = by_hash.get(h)
                if not where:
                    continue
                seen_here.add(h)
                p = j * s
                for i in where:
                    diag = i - p
                    if any(a <= i and i + w <= b for a, b in found.get(diag, ())):
                        continue
                    if not np.array_equal(q[i:i + w], d[p:p + w]):
                        continue  # a 64-bit hash collision: never reported
                    left = _common_prefix(q[:i][::-1], d[:p][::-1])
                    right = _common_prefix(q[i + w:], d[p + w:])
                    # A span neither starts nor ends on the whitespace between lines or words.
                    cut_l = int(q[i - left] in _SPACES)
                    cut_r = int(q[i + w + right - 1] in _SPACES)
                    m = _Match(i - left + cut_l, i + w + right - cut_r, doc, dn,
                               p - left + cut_l, p + w + right - cut_r)
                    found.setdefault(diag, []).append((m.qs, m.qe))
                    matches.append(m)
            for h in seen_here:
                fetched_with[h] = fetched_with.get(h, 0) + 1
        return matches, fetched_with

    def _report(self, text, norm, matches, df, fetched_with, windows, offsets, candidates,
                min_length, threshold, max_sources, limits) -> Attribution:
        # A content's match inside a longer match of the same content (its text occurs twice
        # there) adds nothing: the spans are the query ranges of the other matches.
        by_doc: dict[str, list[_Match]] = {}
        for m in matches:
            by_doc.setdefault(m.doc.sha, []).append(m)
        ranges = set()
        for ms in by_doc.values():
            ms.sort(key=lambda m: (m.qs - m.qe, m.ds))  # longest first
            for k, m in enumerate(ms):
                if m.qe - m.qs >= min_length and not any(
                        o.qs <= m.qs and m.qe <= o.qe for o in ms[:k]):
                    ranges.add((m.qs, m.qe))
        ranges = sorted(ranges, key=lambda r: (-(r[1] - r[0]), r[0]))
        qlines = _Lines(text)
        line_maps: dict[str, _Lines] = {}  # per content, shared by its spans
        hit_list = list(zip(offsets.tolist(), windows[offsets].tolist()))
        w = self.chunks.width
        spans, real_ranges, real_sources = [], [], {}
        for qs, qe in ranges:
            holders: dict[str, _Match] = {}
            for sha, ms in by_doc.items():  # every content holding the range; where it is
                inner = [m for m in ms if m.qs <= qs and qe <= m.qe]  # exactly, else longest
                if inner:
                    holders[sha] = next((m for m in inner if (m.qs, m.qe) == (qs, qe)), inner[0])
            inside = {h for i, h in hit_list if qs <= i and i + w <= qe}
            complete = all(fetched_with.get(h, 0) >= df.get(h, 0) for h in inside)
            count = sum(len(m.doc.sources) for m in holders.values())
            # Contents whose maximal match is exactly this span first (it is maximal for them;
            # the others hold a longer match, reported as its own span), then by stars.
            ordered = sorted(holders.values(), key=lambda m: ((m.qs, m.qe) != (qs, qe), -m.doc.stars,
                                                              m.doc.primary.repo, m.doc.primary.path))
            sources = tuple(self._source(m, qs, qe, line_maps) for m in ordered[:max_sources])
            ra, rb = norm.raw_span(qs, qe)
            if count <= threshold:
                real_ranges.append((qs, qe))
                real_sources.update({(src.repo, src.path): src for m in holders.values()
                                     for src in m.doc.sources})
            spans.append(AttributedSpan(
                start=ra, end=rb, text=text[ra:rb], start_line=qlines.line(ra),
                end_line=qlines.line(max(rb - 1, ra)), normalized_length=qe - qs,
                common=count > threshold, count=count, count_complete=complete,
                contents=len(holders), sources=sources,
                licenses=lic.summarize(s.licenses for m in holders.values() for s in m.doc.sources)))
        covered = np.zeros(len(norm), bool)
        for qs, qe in real_ranges:
            covered[qs:qe] = True
        return Attribution(
            length=len(text), normalized_length=len(norm), spans=tuple(spans),
            coverage=float(covered.mean()),
            longest=max((qe - qs for qs, qe in real_ranges), default=0),
            licenses=lic.summarize(src.licenses for src in real_sources.values()),
            candidates=candidates, filter=self.filter_info, limits=limits)

    @staticmethod
    def _source(m: _Match, qs: int, qe: int, line_maps: dict) -> SourceMatch:
        ds, de = m.ds + (qs - m.qs), m.ds + (qe - m.qs)
        ra, rb = m.dn.raw_span(ds, de)
        lines = line_maps.get(m.doc.sha) or line_maps.setdefault(m.doc.sha, _Lines(m.doc.content))
        primary = m.doc.primary
        others = tuple({"repo": s.repo, "path": s.path, "licenses": list(s.licenses)}
                       for s in m.doc.sources if s != primary)
        return SourceMatch(sha=m.doc.sha, repo=primary.repo, path=primary.path,
                           licenses=m.doc.licenses, lang=m.doc.lang, stars=m.doc.stars,
                           url=primary.url, start=ra, end=rb, start_line=lines.line(ra),
                           end_line=lines.line(max(rb - 1, ra)), documents=len(m.doc.sources),
                           also_in=others)
