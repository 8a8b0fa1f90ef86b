"""``*.chunksa``: a suffix array over the corpus's chunk-hash sequences.

Each unique content is, at index time, a sequence of chunk hashes at stride 50
(:func:`membership.chunks.document_chunk_hashes`). This module concatenates those sequences into
one text ``T`` of dense integer tokens and sorts all its suffixes, so that a chain of query
windows (the windows at ``q``, ``q + 50``, ``q + 100``, ... of one residue class) is looked up
token by token: the longest prefix of the chain that occurs somewhere in the corpus, and the
range ``[l, r)`` of the suffix array holding every occurrence. The work is a binary search per
token, bounded by the query and ``log N``, never by how many documents repeat the chunks.

Tokens: every distinct corpus hash gets its rank among the sorted distinct hashes (``0 .. V-1``),
so ``T`` is ``uint32``; a query hash is mapped with ``searchsorted`` on the stored sorted hashes
(a hash the corpus lacks ends the chain there). Document ``d``'s sequence is followed by the
separator token ``V + d``, unique to it, so no suffix compares equal past the end of its
document: two suffixes share a prefix only inside their documents. The separators sort after
every real token, so the suffix array keeps only the suffixes that start on a real token
(the separators' own suffixes would be its last ``D`` entries, never matched by a query).

Stored alongside, per position of ``T``: ``doc_of`` (the document's number: its place in the
list given to :func:`build`) and ``offsets``, the raw character offset of the chunk's start in
its content (at a separator, the content's raw length), so a span found on hashes maps back to
the raw text without normalizing the document. ``bucket[t]`` is where the suffixes starting with
token ``t`` begin in the suffix array (the first token's range costs one lookup), and
``doc_starts[d]`` is where document ``d`` begins in ``T``.

Documents of a range: a range ``[l, r)`` of the suffix array (every occurrence of a matched span)
may hold one document or a hundred thousand copies of a licence header. Two wavelet matrices
(:mod:`membership.wavelet`) over the range's suffixes answer in ``O(log N)`` steps whatever its
length: one over each suffix's previous suffix-array index in the same document counts its
distinct documents (:meth:`ChunkSA.count_documents`); one over each suffix's document *rank*
(the place the builder gave it, by stars then path) lists the ``k`` documents that rank first
(:meth:`ChunkSA.first_documents`) in ``O(k log N)``: the ``k`` smallest distinct ranks.

File layout: membership's frame (:mod:`membership.framing`) with magic ``b"SSCHKSA\\x01"``, the
JSON header ``{format_version, chunk, docs, distinct, positions, tokens, prev_bits, rank_bits,
labels, label_entries, arrays: {name: [offset, count]}, checksum}``, then::

    arrays, each padded to 8 bytes, in the order of ``_ARRAYS``:
      hashes      uint64[V]       the sorted distinct chunk hashes; token t stands for hashes[t]
      bucket      uint64[V + 1]   suffix-array start of the suffixes whose first token is t
      text        uint32[N]       T: tokens, a separator V + d after document d
      sa          uint32[n]       the suffix array over the n = N - D token positions
      doc_of      uint32[N]       document of each position of T
      offsets     uint32[N]       raw character offset of each chunk (a separator: raw length)
      doc_starts  uint64[D + 1]   first position of each document in T; the last is N
      prev_words, prev_before, prev_zeros
                                  a wavelet matrix (membership.wavelet) over, in suffix-array
                                  order, one more than the previous suffix-array index whose
                                  suffix lies in the same document (0: none): the distinct
                                  documents of a range [l, r) are those entries below l + 1
      doc_rank    uint32[D]       each document's rank, 0 .. D-1 (by stars desc, then path)
      by_rank     uint32[D]       the document of each rank (doc_rank's inverse)
      rank_words, rank_before, rank_zeros
                                  a wavelet matrix over, in suffix-array order, the rank of each
                                  suffix's document: a range's k smallest distinct values are its
                                  k first documents
      doc_sha     uint8[20 D]     each document's content sha (git blob sha, 20 bytes; zeros when
                                  the builder gave none): how a store finds it
      doc_sources uint32[D]       how many sources (repository, path) each document has
      label_starts uint64[D + 1]  where each document's labels begin in the two arrays below
      label_ids   uint32[E]       each document's labels (indexes into the header's ``labels``,
                                  the builder's strings: attribution's are its sources' license
                                  lists) ...
      label_counts uint32[E]      ... and how many of its sources carry each

``checksum`` is the xxh3_64 hex digest of the arrays' bytes in that order (padding excluded).
A saved array is opened with ``numpy.memmap``: nothing is read up front. :func:`verify` reads
everything and checks the checksum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from . import framing
from .chunks import ChunkConfig, distinct, document_chunks
from .wavelet import WaveletMatrix, leading, previous_same

FORMAT_VERSION = 3  # 2: the matrix that counts a range's documents; 3: the one that ranks them, the document table
MAGIC = b"SSCHKSA\x01"

_MAX_TOKENS = (1 << 32) - 1  # uint32 positions and tokens; beyond that, one array per shard
_ARRAYS = (("hashes", "<u8"), ("bucket", "<u8"), ("text", "<u4"), ("sa", "<u4"),
           ("doc_of", "<u4"), ("offsets", "<u4"), ("doc_starts", "<u8"),
           ("prev_words", "<u8"), ("prev_before", "<u4"), ("prev_zeros", "<u8"),
           ("doc_rank", "<u4"), ("by_rank", "<u4"),
           ("rank_words", "<u8"), ("rank_before", "<u4"), ("rank_zeros", "<u8"),
           ("doc_sha", "u1"), ("doc_sources", "<u4"),
           ("label_starts", "<u8"), ("label_ids", "<u4"), ("label_counts", "<u4"))
# Below this many suffixes, the next token of every suffix in a range is gathered at once and
# searched with numpy; above it, a scalar binary search touches only log(range) of them.
_GATHER = 256
# Ranges of at most this many suffixes count and rank their documents by scanning them (faster
# than the wavelet matrices' levels there); longer ones ask a matrix, in O(log N) whatever their
# length. A batch walks the matrix once for all its ranges, so this holds there too.
_SCAN = 256
# One range alone pays the rank matrix's ~20 levels of numpy calls (~0.3 ms), what scanning about
# 4,000 suffixes costs (measured on the demo corpus): first_documents and documents of a single
# range scan up to this many.
_RANK_SCAN = 4096
# A suffix scanned (three gathers, one sort) costs about what a rank-matrix node visited on one
# level does (measured on the 2 GB scale index).
_WALK_COST = 1


class ChunkSAFileError(ValueError):
    """A chunk suffix-array file that is missing pieces, foreign, from another version or corrupt."""


class ChunkSAFormatOutdated(ChunkSAFileError):
    """A file saved in an older format (``version``) than this StarScope reads: rebuild it."""

    def __init__(self, message: str, *, version: int, expected: int = FORMAT_VERSION):
        super().__init__(message)
        self.version, self.expected = version, expected


def content_chunks(contents: Sequence[str], config: ChunkConfig = ChunkConfig()
                   ) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """Per raw content: its chunk hashes, the raw character offset where each chunk starts
    (:func:`membership.chunks.document_chunks`, what the build logs) and its raw length: the
    three arguments of :meth:`ChunkSA.build`."""
    hashes, offsets = document_chunks(contents, config)
    return hashes, offsets, [len(c) for c in contents]


def suffix_array(text: np.ndarray) -> np.ndarray:
    """The suffix array (``int64`` positions) of an integer ``text`` whose last token is unique
    and larger than any other (so no suffix is a prefix of another).

    Note:
        Prefix doubling (Manber and Myers) with numpy sorts: after round ``k`` the suffixes are
        sorted by their first ``2^k`` tokens and each one's rank is the suffix-array index where
        its group of equal prefixes starts. A round re-sorts only the groups that still hold
        several suffixes, by (rank, rank ``2^k`` positions on), so it ends when every rank is
        distinct, after ``log2`` of the longest repeated token run rounds; in a corpus of
        unique contents most groups are singletons after the first rounds.
    """
    n = len(text)
    if n == 0:
        return np.zeros(0, np.int64)
    sa = np.argsort(text, kind="stable").astype(np.int64)
    keys = text[sa]
    rank = np.empty(n, np.int64)
    rank[sa] = _group_heads(keys != np.roll(keys, 1), np.arange(n, dtype=np.int64))
    active = _active(rank[sa])
    k = 1
    while len(active):
        pos = sa[active]
        head = rank[pos]
        nxt = pos + k
        second = np.where(nxt < n, rank[np.minimum(nxt, n - 1)], -1)
        order = np.lexsort((second, head))
        pos, head, second = pos[order], head[order], second[order]
        sa[active] = pos
        change = np.empty(len(active), bool)
        change[0] = True
        change[1:] = (head[1:] != head[:-1]) | (second[1:] != second[:-1])
        rank[pos] = _group_heads(change, active)
        active = active[_active(rank[sa[active]])]
        k *= 2
    return sa


def _group_heads(change: np.ndarray, index: np.ndarray) -> np.ndarray:
    """For sorted items whose groups start where ``change`` is True, the ``index`` of each
    item's group start."""
    change = change.copy()
    change[0] = True
    return np.maximum.accumulate(np.where(change, index, 0))


