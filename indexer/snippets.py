"""Where a query matches inside a document: match ranges, grouped into line snippets.

A query made for the redacted view (``SearchQuery.redacted``) matches only outside PII
(:mod:`indexer.pii`): an occurrence that overlaps an email address, IP address or key does not
count, so what is found, counted and shown is what a search of the redacted text would find
outside its placeholders, and nothing is learned about what a placeholder hides. For literals
:func:`literal_occurrences` decides it; for keywords :func:`verified_occurrences` finds where
the index could have matched each one (:func:`keyword_occurrences`) and keeps the document if
one of those places lies outside PII.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

from . import analysis
from .pii import PiiScan
from .query import Keyword, SearchQuery

# A minified line can be megabytes long; show a window around its first match.
MAX_LINE_CHARS = 400
MAX_SNIPPETS = 50


@dataclass(frozen=True)
class Snippet:
    """One matching line: 1-based ``line`` number, its (possibly windowed) ``text``, the
    ``[start, end)`` character ranges of the matches in that text, and the character
    ``column`` where ``text`` starts in the full line (non-zero when windowed)."""

    line: int
    text: str
    ranges: tuple[tuple[int, int], ...]
    column: int = 0

    def to_json(self) -> dict:
        return {"line": self.line, "column": self.column, "text": self.text,
                "ranges": [list(r) for r in self.ranges]}


def literal_ranges(content: str, literal: str, *, pii: PiiScan | None = None) -> list[tuple[int, int]]:
    """Every non-overlapping occurrence of ``literal`` in ``content``, left to right; with
    ``pii``, only those outside it.

    Note:
        An occurrence that overlaps a finding is skipped and the scan goes on after the finding,
        so the occurrences are exactly those a left-to-right scan finds in each stretch of text
        between findings: a search of the redacted text, outside its placeholders.
    """
    out, i = [], content.find(literal)
    while i >= 0:
        after = pii.overlap_end(i, i + len(literal)) if pii is not None else None
        if after is None:
            out.append((i, i + len(literal)))
            after = i + len(literal)
        i = content.find(literal, after)
    return out


def literal_occurrences(content: str, query: SearchQuery, pii: PiiScan | None = None) -> int | None:
    """How many times ``query``'s literals occur in ``content`` (outside PII for a redacted
    query), or None when one of them does not: the check that makes literal results exact."""
    if not all(lit in content for lit in query.literals):
        return None
    if not query.redacted:
        return sum(content.count(lit) for lit in query.literals)
    pii = pii or PiiScan(content)
    counts = [len(literal_ranges(content, lit, pii=pii)) for lit in query.literals]
    return sum(counts) if all(counts) else None


@functools.lru_cache(maxsize=256)
def _keyword_patterns(kw: Keyword) -> tuple[tuple[re.Pattern, ...], re.Pattern | None, tuple[int, ...]]:
    """For lowercased text: the keyword's words, and its pieces, as phrases (word tokens in a
    row, whatever separates them); its pieces run together (to be checked at part boundaries),
    with where each piece after the first starts. Each pattern starts with a word, so the
    engine skips to it; the boundary before is checked apart."""
    def phrase(seq):
        return re.compile(r"[\W_]+".join(map(re.escape, seq)) + r"(?![^\W_])")

    phrases = tuple(phrase(seq) for seq in dict.fromkeys((kw.words, kw.parts)) if seq)
    joined = re.compile(re.escape("".join(kw.parts))) if kw.parts else None
    cuts, at = [], 0
    for piece in kw.parts[:-1]:
        at += len(piece)
        cuts.append(at)
    return phrases, joined, tuple(cuts)


def keyword_occurrences(content: str, kw: Keyword):
    """Where the index can have matched ``kw`` in ``content``, phrases first: its words (or
    pieces) as a phrase of word tokens, and its pieces in a row inside a camel word, each
    starting and ending at a part boundary (``bar`` in ``fooBar``, not in ``foobar``; ``fooBar``
    in ``getFooBar``, not in ``getFooBAr``)."""
    phrases, joined, cuts = _keyword_patterns(kw)
    lowered = content.lower()
    if len(lowered) != len(content):  # a letter whose lowercase is longer: match case-blind instead
        lowered = content
        phrases = tuple(re.compile(rx.pattern, re.IGNORECASE) for rx in phrases)
        joined = joined and re.compile(joined.pattern, re.IGNORECASE)
    for rx in phrases:
        m = rx.search(lowered)
        while m is not None:
            s = m.start()
            if s == 0 or not content[s - 1].isalnum():
                yield m.span()
                m = rx.search(lowered, m.end())
            else:
                m = rx.search(lowered, s + 1)
    if joined is None:
        return
    m = joined.search(lowered)
    while m is not None:
        s, e = m.span()
        if all(analysis.is_part_boundary(content, i) == (i in (s, e) or i - s in cuts) for i in range(s, e + 1)):
            yield s, e  # a boundary at each end and between pieces, none inside one
        m = joined.search(lowered, s + 1)


def verified_occurrences(content: str, query: SearchQuery) -> int | None:
    """The literal occurrences of :func:`literal_occurrences`, or None when the document does
    not match ``query`` as its redacted text would: besides the literals, for a redacted query
    with keywords, one of them found (:func:`keyword_occurrences`) only inside PII.

    Note:
        A keyword found nowhere by :func:`keyword_occurrences` keeps the document: the index
        matched it in a way the patterns do not see (a rare non-ASCII case), so nothing says
        the match lies in PII, and a result is never dropped on a guess.
    """
    pii = PiiScan(content) if query.redacted else None
    n = literal_occurrences(content, query, pii)
    if n is None or pii is None:
        return n
    for kw in query.keywords:
        inside = False
        for s, e in keyword_occurrences(content, kw):
            if pii.overlap_end(s, e) is None:
                break
            inside = True
        else:
            if inside:
                return None
    return n


def match_ranges(content: str, query: SearchQuery) -> list[tuple[int, int]]:
    """Sorted ranges of everything in ``content`` that made it match ``query``: literal
    occurrences, keyword words found whole, and keyword pieces inside camel words; for a
    redacted query, none that overlaps PII.

    Only occurrences of the wanted terms are looked at (one case-insensitive scan in C), so a
    megabyte file costs a scan, not a tokenization.
    """
    pii = PiiScan(content) if query.redacted else None
    ranges: list[tuple[int, int]] = []
    for literal in query.literals:
        ranges.extend(literal_ranges(content, literal, pii=pii))
    words = frozenset(w for k in query.keywords for w in k.words)
    pieces = frozenset(p for k in query.keywords for p in k.parts)
    if words or pieces:
        found = _term_ranges(content, words, pieces)
        ranges.extend(found if pii is None else (r for r in found if pii.overlap_end(*r) is None))
    return _merge(ranges)


@functools.lru_cache(maxsize=256)
def _needles(terms: frozenset[str]) -> tuple[re.Pattern, tuple[int, ...]]:
    ordered = sorted(terms, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(t) for t in ordered), re.IGNORECASE)
    return pattern, tuple(sorted({len(t) for t in terms}, reverse=True))


def _term_ranges(content: str, words: frozenset[str], pieces: frozenset[str]):
    pattern, lengths = _needles(words | pieces)
    pos = 0
    while True:
        m = pattern.search(content, pos)
        if m is None:
            return
        s = m.start()
        for n in lengths:
            e = s + n
            if e > len(content):
                continue
            text = content[s:e].lower()
            whole = ((s == 0 or not content[s - 1].isalnum())
                     and (e == len(content) or not content[e].isalnum()))
            if (whole and text in words) or (text in pieces and analysis.is_part_boundary(content, s)
                                             and analysis.is_part_boundary(content, e)):
                yield s, e
                pos = e
                break
        else:
            pos = s + 1


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def line_snippets(content: str, ranges: list[tuple[int, int]], *,
                  limit: int = MAX_SNIPPETS) -> list[Snippet]:
    """Group match ranges by line; at most ``limit`` lines, in file order.

    A range spanning several lines is shown on the line where it starts, clipped to it.
    """
    line_starts = [0]
    pos = content.find("\n")
    while pos >= 0:
        line_starts.append(pos + 1)
        pos = content.find("\n", pos + 1)
    by_line: dict[int, list[tuple[int, int]]] = {}
    for s, e in ranges:
        i = bisect.bisect_right(line_starts, s) - 1
        if i not in by_line and len(by_line) >= limit:
            break
        by_line.setdefault(i, []).append((s, e))
    snippets = []
    for i, line_ranges in by_line.items():
        start = line_starts[i]
        end = line_starts[i + 1] - 1 if i + 1 < len(line_starts) else len(content)
        line = content[start:end]
        if line.endswith("\r"):
            line = line[:-1]
            end -= 1
        local = [(s - start, max(min(e, end), s) - start) for s, e in line_ranges]
        column = 0
        if len(line) > MAX_LINE_CHARS:
            column = max(0, local[0][0] - MAX_LINE_CHARS // 4)
            line = line[column:column + MAX_LINE_CHARS]
            local = [(max(s - column, 0), min(e - column, len(line))) for s, e in local
                     if s - column < len(line)]
        snippets.append(Snippet(line=i + 1, text=line,
                                ranges=tuple(local), column=column))
    return snippets
