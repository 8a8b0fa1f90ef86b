"""The wavelet matrix against brute force: counts below a value, order statistics, distinct keys
and the smallest distinct values over random ranges, on random arrays (some one value repeated
thousands of times, as a licence header is) and on real document ids of a suffix-array-like order."""

import numpy as np
import pytest

from membership.wavelet import WaveletMatrix, leading, previous_same


@pytest.mark.parametrize("n, high", [(1, 2), (63, 5), (64, 1000), (65, 7), (1000, 1), (3000, 2**32 - 1)])
def test_count_less_and_kth_smallest_equal_brute_force(n, high):
    rng = np.random.default_rng(n)
    values = rng.integers(0, high, n, dtype=np.int64)
    wm = WaveletMatrix(values)
    l = rng.integers(0, n + 1, 300)
    r = rng.integers(0, n + 1, 300)
    l, r = np.minimum(l, r), np.maximum(l, r)
    x = rng.integers(0, high + 1, 300)
    expected = [int((values[a:b] < c).sum()) for a, b, c in zip(l, r, x)]
    assert wm.count_less(l, r, x).tolist() == expected
    assert wm.count_less(0, n, 1 << 40) == n and wm.count_less(0, n, 0) == 0
    nonempty = r > l
    l, r = l[nonempty], r[nonempty]
    k = (rng.random(len(l)) * (r - l)).astype(np.int64)
    assert wm.kth_smallest(l, r, k).tolist() == [int(np.sort(values[a:b])[c]) for a, b, c in zip(l, r, k)]


def test_distinct_keys_in_a_range_from_the_previous_same_key():
    rng = np.random.default_rng(7)
    docs = rng.zipf(1.5, 5000) % 300  # a few documents hold most positions, as boilerplate does
    prev = previous_same(docs)
    assert all(prev[i] == 0 or docs[prev[i] - 1] == docs[i] for i in range(len(docs)))
    wm = WaveletMatrix(prev)
    for a, b in rng.integers(0, len(docs) + 1, (200, 2)):
        a, b = min(a, b), max(a, b)
        assert wm.count_less(a, b, a + 1) == len(set(docs[a:b].tolist()))


def _arrays():
    """Random arrays of every shape the walk meets: few or many distinct values, one value over
    thousands of consecutive positions (a licence header's documents in suffix-array order), one
    value everywhere, the largest values, and the sizes around a word of bits."""
    rng = np.random.default_rng(18)
    repeated = rng.integers(0, 500, 6000)
    repeated[1000:5000] = 137
    spread = rng.integers(0, 40, 5000)
    spread[rng.random(5000) < 0.8] = 3  # one value at 80% of positions, interleaved
    return [rng.integers(0, 2, 64), rng.integers(0, 1000, 65), repeated, spread, np.full(3000, 9),
            rng.integers(2**32 - 20, 2**32, 700), np.array([5])]


def _ranges(n, rng, count=150):
    """Ranges of every length: random ones, every prefix length from 0, empty ones and the whole."""
    l = rng.integers(0, n + 1, count)
    r = rng.integers(0, n + 1, count)
    l, r = np.minimum(l, r), np.maximum(l, r)
    lengths = np.arange(min(n, 40) + 1)
    start = rng.integers(0, n - lengths + 1)
    return np.concatenate((l, start, [0, n, n // 2])), np.concatenate((r, start + lengths, [n, n, n // 2]))


@pytest.mark.parametrize("case", range(len(_arrays())))
def test_distinct_values_equal_brute_force(case):
    values = _arrays()[case]
    wm = WaveletMatrix(values)
    rng = np.random.default_rng(case)
    l, r = _ranges(len(values), rng)
    for k in (None, 0, 1, 3, 10_000):  # 10_000: more than any range's distinct values
        query, value, count = wm.distinct_many(l, r, k)
        for i, (a, b) in enumerate(zip(l.tolist(), r.tolist())):
            expected, times = np.unique(values[a:b], return_counts=True)
            if k is not None:
                expected, times = expected[:k], times[:k]
            mine = query == i
            assert value[mine].tolist() == expected.tolist()
            assert count[mine].tolist() == times.tolist()
            if k is not None:  # one range alone gives what the batch gave it
                assert wm.smallest_distinct(a, b, k).tolist() == expected.tolist()
        assert (np.diff(query) >= 0).all()  # grouped by range, in input order
    for a, b in zip(l[:20].tolist(), r[:20].tolist()):
        expected, times = np.unique(values[a:b], return_counts=True)
        got, counts = wm.distinct(a, b)
        assert got.tolist() == expected.tolist() and counts.tolist() == times.tolist()


def test_the_walk_keeps_at_most_k_nodes_per_range_whatever_the_range_holds():
    # Every value distinct: a walk without the cut would split the range into 2**14 leaves.
    values = np.random.default_rng(4).permutation(1 << 14)
    wm = WaveletMatrix(values)
    assert wm.smallest_distinct(0, len(values), 4).tolist() == [0, 1, 2, 3]
    widths = []
    original = wm._rank1

    def counting(level, i):
        widths.append(len(i) // 2)  # the nodes at this level: their l's and r's together
        return original(level, i)

    wm._rank1 = counting
    wm.distinct_many([0, 100], [len(values), len(values)], 4)
    assert len(widths) == wm.bits and max(widths) <= 2 * 4


def test_leading_keeps_the_first_k_of_each_group():
    groups = np.array([0, 0, 0, 2, 5, 5, 5, 5, 7])
    assert leading(groups, 2).tolist() == [True, True, False, True, True, True, False, False, True]
    assert leading(groups, 0).tolist() == [False] * 9 and leading(np.zeros(0, int), 3).tolist() == []


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="2\\*\\*32"):
        WaveletMatrix([1 << 32])
    with pytest.raises(ValueError, match="one-dimensional"):
        WaveletMatrix([[1]])
    wm = WaveletMatrix([3, 1, 2])
    with pytest.raises(IndexError):
        wm.count_less(2, 1, 5)
    with pytest.raises(IndexError):
        wm.kth_smallest(0, 3, 3)
    with pytest.raises(IndexError):
        wm.distinct_many([0, 2], [3, 1], 2)
    with pytest.raises(ValueError, match="k must be at least 0"):
        wm.smallest_distinct(0, 3, -1)
    assert len(WaveletMatrix([])) == 0 and WaveletMatrix([]).count_less(0, 0, 5) == 0
    assert WaveletMatrix([]).smallest_distinct(0, 0, 5).tolist() == []