def _active(heads: np.ndarray) -> np.ndarray:
    """Which of the items (their group heads, in suffix-array order) share a group with another."""
    if len(heads) == 0:
        return np.zeros(0, np.int64)
    same = heads[1:] == heads[:-1]
    shared = np.zeros(len(heads), bool)
    shared[1:] |= same
    shared[:-1] |= same
    return np.flatnonzero(shared)


@dataclass(frozen=True)
class Match:
    """The longest prefix of a chain found in the corpus: ``length`` tokens, held by the suffixes
    ``sa[l:r]`` (its occurrence count is ``r - l``). ``length == 0`` means the first hash is
    not a corpus chunk; the range is then every suffix (the empty prefix occurs everywhere)."""

    length: int
    l: int
    r: int

    @property
    def count(self) -> int:
        return self.r - self.l


class ChunkSA:
    """The suffix array over a corpus's chunk-hash sequences, in memory or mapped from a file."""

    def __init__(self, arrays: dict[str, np.ndarray], *, chunk: dict, labels: Sequence[str] = (),
                 path: Path | None = None, checksum: str = ""):
        # Plain ndarray views of the mapped pages: a np.memmap runs Python code on every slice
        # and gather, which costs more than a query's small reads.
        plain = {name: np.asarray(a) for name, a in arrays.items()}
        self.hashes = plain["hashes"]
        self.bucket = plain["bucket"]
        self.text = plain["text"]
        self.sa = plain["sa"]
        self.doc_of = plain["doc_of"]
        self.offsets = plain["offsets"]
        self.doc_starts = plain["doc_starts"]
        self.prev_words, self.prev_before, self.prev_zeros = \
            plain["prev_words"], plain["prev_before"], plain["prev_zeros"]
        self._distinct = WaveletMatrix.from_arrays(len(self.sa), self.prev_words, self.prev_before,
                                                   self.prev_zeros)
        self.doc_rank, self.by_rank = plain["doc_rank"], plain["by_rank"]
        self.rank_words, self.rank_before, self.rank_zeros = \
            plain["rank_words"], plain["rank_before"], plain["rank_zeros"]
        self._ranks = WaveletMatrix.from_arrays(len(self.sa), self.rank_words, self.rank_before,
                                                self.rank_zeros)
        self.doc_sha, self.doc_sources = plain["doc_sha"], plain["doc_sources"]
        self.label_starts, self.label_ids, self.label_counts = \
            plain["label_starts"], plain["label_ids"], plain["label_counts"]
        self.labels = list(labels)
        self.chunk = chunk
        self.path = path
        self.checksum = checksum  # the saved file's (what files written beside it are paired by)

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"ChunkSA(docs={self.docs}, tokens={len(self.sa)}, distinct={len(self.hashes)}{where})"

    @property
    def docs(self) -> int:
        return len(self.doc_starts) - 1

    def doc_label_counts(self, docs: npt.ArrayLike) -> dict[str, int]:
        """How many sources of ``docs`` (together) carry each label, in ``O(labels of docs)``."""
        if len(docs) <= 16:  # a span's few documents: plain Python costs less than array calls
            totals: dict[int, int] = {}
            for d in np.asarray(docs).tolist():
                a, b = int(self.label_starts[d]), int(self.label_starts[d + 1])
                for i, c in zip(self.label_ids[a:b].tolist(), self.label_counts[a:b].tolist()):
                    totals[i] = totals.get(i, 0) + c
            return {self.labels[i]: totals[i] for i in sorted(totals) if totals[i]}
        docs = np.asarray(docs, np.int64)
        a, b = self.label_starts[docs].astype(np.int64), self.label_starts[docs + 1].astype(np.int64)
        n = b - a
        if not n.sum():
            return {}
        at = np.repeat(a - np.concatenate(([0], np.cumsum(n)[:-1])), n) + np.arange(int(n.sum()))
        ids, where = np.unique(self.label_ids[at], return_inverse=True)
        totals = np.bincount(where.reshape(-1), weights=self.label_counts[at])
        return {self.labels[i]: int(c) for i, c in zip(ids.tolist(), totals.tolist()) if c}

    def shas(self, docs: npt.ArrayLike) -> list[str]:
        """The content sha (hex) of each of ``docs``."""
        rows = self.doc_sha.reshape(-1, 20)[np.asarray(docs, np.int64)]
        return [bytes(r).hex() for r in rows]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name, _ in _ARRAYS}

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self._arrays().values())

    # -- build --------------------------------------------------------------------------------
    @classmethod
    def build(cls, hashes: Sequence[np.ndarray], offsets: Sequence[np.ndarray], raw_lengths: Sequence[int],
              *, doc_rank: npt.ArrayLike | None = None, doc_shas: Sequence[str] | None = None,
              doc_sources: Sequence[int] | None = None, doc_labels: Sequence[Mapping[str, int]] | None = None,
              chunk: ChunkConfig = ChunkConfig()) -> ChunkSA:
        """The suffix array of documents given as their chunk hashes (``uint64``, in order), each
        chunk's raw start offset and each document's raw length (:func:`content_chunks` gives
        all three). Document ``d`` is the ``d``-th sequence; empty ones are kept (no tokens).

        ``doc_rank``: each document's place in the order :meth:`first_documents` lists sources
        in (the caller's: by stars descending, then path), a permutation of ``0 .. D-1``; by
        default the document numbers themselves. ``doc_shas``: each document's content sha (40
        hex digits; default none, stored as zeros), ``doc_sources``: how many sources each has
        (default one); ``doc_labels``: per document, how many of its sources carry each label (a
        string; default none)."""
        if not len(hashes) == len(offsets) == len(raw_lengths):
            raise ValueError(f"hashes, offsets and raw_lengths must have one entry per document, got "
                             f"{len(hashes)}, {len(offsets)} and {len(raw_lengths)}")
        for d, (h, o) in enumerate(zip(hashes, offsets)):
            if len(h) != len(o):
                raise ValueError(f"document {d}: {len(h)} hashes but {len(o)} offsets")
        docs = len(hashes)
        rank = _permutation(doc_rank, docs)
        sha = _sha_table(doc_shas, docs)
        sources = np.ones(docs, np.uint32) if doc_sources is None else np.asarray(doc_sources, np.int64)
        if len(sources) != docs or (docs and (sources.min() < 0 or sources.max() >= 1 << 32)):
            raise ValueError(f"doc_sources must hold one count in [0, 2**32) per document ({docs})")
        labels, label_arrays = _label_table(doc_labels, docs)
        lengths = np.array([len(h) for h in hashes], np.int64)
        tokens = int(lengths.sum())
        n = tokens + docs
        if n > _MAX_TOKENS:
            raise ValueError(f"{tokens} chunks in {docs} documents exceed the {_MAX_TOKENS} positions "
                             "one suffix array holds; build one per shard")
        flat = np.concatenate([np.asarray(h, np.uint64) for h in hashes]) if tokens else np.zeros(0, np.uint64)
        # Ranks by one sort (a searchsorted of every chunk in the distinct table misses the
        # cache on each probe: 3.4 s instead of 0.4 s for 3.3M chunks).
        order = np.argsort(flat)
        ordered = flat[order]
        new = np.ones(len(ordered), bool)
        new[1:] = ordered[1:] != ordered[:-1]
        distinct = ordered[new]
        ranks = np.empty(len(flat), np.int64)
        ranks[order] = np.cumsum(new) - 1
        if len(distinct) + docs > _MAX_TOKENS:
            raise ValueError(f"{len(distinct)} distinct chunks and {docs} documents exceed uint32 tokens")
        doc_starts = np.zeros(docs + 1, np.int64)
        np.cumsum(lengths + 1, out=doc_starts[1:])
        seps = doc_starts[1:] - 1  # position of each document's separator
        is_token = np.ones(n, bool)
        is_token[seps] = False
        text = np.empty(n, np.uint32)
        text[is_token] = ranks
        text[seps] = len(distinct) + np.arange(docs)
        doc_of = np.repeat(np.arange(docs, dtype=np.uint32), lengths + 1)
        raw = np.empty(n, np.int64)
        raw[is_token] = (np.concatenate([np.asarray(o, np.int64) for o in offsets]) if tokens
                         else np.zeros(0, np.int64))
        raw[seps] = np.asarray(raw_lengths, np.int64)
        if len(raw) and (raw.min() < 0 or raw.max() > _MAX_TOKENS):
            raise ValueError("raw offsets must lie in [0, 2**32)")
        sa = suffix_array(text)[:tokens]  # separators sort last: drop their suffixes
        bucket = np.zeros(len(distinct) + 1, np.uint64)
        np.cumsum(np.bincount(text[sa], minlength=len(distinct)), out=bucket[1:])
        sa_docs = doc_of[sa]
        prev = WaveletMatrix(previous_same(sa_docs)).to_arrays()
        ranks = WaveletMatrix(rank[sa_docs]).to_arrays()
        by_rank = np.empty(docs, np.uint32)
        by_rank[rank] = np.arange(docs, dtype=np.uint32)
        arrays = {"hashes": distinct.astype(np.uint64), "bucket": bucket, "text": text,
                  "sa": sa.astype(np.uint32), "doc_of": doc_of, "offsets": raw.astype(np.uint32),
                  "doc_starts": doc_starts.astype(np.uint64), "prev_words": prev["words"],
                  "prev_before": prev["before"], "prev_zeros": prev["zeros"].astype(np.uint64),
                  "doc_rank": rank, "by_rank": by_rank, "rank_words": ranks["words"],
                  "rank_before": ranks["before"], "rank_zeros": ranks["zeros"].astype(np.uint64),
                  "doc_sha": sha, "doc_sources": sources.astype(np.uint32), **label_arrays}
        return cls(arrays, chunk=chunk.to_json(), labels=labels)

    @classmethod
    def from_contents(cls, contents: Sequence[str], *, doc_rank: npt.ArrayLike | None = None,
                      chunk: ChunkConfig = ChunkConfig()) -> ChunkSA:
        """:meth:`build` over raw contents (normalized and hashed here)."""
        return cls.build(*content_chunks(contents, chunk), doc_rank=doc_rank, chunk=chunk)

    # -- queries ------------------------------------------------------------------------------
    def tokens(self, query_hashes: np.ndarray) -> np.ndarray:
        """Each query hash's token (``int64``), or -1 where the corpus has no such chunk."""
        q = np.asarray(query_hashes, np.uint64).reshape(-1)
        # Sorted keys: numpy's searchsorted starts each search from the previous answer, so a
        # query's few thousand hashes read far fewer cache lines of a large table.
        order = np.argsort(q)
        at = np.empty(len(q), np.intp)
        at[order] = np.searchsorted(self.hashes, q[order])
        found = at < len(self.hashes)
        found[found] = self.hashes[at[found]] == q[found]
        return np.where(found, at, -1).astype(np.int64)

    def longest_prefix(self, chain: np.ndarray) -> Match:
        """The longest prefix of ``chain`` (the hashes of windows ``stride`` apart) that occurs in
        the corpus, as consecutive chunks of one document, and its suffix-array range.

        Note:
            The first token's range is ``bucket[t], bucket[t + 1]``. Suffixes in a range that
            agree on ``i`` tokens are sorted by their ``i``-th token, so the next token narrows
            the range by two binary searches: ``O(log r - l)`` probes per token, none reading a
            document. Once one suffix is left, the rest of the chain is compared with it in
            one vectorized step.
        """
        return self.match(self.tokens(chain))

    def match(self, q: np.ndarray, shrinks: list | None = None) -> Match:
        """:meth:`longest_prefix` of a chain already mapped by :meth:`tokens` (a caller that
        covers a chain with several matches maps it once). ``shrinks``: a list that gets the
        ``Match`` of every shorter prefix whose range is wider than the next one's (occurrences
        that end there: other documents' shorter matches), shortest first."""
        m = len(q)
        if m == 0 or q[0] < 0:
            return Match(0, 0, len(self.sa))
        t0 = int(q[0])
        l, r = int(self.bucket[t0]), int(self.bucket[t0 + 1])
        i = 1
        text, sa = self.text, self.sa
        while i < m and r - l > 1:
            t = int(q[i])
            if t < 0:
                return Match(i, l, r)
            if r - l <= _GATHER:
                nxt = text[sa[l:r].astype(np.int64) + i]
                lo, hi = np.searchsorted(nxt, [t, t + 1])
                nl, nr = l + int(lo), l + int(hi)
            else:
                nl = _bound(text, sa, l, r, i, t)
                nr = _bound(text, sa, nl, r, i, t + 1)
            if nl == nr:
                return Match(i, l, r)
            if shrinks is not None and (nl, nr) != (l, r):
                shrinks.append(Match(i, l, r))
            l, r = nl, nr
            i += 1
        if i < m:  # one suffix left: compare the rest of the chain with it at once
            p = int(sa[l])
            end = int(self.doc_starts[int(self.doc_of[p]) + 1]) - 1  # its document's separator
            rest = q[i:min(m, end - p)]
            ours = text[p + i:p + i + len(rest)].astype(np.int64)
            differ = np.flatnonzero(ours != rest)
            i += int(differ[0]) if len(differ) else len(rest)
        return Match(i, l, r)

    def first_ranges(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The suffix-array range ``[l, r)`` of each token (a chain of one), vectorized; empty
        (``l == r``) for -1."""
        t = np.asarray(tokens, np.int64)
        present = t >= 0
        at = np.where(present, t, 0)
        l = self.bucket[at].astype(np.int64)
        r = np.where(present, self.bucket[at + 1].astype(np.int64), l)
        return l, r

    def positions(self, l: int, r: int) -> np.ndarray:
        """Positions in ``T`` of the suffixes ``sa[l:r]`` (``int64``)."""
        return self.sa[l:r].astype(np.int64)

    def documents(self, l: int, r: int) -> np.ndarray:
        """The distinct documents holding the suffixes ``sa[l:r]``, ascending by number.

        Note:
            Scanning the range costs ``r - l``; listing the distinct ranks from the rank matrix
            costs their number times its levels. The count (:meth:`count_documents`, ``O(log N)``)
            says which is less: a licence header's range of 100,000 suffixes in 40 documents is
            listed from the matrix, a range of as many documents as suffixes by the scan.
        """
        l, r = int(l), int(r)
        if r - l > _RANK_SCAN and self.count_documents(l, r) * len(self.rank_zeros) < r - l:
            ranks, _ = self._ranks.distinct(l, r)
            return np.sort(self.by_rank[ranks])
        return distinct(self.doc_of[self.sa[l:r]])

    def count_documents(self, l, r):
        """How many distinct documents hold the suffixes ``sa[l:r]``, for one range or arrays of
        them: a short range is scanned, a long one asks the wavelet matrix (``O(log N)``, so a
        licence header held by thousands of files costs what a rare line does)."""
        if np.ndim(l) == 0 and np.ndim(r) == 0:
            l, r = int(l), int(r)
            return len(self.documents(l, r)) if r - l <= _SCAN else self._distinct.count_less(l, r, l + 1)
        l, r = np.asarray(l, np.int64), np.asarray(r, np.int64)
        return self._distinct.count_less(l, r, l + 1) if len(l) else np.zeros(0, np.int64)

    def first_documents(self, l: int, r: int, k: int) -> np.ndarray:
        """The (up to) ``k`` documents of ``sa[l:r]`` that rank first (the ``doc_rank`` given to
        :meth:`build`), in rank order: ``O(k log N)``, however many suffixes the range holds."""
        l, r = int(l), int(r)
        if k < 0:
            raise ValueError(f"k must be at least 0, got {k}")
        if r - l <= _RANK_SCAN:
            return self.by_rank[distinct(self.doc_rank[self.doc_of[self.sa[l:r]]])[:k]]
        return self.by_rank[self._ranks.smallest_distinct(l, r, k)]

    def first_documents_many(self, l, r, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`first_documents` of each range of the arrays ``l`` and ``r`` at once, as two
        flat arrays ``(query, document)``: the range's index in ``l`` and one of its first
        documents, grouped by range in input order, in rank order within each.

        Note:
            The short ranges (up to 256 suffixes, or not many more suffixes than the rank
            matrix would visit) are scanned together: their suffixes' ranks gathered in one
            array, made distinct per range by one sort. The long ones walk the rank matrix
            together (:meth:`WaveletMatrix.distinct_many`), ``O(k log N)`` each. A query of
            hundreds of matches pays the matrix's levels once, not once per match.
        """
        l, r = np.atleast_1d(np.asarray(l, np.int64)), np.atleast_1d(np.asarray(r, np.int64))
        if l.shape != r.shape or np.any((l < 0) | (r > len(self.sa)) | (l > r)):
            raise IndexError(f"ranges must be arrays of one shape with 0 <= l <= r <= {len(self.sa)}")
        if k < 0:
            raise ValueError(f"k must be at least 0, got {k}")
        # Scanned too: a long range whose suffixes are not many more than the matrix would
        # visit (its first k distinct documents times its levels).
        scan = r - l <= _SCAN
        walk = np.minimum(self.count_documents(l[~scan], r[~scan]), k) * len(self.rank_zeros)
        scan[~scan] = r[~scan] - l[~scan] <= _WALK_COST * walk
        short = np.flatnonzero(scan)
        lengths = (r - l)[short]
        # every suffix of the short ranges: range i's run starts at l[i]
        run = np.repeat(l[short] - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
        ranks = self.doc_rank[self.doc_of[self.sa[run]]].astype(np.int64)
        pairs = distinct(np.repeat(short, lengths) << 32 | ranks)  # sorted by (query, rank)
        sq, srank = pairs >> 32, pairs & 0xFFFFFFFF
        keep = leading(sq, k)
        long = np.flatnonzero(~scan)
        lq, lrank, _ = self._ranks.distinct_many(l[long], r[long], k)
        query = np.concatenate((sq[keep], long[lq]))
        rank = np.concatenate((srank[keep], lrank))
        order = np.argsort(query, kind="stable")  # each part is in rank order per range already
        return query[order], self.by_rank[rank[order]]

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write to ``path`` atomically: a ``.tmp`` sibling, fsynced, then renamed."""
        path = Path(path)
        arrays = {name: np.ascontiguousarray(getattr(self, name), dtype=dtype) for name, dtype in _ARRAYS}
        layout, at = {}, 0
        for name, dtype in _ARRAYS:
            layout[name] = [at, len(arrays[name])]
            at += framing.padded(arrays[name].nbytes)
        header = {"format_version": FORMAT_VERSION, "chunk": self.chunk, "docs": self.docs,
                  "distinct": len(self.hashes), "positions": len(self.text), "tokens": len(self.sa),
                  "prev_bits": len(self.prev_zeros), "rank_bits": len(self.rank_zeros),
                  "labels": self.labels, "label_entries": len(self.label_ids), "arrays": layout,
                  "checksum": framing.checksum(arrays.values())}
        framing.write(path, MAGIC, header, arrays.values())
        self.checksum = header["checksum"]

    @classmethod
    def open(cls, path: str | Path, *, expect_chunk: ChunkConfig | None = None) -> ChunkSA:
        """Map a saved file read-only; checks magic, version, header and exact sizes (not the
        checksum: :func:`verify` reads everything). ``expect_chunk``: the chunking queries will
        be hashed with; a file built with another is refused."""
        path = Path(path)
        header, arrays = _read(path)
        if expect_chunk is not None and header["chunk"] != expect_chunk.to_json():
            raise ChunkSAFileError(f"{path}: built with chunk settings {header['chunk']}, queries use "
                                   f"{expect_chunk.to_json()}; rebuild it")
        return cls(arrays, chunk=header["chunk"], labels=header["labels"], path=path, checksum=header["checksum"])


def _bound(text: np.ndarray, sa: np.ndarray, l: int, r: int, i: int, t: int) -> int:
    """The first index in ``[l, r)`` whose suffix's ``i``-th token is ``>= t`` (``r`` if none)."""
    while l < r:
        mid = (l + r) >> 1
        if text[int(sa[mid]) + i] < t:
            l = mid + 1
        else:
            r = mid
    return l


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The checked header of the file at ``path`` and its arrays, memory-mapped."""
    header, offset, size = framing.read_header(path, MAGIC, what="a StarScope chunk suffix array",
                                               error=ChunkSAFileError)
    version = header.get("format_version")
    if framing.is_count(version) and 1 <= version < FORMAT_VERSION:
        raise ChunkSAFormatOutdated(f"{path}: format version {version}, written by an older StarScope; this "
                                    f"version reads {FORMAT_VERSION}: rebuild it", version=version)
    if version != FORMAT_VERSION:
        raise ChunkSAFileError(f"{path}: format version {version!r}, this version reads {FORMAT_VERSION}; "
                               "rebuild it or upgrade StarScope")
    missing = [k for k in ("chunk", "docs", "distinct", "positions", "tokens", "prev_bits", "rank_bits", "labels",
                           "label_entries", "arrays", "checksum") if k not in header]
    if missing:
        raise ChunkSAFileError(f"{path}: header lacks {', '.join(missing)}; the file is corrupt")
    counts = {k: header[k] for k in ("docs", "distinct", "positions", "tokens", "prev_bits", "rank_bits",
                                     "label_entries")}
    if not isinstance(header["labels"], list) or not all(isinstance(x, str) for x in header["labels"]):
        raise ChunkSAFileError(f"{path}: header labels is not a list of strings; the file is corrupt")
    if (not all(framing.is_count(v) for v in counts.values()) or counts["positions"] != counts["tokens"] + counts["docs"]
            or not 1 <= counts["prev_bits"] <= 32 or not 1 <= counts["rank_bits"] <= 32):
        raise ChunkSAFileError(f"{path}: header counts {counts} are inconsistent; the file is corrupt")
    words = (counts["tokens"] + 63) // 64  # per level of each wavelet matrix
    expected = {"hashes": counts["distinct"], "bucket": counts["distinct"] + 1, "text": counts["positions"],
                "sa": counts["tokens"], "doc_of": counts["positions"], "offsets": counts["positions"],
                "doc_starts": counts["docs"] + 1, "prev_words": counts["prev_bits"] * words,
                "prev_before": counts["prev_bits"] * (words + 1), "prev_zeros": counts["prev_bits"],
                "doc_rank": counts["docs"], "by_rank": counts["docs"], "rank_words": counts["rank_bits"] * words,
                "rank_before": counts["rank_bits"] * (words + 1), "rank_zeros": counts["rank_bits"],
                "doc_sha": 20 * counts["docs"], "doc_sources": counts["docs"],
                "label_starts": counts["docs"] + 1, "label_ids": counts["label_entries"],
                "label_counts": counts["label_entries"]}
    layout, arrays, at = header["arrays"], {}, 0
    if not isinstance(layout, dict):
        raise ChunkSAFileError(f"{path}: header arrays is not an object; the file is corrupt")
    for name, dtype in _ARRAYS:
        if layout.get(name) != [at, expected[name]]:
            raise ChunkSAFileError(f"{path}: array {name} at {layout.get(name)!r}, expected "
                                   f"{[at, expected[name]]}; the file is corrupt")
        nbytes = expected[name] * np.dtype(dtype).itemsize
        if offset + at + nbytes > size:
            raise ChunkSAFileError(f"{path}: truncated: array {name} ends past the file's {size} bytes")
        arrays[name] = (np.memmap(path, dtype=dtype, mode="r", offset=offset + at, shape=(expected[name],))
                        if expected[name] else np.zeros(0, dtype))
        at += framing.padded(nbytes)
    if size != offset + at:
        raise ChunkSAFileError(f"{path}: {size} bytes, expected {offset + at}; the file is corrupt")
    return header, arrays


def verify(path: str | Path) -> dict:
    """Every check of :meth:`ChunkSA.open` plus the checksum over all arrays and that ``doc_rank``
    and ``by_rank`` are inverse permutations; returns the header."""
    path = Path(path)
    header, arrays = _read(path)
    actual = framing.checksum(arrays[name] for name, _ in _ARRAYS)
    if actual != header["checksum"]:
        raise ChunkSAFileError(f"{path}: checksum mismatch: header says {header['checksum']}, arrays hash "
                               f"to {actual}; the file is corrupt, rebuild it")
    rank, by_rank = np.asarray(arrays["doc_rank"]), np.asarray(arrays["by_rank"])
    if (rank >= len(rank)).any() or (by_rank[rank] != np.arange(len(rank))).any():
        raise ChunkSAFileError(f"{path}: doc_rank and by_rank are not inverse permutations of the "
                               f"{len(rank)} documents; the file is corrupt, rebuild it")
    return header


def _label_table(doc_labels: Sequence[Mapping[str, int]] | None, docs: int
                 ) -> tuple[list[str], dict[str, np.ndarray]]:
    """The sorted distinct labels and the per-document (CSR) arrays of ``doc_labels``."""
    doc_labels = [{}] * docs if doc_labels is None else list(doc_labels)
    if len(doc_labels) != docs:
        raise ValueError(f"doc_labels must hold one mapping per document ({docs}), got {len(doc_labels)}")
    labels = sorted({label for d in doc_labels for label in d})
    index = {label: i for i, label in enumerate(labels)}
    starts = np.zeros(docs + 1, np.uint64)
    np.cumsum([len(d) for d in doc_labels], out=starts[1:])
    ids = np.fromiter((index[label] for d in doc_labels for label in sorted(d)), np.uint32, int(starts[-1]))
    counts = np.fromiter((d[label] for d in doc_labels for label in sorted(d)), np.int64, int(starts[-1]))
    if len(counts) and (counts.min() < 1 or counts.max() >= 1 << 32):
        raise ValueError("doc_labels counts must lie in [1, 2**32)")
    return labels, {"label_starts": starts, "label_ids": ids, "label_counts": counts.astype(np.uint32)}


def _sha_table(doc_shas: Sequence[str] | None, docs: int) -> np.ndarray:
    """The documents' hex shas as ``uint8[20 * docs]`` (zeros when none are given)."""
    if doc_shas is None:
        return np.zeros(20 * docs, np.uint8)
    if len(doc_shas) != docs:
        raise ValueError(f"doc_shas must hold one sha per document ({docs}), got {len(doc_shas)}")
    try:
        raw = b"".join(bytes.fromhex(s) for s in doc_shas)
    except ValueError as e:
        raise ValueError(f"doc_shas must be hex digests: {e}") from None
    if len(raw) != 20 * docs:
        raise ValueError("doc_shas must be 40 hex digits each (git blob shas)")
    return np.frombuffer(raw, np.uint8).copy()


def _permutation(doc_rank: npt.ArrayLike | None, docs: int) -> np.ndarray:
    """``doc_rank`` as ``uint32`` after checking it ranks each of the ``docs`` documents once."""
    if doc_rank is None:
        return np.arange(docs, dtype=np.uint32)
    rank = np.asarray(doc_rank)
    if rank.shape != (docs,) or not np.issubdtype(rank.dtype, np.integer):
        raise ValueError(f"doc_rank must hold one integer per document ({docs}), got {rank.dtype} of "
                         f"shape {rank.shape}")
    if docs and (rank.min() < 0 or rank.max() >= docs or len(np.unique(rank)) != docs):
        raise ValueError(f"doc_rank must rank the {docs} documents 0 .. {docs - 1}, each once")
    return rank.astype(np.uint32)
