import json
import math
import struct

import numpy as np
import pytest

from membership import bloom
from membership.bloom import (BloomConfig, BloomConfigMismatch, BloomFileError, BloomFilter,
                              BloomFormatOutdated, BloomReadOnlyError, blocked_fpr, verify)

CHUNK = {"chars": 50, "normalize": "whitespace", "hash": "xxh3_64"}
MASK = (1 << 64) - 1


def random_hashes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1 << 64, size=n, dtype=np.uint64)


def set_bits(bf: BloomFilter) -> list[int]:
    return np.flatnonzero(np.unpackbits(np.asarray(bf.words).view(np.uint8), bitorder="little")).tolist()


def reference_positions(x: int, config: BloomConfig) -> list[int]:
    """The documented bit scheme in plain Python integers, independent of numpy's wraparound."""
    def fmix64(v):
        v ^= v >> 33
        v = (v * 0xFF51AFD7ED558CCD) & MASK
        v ^= v >> 33
        v = (v * 0xC4CEB9FE1A85EC53) & MASK
        return v ^ (v >> 33)
    h = fmix64(x ^ config.seed)
    block = ((h >> 32) * (config.bits // 512)) >> 32
    g, positions = h, []
    for i in range(config.hashes):
        if i % 8 == 0:
            g = fmix64(g ^ 0x9E3779B97F4A7C15)
        positions.append(block * 512 + (i % 8) * 64 + ((g >> (8 * (i % 8))) & 63))
    return positions


def saved_filter(tmp_path, n=5_000, chunk=CHUNK):
    bf = BloomFilter(BloomConfig.for_capacity(n, 0.01, seed=3, chunk=chunk))
    bf.add(random_hashes(n, seed=11))
    path = tmp_path / "chunks.bloom"
    bf.save(path)
    return bf, path


def rewrite_header(path, **changes):
    """Rewrite a saved file's JSON header per the documented layout, keeping its bit words."""
    data = path.read_bytes()
    (length,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12:12 + length])
    bits = data[len(data) - header["bits"] // 8:]
    header.update(changes)
    raw = json.dumps(header).encode()
    head = bloom.MAGIC + struct.pack("<I", len(raw)) + raw
    path.write_bytes(head + b"\0" * (-len(head) % 8) + bits)


# --- sizing ---------------------------------------------------------------------------------

def test_for_capacity_gives_about_15_7_bits_per_item_and_8_hashes_at_one_in_a_thousand():
    config = BloomConfig.for_capacity(1_000_000, 0.001)
    assert config.bits % 512 == 0
    assert 15.72 < config.bits / 1_000_000 < 15.73
    assert config.hashes == 8
    assert config.theoretical_fpr(1_000_000) == pytest.approx(0.001, rel=0.01)
    assert config.theoretical_fpr(1_000_000) <= 0.001
    assert config.theoretical_fpr(0) == 0.0
    assert config.theoretical_fpr(2_000_000) > 0.01  # overfilling degrades quickly


@pytest.mark.parametrize("p", [0.05, 0.01, 0.001, 1e-4])
def test_for_capacity_sizes_with_the_blocked_rate_and_gives_the_fewest_blocks(p):
    n = 300_000
    config = BloomConfig.for_capacity(n, p)
    assert config.theoretical_fpr(n) <= p
    for k in range(1, 33):  # no other number of hashes meets p with fewer blocks
        smaller = BloomConfig(bits=config.bits - 512, hashes=k)
        assert smaller.theoretical_fpr(n) > p, k
    # The classic formula's size falls short: blocks that draw more than their share of hashes
    # answer "present" more often, so a blocked filter of that size misses the target.
    classic_bits = -(-math.ceil(-n * math.log(p) / math.log(2) ** 2) // 512) * 512
    assert BloomConfig(bits=classic_bits, hashes=config.hashes).theoretical_fpr(n) > 1.05 * p
    assert config.bits > classic_bits


def poisson(load: float, j: int) -> float:
    return math.exp(-load + j * math.log(load) - math.lgamma(j + 1))


def test_the_blocked_rate_is_the_poisson_mixture_of_per_word_rates():
    """Putze et al.: a non-member's block holds j hashes with Poisson probability, and then each
    word it has bits in must hold them, independently."""
    # One bit per word (k <= 8): after j hashes a word's bit is set with probability 1 - (63/64)^j.
    for k, load in [(1, 3.0), (5, 20.0), (8, 32.5), (8, 0.5)]:
        expected = sum(poisson(load, j) * (1 - (63 / 64) ** j) ** k for j in range(400))
        assert blocked_fpr(k, load) == pytest.approx(expected, rel=1e-9), (k, load)

    # Two bits per word (k = 16), m = 2j throws: a non-member's two positions coincide with
    # probability 1/64 (one bit must be set), else both must be.
    def two_bits(j):
        one, both = 1 - (63 / 64) ** (2 * j), 1 - 2 * (63 / 64) ** (2 * j) + (62 / 64) ** (2 * j)
        return one / 64 + both * 63 / 64

    expected = sum(poisson(40.0, j) * two_bits(j) ** 8 for j in range(400))
    assert blocked_fpr(16, 40.0) == pytest.approx(expected, rel=1e-9)
    # k = 11: three words get two bits, five get one.
    expected = sum(poisson(25.0, j) * two_bits(j) ** 3 * (1 - (63 / 64) ** j) ** 5 for j in range(400))
    assert blocked_fpr(11, 25.0) == pytest.approx(expected, rel=1e-9)


def test_for_capacity_sizes_an_empty_corpus_as_one_item_and_keeps_seed_and_chunk():
    config = BloomConfig.for_capacity(0, 0.01, seed=5, chunk=CHUNK)
    assert config == BloomConfig.for_capacity(1, 0.01, seed=5, chunk=CHUNK)
    assert config.bits == 512 and config.seed == 5 and config.chunk == CHUNK


@pytest.mark.parametrize("args, message", [
    ((-1, 0.01), "n_items"), ((1.5, 0.01), "n_items"), ((100, 0.0), "fpr"), ((100, 1.0), "fpr"),
    ((100, -0.1), "fpr"), ((100, 2), "fpr"), ((100, "0.01"), "fpr"),
])
def test_for_capacity_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        BloomConfig.for_capacity(*args)


@pytest.mark.parametrize("kwargs, message", [
    ({"bits": 100, "hashes": 3}, "multiple of 512"), ({"bits": 0, "hashes": 3}, "multiple of 512"),
    ({"bits": 1024 + 64, "hashes": 3}, "multiple of 512"), ({"bits": True, "hashes": 3}, "multiple of 512"),
    ({"bits": 512 << 33, "hashes": 3}, "at most"), ({"bits": 512, "hashes": 0}, "hashes"),
    ({"bits": 512, "hashes": 65}, "hashes"),
    ({"bits": 512, "hashes": 3, "seed": -1}, "seed"), ({"bits": 512, "hashes": 3, "seed": 1 << 64}, "seed"),
    ({"bits": 512, "hashes": 3, "chunk": [50]}, "chunk must be a dict"),
    ({"bits": 512, "hashes": 3, "chunk": {"f": object()}}, "JSON"),
])
def test_config_rejects_bad_fields_with_a_message_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BloomConfig(**kwargs)


def test_config_chunk_is_stored_as_it_reads_back_from_json():
    config = BloomConfig(bits=512, hashes=1, chunk={"sizes": (50, 100)})
    assert config.chunk == {"sizes": [50, 100]}
    assert hash(config) == hash(BloomConfig(bits=512, hashes=1, chunk={"sizes": [50, 100]}))


# --- membership -----------------------------------------------------------------------------

def test_every_added_hash_is_contained():
    hashes = random_hashes(200_000, seed=1)
    bf = BloomFilter(BloomConfig.for_capacity(len(hashes), 0.01))
    bf.add(hashes)
    assert bf.contains(hashes).all()
    assert int(hashes[0]) in bf and hashes[-1] in bf
    assert bf.items == len(hashes)


def test_an_empty_filter_contains_nothing_and_empty_input_is_fine():
    bf = BloomFilter(BloomConfig(bits=1024, hashes=3))
    bf.add(np.array([], dtype=np.uint64))
    assert bf.contains(random_hashes(1000, seed=2)).sum() == 0
    assert bf.contains([]).shape == (0,)
    assert bf.fill_ratio() == 0.0 and bf.items == 0


def test_one_hash_sets_k_bits_in_one_cache_line_and_duplicates_change_nothing_but_the_count():
    bf = BloomFilter(BloomConfig(bits=1 << 20, hashes=7, seed=9))
    bf.add([42])
    first = set_bits(bf)
    assert len(first) == 7
    assert len({p // 512 for p in first}) == 1  # one 512-bit block: one 64-byte line to read
    assert sorted(p % 512 // 64 for p in first) == list(range(7))  # bit i in word i
    bf.add([42, 42])
    assert set_bits(bf) == first and bf.items == 3


@pytest.mark.parametrize("hashes", [5, 8, 19])  # one word each; 19: three rounds of g
def test_numpy_positions_match_a_plain_python_reference_of_the_scheme(hashes):
    config = BloomConfig(bits=512 * 1001, hashes=hashes, seed=(1 << 64) - 12345)  # not a power of two
    xs = [0, 1, 2**63, MASK, *random_hashes(200, seed=4).tolist()]
    for x in xs:
        bf = BloomFilter(config)
        bf.add([x])
        assert set_bits(bf) == sorted(set(reference_positions(x, config)))
    together = BloomFilter(config)
    together.add(np.array(xs, dtype=np.uint64))  # many hashes in one block are all kept
    assert set_bits(together) == sorted({p for x in xs for p in reference_positions(x, config)})


def test_bit_positions_are_pinned_forever():
    """Golden values: if this fails, the hashing scheme changed and every saved filter is wrong."""
    config = BloomConfig(bits=8192, hashes=3, seed=7)
    golden = {0: [3644, 3648, 3769], 1: [7184, 7257, 7305], 2**63: [6153, 6260, 6328],
              2**64 - 1: [7729, 7773, 7843], 12345678901234567890: [1083, 1113, 1173]}
    for x, positions in golden.items():
        bf = BloomFilter(config)
        bf.add(np.array([x], dtype=np.uint64))
        assert set_bits(bf) == positions, x
    everything = BloomFilter(config)
    everything.add(np.array(list(golden), dtype=np.uint64))
    assert set_bits(everything) == sorted(p for ps in golden.values() for p in ps)


def test_signed_or_out_of_range_hashes_are_refused_not_reinterpreted():
    bf = BloomFilter(BloomConfig(bits=512, hashes=1))
    with pytest.raises(TypeError, match="view"):
        bf.add(np.array([1, 2], dtype=np.int64))
    with pytest.raises(OverflowError):
        bf.add([-1])


@pytest.mark.parametrize("n, p, load", [
    (50_000, 0.01, 1.0), (100_000, 0.001, 1.0),  # at capacity
    (50_000, 0.01, 0.5), (50_000, 0.001, 2.0),  # half full; overfilled twice over (k = 8)
    (50_000, 0.0001, 3.0),  # k = 16: two bits per word, overfilled to a rate near 1%
])
def test_measured_false_positive_rate_matches_the_blocked_theory(n, p, load):
    config = BloomConfig.for_capacity(n, p, seed=123)
    items = int(n * load)
    theory = config.theoretical_fpr(items)
    if load == 1.0:
        assert theory == pytest.approx(p, rel=0.05)
    added = random_hashes(items, seed=100)
    bf = BloomFilter(config)
    bf.add(added)
    probes = random_hashes(400_000, seed=200)
    probes = probes[~np.isin(probes, added)]
    sd = math.sqrt(theory * (1 - theory) / len(probes))
    measured = bf.contains(probes).mean()
    assert abs(measured - theory) <= 5 * sd, (measured, theory, sd)
    assert abs(bf.measure_fpr(400_000, seed=300) - theory) <= 5 * sd
    # The rate of these very bits (per-word fill, block by block) is what the probes measure.
    assert abs(measured - bf.estimated_fpr()) <= 5 * sd
    assert bf.estimated_fpr() == pytest.approx(theory, rel=0.05)


def test_measure_fpr_is_reproducible_and_checks_its_argument():
    bf = BloomFilter(BloomConfig.for_capacity(1000, 0.05))
    bf.add(random_hashes(1000, seed=6))
    assert bf.measure_fpr(10_000, seed=1) == bf.measure_fpr(10_000, seed=1)
    with pytest.raises(ValueError, match="n_probes"):
        bf.measure_fpr(0)


# --- merge ----------------------------------------------------------------------------------

def test_merging_two_halves_gives_the_filter_of_the_whole():
    config = BloomConfig.for_capacity(100_000, 0.01, seed=8, chunk=CHUNK)
    hashes = random_hashes(100_000, seed=12)
    whole, first, second = BloomFilter(config), BloomFilter(config), BloomFilter(config)
    whole.add(hashes)
    first.add(hashes[:40_000])
    second.add(hashes[40_000:])
    first.merge(second)
    assert np.array_equal(first.words, whole.words)
    assert first.items == whole.items == 100_000


@pytest.mark.parametrize("other, names", [
    (BloomConfig(bits=1024, hashes=3, seed=8), "seed: this 7, other 8"),
    (BloomConfig(bits=2048, hashes=3, seed=7), "bits: this 1024, other 2048"),
    (BloomConfig(bits=1024, hashes=3, seed=7, chunk={"chars": 64}), "chunk"),
])
def test_merging_different_configs_is_refused(other, names):
    bf = BloomFilter(BloomConfig(bits=1024, hashes=3, seed=7))
    with pytest.raises(BloomConfigMismatch, match=names):
        bf.merge(BloomFilter(other))


# --- files ----------------------------------------------------------------------------------

def test_save_and_open_round_trip_maps_the_bits_read_only(tmp_path):
    bf, path = saved_filter(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["chunks.bloom"]  # no .tmp left behind
    opened = BloomFilter.open(path, expect_chunk=CHUNK)
    assert isinstance(opened.words, np.memmap) or isinstance(opened.words.base, np.memmap)
    assert opened.read_only and not bf.read_only
    assert opened.config == bf.config and opened.items == bf.items == 5_000
    assert np.array_equal(opened.words, bf.words)
    probes = np.concatenate([random_hashes(5_000, seed=11), random_hashes(5_000, seed=13)])
    assert np.array_equal(opened.contains(probes), bf.contains(probes))
    assert opened.fill_ratio() == bf.fill_ratio()

    header = verify(path)
    assert header == bf.header()
    assert header["format_version"] == bloom.FORMAT_VERSION and header["chunk"] == CHUNK
    assert len(header["checksum"]) == 16


def test_file_layout_is_magic_length_header_padding_words(tmp_path):
    bf, path = saved_filter(tmp_path)
    data = path.read_bytes()
    assert data[:8] == b"SSBLOOM\x01"
    (length,) = struct.unpack("<I", data[8:12])
    assert json.loads(data[12:12 + length])["bits"] == bf.config.bits
    offset = 12 + length + (-(12 + length) % 8)
    assert set(data[12 + length:offset]) <= {0}
    assert data[offset:] == bf.words.astype("<u8").tobytes()


def test_a_read_only_filter_refuses_changes_but_copies_to_a_writable_one(tmp_path):
    bf, path = saved_filter(tmp_path)
    opened = BloomFilter.open(path)
    with pytest.raises(BloomReadOnlyError, match="read-only.*chunks.bloom.*copy"):
        opened.add([1])
    with pytest.raises(BloomReadOnlyError, match="read-only"):
        opened.merge(bf)
    writable = opened.copy()
    writable.add([1])
    writable.merge(opened)
    assert 1 in writable and writable.items == 2 * bf.items + 1
    writable.save(path)  # replacing the mapped file leaves the old mapping intact
    assert np.array_equal(opened.words, bf.words)
    assert 1 in BloomFilter.open(path)


def test_expect_chunk_mismatch_names_the_differing_keys_and_both_values(tmp_path):
    _, path = saved_filter(tmp_path)
    expect = {**CHUNK, "chars": 64, "lowercase": True}
    del expect["normalize"]
    with pytest.raises(BloomConfigMismatch) as err:
        BloomFilter.open(path, expect_chunk=expect)
    message = str(err.value)
    assert str(path) in message
    assert "chars: stored 50, expected 64" in message
    assert 'normalize: stored "whitespace", expected missing' in message
    assert "lowercase: stored missing, expected true" in message
    assert "hash" not in message.split("(")[1]  # equal keys are not listed
    assert isinstance(err.value, BloomFileError) and isinstance(err.value, ValueError)
    BloomFilter.open(path, expect_chunk=dict(reversed(CHUNK.items())))  # key order is irrelevant


@pytest.mark.parametrize("cut", [8, 100, 5_000])
def test_a_truncated_file_is_refused_with_expected_and_found_sizes(tmp_path, cut):
    _, path = saved_filter(tmp_path)
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:size - cut])
    with pytest.raises(BloomFileError, match=f"truncated: expected {size} bytes, found {size - cut}"):
        BloomFilter.open(path)
    with pytest.raises(BloomFileError, match="truncated"):
        verify(path)


@pytest.mark.parametrize("keep", [0, 5, 10, 40])
def test_a_file_cut_inside_its_header_is_truncated(tmp_path, keep):
    _, path = saved_filter(tmp_path)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(BloomFileError, match=f"{path.name}: truncated: expected at least .* found {keep}"):
        BloomFilter.open(path)


def test_trailing_bytes_are_refused(tmp_path):
    _, path = saved_filter(tmp_path)
    size = path.stat().st_size
    path.write_bytes(path.read_bytes() + b"\0" * 8)
    with pytest.raises(BloomFileError, match=f"trailing data: expected {size} bytes, found {size + 8}"):
        BloomFilter.open(path)


@pytest.mark.parametrize("content", [b"PK\x03\x04" + b"\0" * 100, b'{"bits": 64}', b"SSBLOOM\x02" + b"\0" * 80])
def test_a_foreign_file_is_not_a_bloom_filter(tmp_path, content):
    path = tmp_path / "other.bin"
    path.write_bytes(content)
    with pytest.raises(BloomFileError, match=r"other\.bin is not a StarScope Bloom filter"):
        BloomFilter.open(path)


def test_a_future_format_version_is_refused(tmp_path):
    _, path = saved_filter(tmp_path)
    rewrite_header(path, format_version=7)
    with pytest.raises(BloomFileError, match="format version 7, this version reads 2"):
        BloomFilter.open(path)
    with pytest.raises(BloomFileError, match="format version 7"):
        verify(path)


@pytest.mark.parametrize("changes, message", [
    ({"bits": 100}, "invalid config.*multiple of 512"), ({"items": -1}, "items"),
    ({"checksum": 5}, "checksum"), ({"hashes": None}, "invalid config.*hashes"),
])
def test_a_header_with_bad_fields_is_refused(tmp_path, changes, message):
    _, path = saved_filter(tmp_path)
    rewrite_header(path, **changes)
    with pytest.raises(BloomFileError, match=message):
        BloomFilter.open(path)


def test_a_header_that_is_not_json_is_refused(tmp_path):
    _, path = saved_filter(tmp_path)
    data = bytearray(path.read_bytes())
    data[12] = ord("?")
    path.write_bytes(bytes(data))
    with pytest.raises(BloomFileError, match="header is not valid JSON"):
        BloomFilter.open(path)


def test_a_flipped_bit_fails_verify_with_a_checksum_mismatch(tmp_path):
    bf, path = saved_filter(tmp_path)
    data = bytearray(path.read_bytes())
    data[-bf.config.bits // 16] ^= 0x10  # a byte in the middle of the bit words
    path.write_bytes(bytes(data))
    BloomFilter.open(path)  # open reads no bits, so it cannot notice
    with pytest.raises(BloomFileError, match=f"{path.name}: checksum mismatch"):
        verify(path)


def test_a_version_1_file_is_refused_with_the_rebuild_command(tmp_path):
    """Version 1 spread a hash's bits over the whole filter: its bits mean nothing to this
    reader, so it is refused, saying how to rebuild it, and never read as blocks."""
    _, path = saved_filter(tmp_path)
    rewrite_header(path, format_version=1)
    for check in (BloomFilter.open, verify):
        with pytest.raises(BloomFormatOutdated) as err:
            check(path)
        assert err.value.version == 1 and err.value.expected == 2
        message = str(err.value)
        assert str(path) in message and "older StarScope" in message
        assert "starscope rebuild-filter" in message
        assert isinstance(err.value, BloomFileError)
