"""The wavelet matrix against brute force: counts below a value, order statistics and distinct
keys over random ranges, on random arrays and on real document ids of a suffix-array-like order."""

import numpy as np
import pytest

from membership.wavelet import WaveletMatrix, previous_same


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
    a, b = int(l[0]), int(r[0])
    assert wm.smallest(a, b, 5).tolist() == np.sort(values[a:b])[:5].tolist()


def test_distinct_keys_in_a_range_from_the_previous_same_key():
    rng = np.random.default_rng(7)
    docs = rng.zipf(1.5, 5000) % 300  # a few documents hold most positions, as boilerplate does
    prev = previous_same(docs)
    assert all(prev[i] == 0 or docs[prev[i] - 1] == docs[i] for i in range(len(docs)))
    wm = WaveletMatrix(prev)
    for a, b in rng.integers(0, len(docs) + 1, (200, 2)):
        a, b = min(a, b), max(a, b)
        assert wm.count_less(a, b, a + 1) == len(set(docs[a:b].tolist()))


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
    assert len(WaveletMatrix([])) == 0 and WaveletMatrix([]).count_less(0, 0, 5) == 0
