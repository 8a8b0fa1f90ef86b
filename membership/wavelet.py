"""A wavelet matrix: range counting and order statistics over an integer array in O(log σ).

Attribution needs two answers about a range ``[l, r)`` of a suffix array, however long it is:
how many *distinct* documents it holds, and which ``k`` of them rank first (by stars, then path).
Scanning the range costs what the corpus repeats; a wavelet matrix (Claude, Navarro and Ordóñez,
"The wavelet matrix", 2015) answers both in a number of steps set by the values' bit width:

* :meth:`WaveletMatrix.count_less` ``(l, r, x)``: how many of ``values[l:r]`` are below ``x``.
  Distinct documents in a range are ``count_less(l, r, l + 1)`` over the array of each
  position's previous position holding the same document, plus one (0: none before it).
* :meth:`WaveletMatrix.kth_smallest` ``(l, r, k)``: the ``k``-th smallest of ``values[l:r]``;
  the first ``k`` sources are the ``k`` smallest document ranks.

Every query takes arrays (one query per element) and runs level by level in numpy, so a batch of
queries costs ``bits`` vectorized steps, not a Python loop per query.

Layout: for each level, from the top bit down, the bit of every value (in that level's order)
packed in uint64 words, with the count of ones before each word; the values are then stably
partitioned, zeros first, for the next level. Memory: ``bits * (n / 8 + n / 16)`` bytes.
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

    def smallest(self, l: int, r: int, k: int) -> np.ndarray:
        """The ``min(k, r - l)`` smallest of ``values[l:r]``, in order (with repeats)."""
        m = min(k, r - l)
        return self.kth_smallest(np.full(m, l), np.full(m, r), np.arange(m)) if m else np.zeros(0, np.int64)


def previous_same(keys: npt.ArrayLike) -> np.ndarray:
    """For each position, one more than the last earlier position with the same key (0: none),
    the array whose ``count_less(l, r, l + 1)`` counts the distinct keys in ``keys[l:r]``."""
    keys = np.asarray(keys)
    order = np.argsort(keys, kind="stable")
    prev = np.zeros(len(keys), np.int64)
    same = keys[order[1:]] == keys[order[:-1]]
    prev[order[1:][same]] = order[:-1][same] + 1
    return prev
