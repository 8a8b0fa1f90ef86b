"""A wavelet matrix: range counting, order statistics and distinct values over an integer array.

Attribution needs answers about a range ``[l, r)`` of a suffix array, however long it is: how
many *distinct* documents it holds, and which ``k`` of them rank first (by stars, then path).
Scanning the range costs what the corpus repeats; a wavelet matrix (Claude, Navarro and Ordóñez,
"The wavelet matrix", 2015) answers in a number of steps set by the values' bit width:

* :meth:`WaveletMatrix.count_less` ``(l, r, x)``: how many of ``values[l:r]`` are below ``x``.
  Distinct documents in a range are ``count_less(l, r, l + 1)`` over the array of each
  position's previous position holding the same document, plus one (0: none before it).
* :meth:`WaveletMatrix.kth_smallest` ``(l, r, k)``: the ``k``-th smallest of ``values[l:r]``,
  repeats included.
* :meth:`WaveletMatrix.distinct_many` ``(l, r, k)``: the ``k`` smallest *distinct* values of
  ``values[l:r]`` and how often each occurs; over an array of document ranks, the first ``k``
  sources of a range. ``O(k * bits)``, whatever ``r - l`` is (:meth:`smallest_distinct` and
  :meth:`distinct` are its one-range forms).

Every query takes arrays (one query per element) and runs level by level in numpy, so a batch of
queries costs ``bits`` vectorized steps, not a Python loop per query.

Layout: for each level, from the top bit down, the bit of every value (in that level's order)
packed in uint64 words, with the count of ones before each word; the values are then stably
partitioned, zeros first, for the next level. Memory: ``bits * (n / 8 + n / 16)`` bytes.

Note:
    A range ``[l, r)`` of one level's order maps to two ranges of the next: its values with a 0
    bit here go to ``[l - ones(l), r - ones(r))`` and those with a 1 to ``[zeros + ones(l),
    zeros + ones(r))``, where ``ones(i)`` counts the 1 bits before ``i`` at this level and
    ``zeros`` the level's 0 bits. Those are the two children of a node of a binary trie over the
    values' bits: after ``j`` levels, a node holds the values of ``values[l:r]`` that share a
    ``j``-bit prefix, and the last level's nodes each hold one value (its count: the node's length).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_ONE = np.uint64(1)


class WaveletMatrix:
    """Over ``values`` (non-negative integers below 2**32)."""

    def __init__(self, values: npt.ArrayLike):
        a = np.asarray(values)
        if a.ndim != 1:
            raise ValueError(f"values must be one-dimensional, got shape {a.shape}")
        if len(a) and (a.min() < 0 or a.max() >= 1 << 32):
            raise ValueError("values must lie in [0, 2**32)")
        a = a.astype(np.uint32, copy=True)
        self.n = len(a)
        self.bits = max(1, int(a.max()).bit_length()) if self.n else 1
        words = (self.n + 63) // 64
        self._words = np.zeros((self.bits, words), np.uint64)
        self._before = np.zeros((self.bits, words + 1), np.uint32)  # ones before each word
        self._zeros = np.zeros(self.bits, np.int64)  # zeros at each level
        for level in range(self.bits):
            shift = self.bits - 1 - level
            bit = ((a >> np.uint32(shift)) & np.uint32(1)).astype(bool)
            padded = np.zeros(words * 64, bool)
            padded[:self.n] = bit
            # bit j of word w is position 64w + j
            self._words[level] = np.packbits(padded, bitorder="little").view("<u8")
            self._before[level, 1:] = np.cumsum(np.bitwise_count(self._words[level]), dtype=np.uint32)
            self._zeros[level] = self.n - int(bit.sum())
            a = np.concatenate((a[~bit], a[bit]))

    def __len__(self) -> int:
        return self.n

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Its state as three flat arrays (for a file): the bit words, the ones before each
        word and the zeros of each level; :meth:`from_arrays` reads them back."""
        return {"words": self._words.reshape(-1), "before": self._before.reshape(-1), "zeros": self._zeros}

    @classmethod
    def from_arrays(cls, n: int, words: np.ndarray, before: np.ndarray, zeros: np.ndarray) -> "WaveletMatrix":
        """The matrix over ``n`` values that :meth:`to_arrays` gave (memory-mapped arrays are
        used in place)."""
        bits, per_level = len(zeros), (n + 63) // 64
        if bits < 1 or len(words) != bits * per_level or len(before) != bits * (per_level + 1):
            raise ValueError(f"wavelet arrays of {len(words)} words, {len(before)} counts and {bits} levels "
                             f"do not describe {n} values")
        wm = cls.__new__(cls)
        wm.n, wm.bits = n, bits
        wm._words = np.asarray(words).reshape(bits, per_level)
        wm._before = np.asarray(before).reshape(bits, per_level + 1)
        wm._zeros = np.asarray(zeros).astype(np.int64)
        return wm

    def _rank1(self, level: int, i: np.ndarray) -> np.ndarray:
        """Ones among the first ``i`` bits of ``level`` (vectorized over ``i``)."""
        w, j = i >> 6, (i & 63).astype(np.uint64)
        words = self._words[level][np.minimum(w, self._words.shape[1] - 1)] if self._words.shape[1] else \
            np.zeros(len(i), np.uint64)
        mask = (_ONE << j) - _ONE  # j < 64: the bits below position j
        partial = np.bitwise_count(words & mask).astype(np.int64)
        return self._before[level][w].astype(np.int64) + np.where(w < self._words.shape[1], partial, 0)

    def _args(self, l, r) -> tuple[np.ndarray, np.ndarray, bool]:
        scalar = np.ndim(l) == 0 and np.ndim(r) == 0
        l, r = np.atleast_1d(np.asarray(l, np.int64)), np.atleast_1d(np.asarray(r, np.int64))
        l, r = np.broadcast_arrays(l, r)
        if np.any((l < 0) | (r > self.n) | (l > r)):
            raise IndexError(f"ranges must satisfy 0 <= l <= r <= {self.n}")
        return l.copy(), r.copy(), scalar

    def count_less(self, l, r, x):
        """How many of ``values[l:r]`` are below ``x``, for each ``(l, r, x)``."""
        l, r, scalar = self._args(l, r)
        x = np.broadcast_to(np.asarray(x, np.int64), l.shape)
        count = np.zeros(l.shape, np.int64)
        over = x >= (1 << self.bits)  # every value is below x
        count[over] = (r - l)[over]
        live = ~over & (x > 0)
        for level in range(self.bits):
            shift = self.bits - 1 - level
            bit = ((x >> shift) & 1).astype(bool)
            ol, orr = self._rank1(level, l), self._rank1(level, r)
            zl, zr = l - ol, r - orr
            # where x has a 1, the values with a 0 here are all below x
            count += np.where(live & bit, zr - zl, 0)
            l = np.where(bit, self._zeros[level] + ol, zl)
            r = np.where(bit, self._zeros[level] + orr, zr)
        return int(count[0]) if scalar else count

    def kth_smallest(self, l, r, k):
        """The ``k``-th smallest (from 0) of ``values[l:r]``, for each ``(l, r, k)``."""
        l, r, scalar = self._args(l, r)
        k = np.broadcast_to(np.asarray(k, np.int64), l.shape).copy()
        if np.any((k < 0) | (k >= r - l)):
            raise IndexError("k must satisfy 0 <= k < r - l")
        value = np.zeros(l.shape, np.int64)
        for level in range(self.bits):
            ol, orr = self._rank1(level, l), self._rank1(level, r)
            zl, zr = l - ol, r - orr
            zeros = zr - zl
            one = k >= zeros
            value = (value << 1) | one
            k = np.where(one, k - zeros, k)
            l = np.where(one, self._zeros[level] + ol, zl)
            r = np.where(one, self._zeros[level] + orr, zr)
        return int(value[0]) if scalar else value

    def distinct_many(self, l, r, k: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``k`` smallest distinct values of ``values[l:r]`` (all of them when ``k`` is None)
        for each range of the arrays ``l`` and ``r``, as three flat ``int64`` arrays ``(query,
        value, count)``: which range (its index in ``l``), the value, and how many times it occurs
        there; grouped by range in input order, values ascending within each.

        Note:
            A breadth-first walk down the trie of the values' bits (the module's note), all ranges
            at once: each level splits every node in two and drops the empty children. The nodes
            of one range stay ordered by their bit prefix, so the ``j``-th smallest distinct value
            lies under the ``j``-th non-empty node at most (each node before it holds a smaller
            value): keeping only the ``k`` leftmost nodes per range at each level loses none of
            the ``k`` smallest, and the walk touches at most ``k`` nodes per range and level. A
            range costs ``O(min(k, distinct) * bits)``, never its length.
        """
        l, r, _ = self._args(l, r)
        if k is not None and k < 0:
            raise ValueError(f"k must be at least 0, got {k}")
        query = np.flatnonzero(r > l) if k != 0 else np.zeros(0, np.int64)
        l, r = l[query], r[query]
        value = np.zeros(len(query), np.int64)
        for level in range(self.bits):
            if not len(query):
                break
            m = len(query)
            ones = self._rank1(level, np.concatenate((l, r)))
            ol, orr = ones[:m], ones[m:]
            # children side by side (zero child, then one child): the order by prefix holds
            cl, cr, cv = np.empty(2 * m, np.int64), np.empty(2 * m, np.int64), np.empty(2 * m, np.int64)
            cl[0::2], cl[1::2] = l - ol, self._zeros[level] + ol
            cr[0::2], cr[1::2] = r - orr, self._zeros[level] + orr
            cv[0::2] = cv[1::2] = value << 1
            cv[1::2] |= 1
            l, r, value, query = cl, cr, cv, np.repeat(query, 2)
            keep = r > l
            if k is not None:
                keep[keep] = leading(query[keep], k)
            l, r, value, query = l[keep], r[keep], value[keep], query[keep]
        return query, value, r - l

    def smallest_distinct(self, l: int, r: int, k: int) -> np.ndarray:
        """The (up to) ``k`` smallest distinct values of ``values[l:r]``, ascending
        (``O(k * bits)``: :meth:`distinct_many` for one range)."""
        return self.distinct_many(l, r, k)[1]

    def distinct(self, l: int, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Every distinct value of ``values[l:r]``, ascending, and how many times each occurs
        (``O(distinct * bits)``, however many times the values repeat)."""
        _, value, count = self.distinct_many(l, r)
        return value, count


def leading(groups: np.ndarray, k: int) -> np.ndarray:
    """True for the first ``k`` items of each run of equal values in ``groups`` (items grouped
    by a key, e.g. the query each belongs to), False for the rest."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, bool)
    start = np.ones(n, bool)
    start[1:] = groups[1:] != groups[:-1]
    at = np.arange(n)
    return at - np.maximum.accumulate(np.where(start, at, 0)) < k

def previous_same(keys: npt.ArrayLike) -> np.ndarray:
    """For each position, one more than the last earlier position with the same key (0: none),
    the array whose ``count_less(l, r, l + 1)`` counts the distinct keys in ``keys[l:r]``."""
    keys = np.asarray(keys)
    order = np.argsort(keys, kind="stable")
    prev = np.zeros(len(keys), np.int64)
    same = keys[order[1:]] == keys[order[:-1]]
    prev[order[1:][same]] = order[:-1][same] + 1
    return prev
