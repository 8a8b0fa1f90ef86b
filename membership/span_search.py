"""Maximal matches of a query in the span index, on chunk hashes only.

A query's window at normalized offset ``q`` equals a corpus chunk exactly when its hash is one of
the span index's tokens (:meth:`membership.chunk_sa.ChunkSA.tokens`). Windows ``stride`` apart
tile the query, so the windows of one residue class ``q mod stride`` that hit form *runs*; a
document holding a verbatim copy of the query text, on its own chunk grid, holds a run's
consecutive tokens as consecutive chunks. This module finds, per run, its **maximal matches**:
each longest token sequence of the run that some document holds, that no longer held sequence of
the run contains, with its suffix-array range (every occurrence; the documents holding it). With
each, its *prefix* matches: the shorter starts of it that more occurrences hold, where other
documents' own matches end (a licence header before the file's own code; they fall out of the
range as it narrows), so those documents are reported with the part they hold. (A document
whose match is a shorter *end* of a maximal match is counted only where it holds a reported
span's chunks: finding those would take the suffix array of the reversed texts.)

Note:
    For a run ``t`` let ``ms(j)`` be the longest prefix of ``t[j:]`` held by the corpus. Then
    ``end(j) = j + ms(j)`` never decreases (a held ``t[j:e]`` holds ``t[j + 1:e]``), and the
    maximal matches are, for each value of ``end``, the smallest ``j`` reaching it. From a match
    ``[i, e)`` the next is found by a binary search for the smallest ``j`` in ``(i, e]`` with
    ``t[j:e + 1]`` held: ``O(log(e - i))`` lookups of ``O(length · log N)`` each. A run copied
    from one document is one lookup; nothing here reads a document or grows with how many
    documents hold a chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chunk_sa import ChunkSA
from .chunks import distinct


@dataclass(frozen=True)
class ChunkMatch:
    """A maximal match: the query's normalized ``[start, start + length * stride)`` is held, as
    ``length`` consecutive chunks, by the suffixes ``sa[l:r]`` (and by no longer run of the
    query's windows there). A *prefix* match is a shorter start of one that more occurrences
    hold: documents whose own match ends there (a licence header before a file's own code);
    ``parent`` is the index of the match it narrows to (the next longer prefix, or the maximal
    match itself), whose documents are the ones that do not end there."""

    start: int
    length: int  # chunks
    l: int
    r: int
    tokens: np.ndarray  # the matched tokens
    parent: int | None = None


def maximal_matches(sa: ChunkSA, tokens: np.ndarray, stride: int) -> list[ChunkMatch]:
    """Every maximal match of the query whose window at each offset has token ``tokens[i]``
    (-1: not a corpus chunk), over all residue classes; a single hit is a match of one chunk."""
    hit = np.flatnonzero(tokens >= 0)
    if not len(hit):
        return []
    hit = hit[np.lexsort((hit // stride, hit % stride))]  # by residue, then offset
    breaks = np.flatnonzero(np.diff(hit) != stride) + 1
    starts, ends = np.concatenate(([0], breaks)), np.concatenate((breaks, [len(hit)]))
    out: list[ChunkMatch] = []
    single = starts[ends - starts == 1]
    if len(single):  # isolated hits: one table lookup for all of them
        at = hit[single]
        ls, rs = sa.first_ranges(tokens[at])
        out += [ChunkMatch(int(q), 1, int(l), int(r), tokens[q:q + 1])
                for q, l, r in zip(at.tolist(), ls.tolist(), rs.tolist())]
    for s, e in zip(starts.tolist(), ends.tolist()):
        if e - s > 1:
            q0 = int(hit[s])
            run = tokens[q0:int(hit[e - 1]) + 1:stride]
            for i, n, l, r, prefixes in _run_matches(sa, run):
                at = len(out)
                out.append(ChunkMatch(q0 + i * stride, n, l, r, run[i:i + n]))
                for j, p in enumerate(prefixes):  # shortest first: each narrows to the next
                    narrows_to = at if j == len(prefixes) - 1 else at + 2 + j
                    out.append(ChunkMatch(q0 + i * stride, p.length, p.l, p.r, run[i:i + p.length], narrows_to))
    return out


def _run_matches(sa: ChunkSA, run: np.ndarray) -> list[tuple[int, int, int, int, list]]:
    """``(i, length, l, r, prefixes)`` of each maximal match of one run (see the module's
    note), with the shorter prefixes that more occurrences hold."""
    m, i, out = len(run), 0, []
    while i < m:
        shrinks: list = []
        found = sa.match(run[i:], shrinks)
        end = i + found.length
        out.append((i, found.length, found.l, found.r, shrinks))
        if end >= m:
            break
        lo, hi = i + 1, end  # t[end:end + 1] is held (a hit): hi always qualifies
        while lo < hi:
            mid = (lo + hi) // 2
            if sa.match(run[mid:end + 1]).length == end + 1 - mid:
                hi = mid
            else:
                lo = mid + 1
        i = lo
    return out


def occurrences(sa: ChunkSA, doc: int, match: ChunkMatch, limit: int = 16) -> np.ndarray:
    """Up to ``limit`` positions of ``sa.text`` where document ``doc`` holds ``match``, first
    ones first (a repetitive document holds it at several): found among the match's suffixes
    when they are fewer than the document's chunks, else by scanning the document's tokens."""
    ds, de = int(sa.doc_starts[doc]), int(sa.doc_starts[doc + 1]) - 1
    n = match.length
    if match.r - match.l <= de - ds:
        where = sa.sa[match.l:match.r].astype(np.int64)
        return np.sort(where[sa.doc_of[where] == doc])[:limit]
    body = sa.text[ds:de]
    at = np.flatnonzero(body[:max(0, len(body) - n + 1)] == match.tokens[0])
    for i in range(1, n):  # the starts whose next tokens match too, token by token
        if not len(at):
            break
        at = at[body[at + i] == match.tokens[i]]
    return (ds + at[:limit]).astype(np.int64)


def occurrences_many(sa: ChunkSA, matches: list[ChunkMatch], docs: list[list[int]], *, scan: int = 256,
                     limit: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(match, document, position)`` of the first ``limit`` positions where each document
    of ``docs[k]`` holds match ``k`` (:func:`occurrences` of every pair): read off the suffixes
    of the matches held at most ``scan`` times, all at once; the others one by one."""
    pairs = [(k, d) for k, ds in enumerate(docs) for d in ds]
    if not pairs:
        return (np.zeros(0, np.int64),) * 3
    pk, pd = np.array(pairs, np.int64).T
    l = np.array([m.l for m in matches], np.int64)
    r = np.array([m.r for m in matches], np.int64)
    few = r[pk] - l[pk] <= scan
    out = []
    read = distinct(pk[few])  # the matches whose suffixes are read
    if len(read):
        n = r[read] - l[read]
        at = np.repeat(l[read] - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
        pos = sa.sa[at].astype(np.int64)
        key = np.repeat(read, n) * sa.docs + sa.doc_of[pos]
        keep = np.isin(key, pk[few] * sa.docs + pd[few])
        key, pos = key[keep], pos[keep]
        order = np.lexsort((pos, key))
        key, pos = key[order], pos[order]
        first = np.searchsorted(key, key)  # each one's rank among its pair's: the first ``limit``
        keep = np.arange(len(key)) - first < limit
        out.append((key[keep] // sa.docs, key[keep] % sa.docs, pos[keep]))
    ks, ds, ps = [], [], []
    for k, d in zip(pk[~few].tolist(), pd[~few].tolist()):
        at = occurrences(sa, d, matches[k], limit).tolist()
        ks += [k] * len(at)
        ds += [d] * len(at)
        ps += at
    out.append((np.array(ks, np.int64), np.array(ds, np.int64), np.array(ps, np.int64)))
    return tuple(np.concatenate(x).astype(np.int64) for x in zip(*out))
