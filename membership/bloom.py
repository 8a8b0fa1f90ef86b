"""``*.bloom``: a blocked Bloom filter over the 64-bit hashes of normalized code chunks.

The inputs are already 64-bit hashes (numpy ``uint64``) of 50-character chunks; this module owns
only the filter: its sizing, the bit positions a hash sets, and the file it is saved in.

The bits form blocks of 512 (eight 64-bit words: one 64-byte cache line). A hash picks one
block and sets its k bits there, bit ``i`` in word ``i mod 8``, so a lookup reads one cache line
however large the filter (a classic Bloom filter reads k lines spread over all of it), and numpy
tests a batch of hashes with one gather of whole blocks and a few array operations.

File layout: membership's frame (:mod:`membership.framing`) with magic ``b"SSBLOOM\\x01"``, the
JSON header ``{format_version, bits, hashes, seed, chunk, items, checksum}``, then one array::

    bit words              bits / 64 uint64 words; block b is words 8b .. 8b + 7, and bit j of a
                           word is ``(word >> j) & 1``

``checksum`` is the xxh3_64 hex digest of the bit words' bytes. A saved filter is opened with
``numpy.memmap`` (nothing is read up front), so a multi-gigabyte filter loads at once and its
pages are shared by every process that opens it.

Format version 1 (StarScope before the blocked layout) spread a hash's bits over the whole
filter; such a file is refused with :class:`BloomFormatOutdated`, and an index rebuilds its
filter from its chunk log (:mod:`membership.sketch`; ``starscope rebuild-filter``).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import framing

FORMAT_VERSION = 2
MAGIC = b"SSBLOOM\x01"

_BATCH = 1 << 20  # hashes (or words) handled per vectorized step, to bound temporary memory
# Hashes per step of a lookup's (n, 8) part: a 4 KB query's windows in one step, with 256 kB
# temporaries that malloc reuses. Much larger ones (a whole _BATCH: 64 MB) are mapped fresh and
# fault in page by page on every call, which costs more than the work (4x at 32k hashes).
_PROBE_BATCH = 4096
_WORD = np.dtype("<u8")
_U64 = np.uint64

BLOCK_BITS = 512  # one 64-byte cache line
_BLOCK_WORDS = BLOCK_BITS // 64
_MAX_BLOCKS = 1 << 32  # the block is chosen from 32 bits of the hash
MAX_HASHES = 64  # eight bits per word

# MurmurHash3's 64-bit finalizer constants, and the golden ratio that derives each g from h.
_C1 = _U64(0xFF51AFD7ED558CCD)
_C2 = _U64(0xC4CEB9FE1A85EC53)
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_ONE = _U64(1)
_ALL_TRUE = _U64(0x0101010101010101)  # eight numpy True bytes read as one word
_PROBE_SEED = 0x5EED_B100


class BloomFileError(ValueError):
    """A Bloom filter file that is missing pieces, foreign, from another version or corrupt."""


class BloomFormatOutdated(BloomFileError):
    """A filter saved in an older format (``version``) than this StarScope reads (``expected``):
    rebuild it from the hashes it was made of; an index does so from its chunk log."""

    def __init__(self, message: str, *, version: int, expected: int = FORMAT_VERSION):
        super().__init__(message)
        self.version, self.expected = version, expected


class BloomConfigMismatch(BloomFileError):
    """Two filters (or a filter and the caller's chunking) were built with different settings."""


class BloomReadOnlyError(ValueError):
    """An attempt to change a filter that was opened read-only from a file."""


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _json_normalized(chunk: Any) -> dict:
    """``chunk`` as it reads back from the JSON header (tuples become lists, keys strings)."""
    if not isinstance(chunk, dict):
        raise ValueError(f"chunk must be a dict describing the chunking config, got {type(chunk).__name__}")
    try:
        return json.loads(json.dumps(chunk, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"chunk must be JSON-serializable (str keys; numbers, strings, lists): {e}") from e


def _differences(a: dict, b: dict, *, names: tuple[str, str]) -> str:
    """``key: <name a> X, <name b> Y`` for every key whose value differs, ``;``-separated."""
    missing = object()

    def show(value: Any) -> str:
        return "missing" if value is missing else json.dumps(value, sort_keys=True)

    diffs = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, missing), b.get(key, missing)
        if va != vb:
            diffs.append(f"{key}: {names[0]} {show(va)}, {names[1]} {show(vb)}")
    return "; ".join(diffs)


# -- theory ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _word_terms(t: int) -> tuple[float, ...]:
    """``c_i`` such that ``sum_i c_i (1 - i/64)^m`` is the chance that ``t`` uniform bit
    positions of a 64-bit word (drawn with replacement) are all set after ``m`` uniform throws.

    Note:
        Inclusion-exclusion: with ``d`` distinct positions among the ``t`` (probability
        ``S(t, d) 64!/(64-d)! / 64^t``, Stirling numbers of the second kind), all are set with
        probability ``sum_i (-1)^i C(d, i) (1 - i/64)^m``; ``c_i`` gathers that over ``d``.
    """
    stirling = [[0] * (t + 1) for _ in range(t + 1)]
    stirling[0][0] = 1
    for a in range(1, t + 1):
        for d in range(1, a + 1):
            stirling[a][d] = d * stirling[a - 1][d] + stirling[a - 1][d - 1]
    distinct = [stirling[t][d] * math.perm(64, d) / 64 ** t for d in range(t + 1)]
    return tuple((-1) ** i * sum(distinct[d] * math.comb(d, i) for d in range(i, t + 1))
                 for i in range(t + 1))


def _word_fpr(t: int, keys: np.ndarray) -> np.ndarray:
    """Chance that a non-member's ``t`` bits in one word are all set, for each count of ``keys``
    in its block (each of which set ``t`` bits in that word)."""
    return sum(c * (1 - i / 64) ** (keys * t) for i, c in enumerate(_word_terms(t)))


def _bits_per_word(hashes: int) -> np.ndarray:
    """How many of a hash's ``hashes`` bits fall in each of its block's eight words."""
    q, r = divmod(hashes, _BLOCK_WORDS)
    return np.array([q + 1] * r + [q] * (_BLOCK_WORDS - r))


def blocked_fpr(hashes: int, load: float) -> float:
    """False-positive rate of a blocked filter whose blocks hold Poisson(``load``) hashes each.

    Note:
        Putze, Sanders and Singler ("Cache-, hash- and space-efficient Bloom filters", 2007):
        a non-member's block holds ``j`` hashes with probability ``e^-load load^j / j!``, and
        then it tests present with the probability of a small filter holding ``j`` hashes.
        Here that small filter is eight independent 64-bit words, word ``w`` receiving ``t_w``
        bits of each hash, so given ``j`` the rate is the product over words of ``_word_fpr``,
        exact rather than the classic ``(1 - e^(-kn/m))^k`` approximation.
    """
    if load <= 0:
        return 0.0
    sd = math.sqrt(load)
    lo, hi = max(0, int(load - 12 * sd - 10)), int(load + 12 * sd + 30)  # the tails beyond: < 1e-30
    keys = np.arange(lo, hi + 1, dtype=np.float64)
    pmf = np.exp(keys * math.log(load) - load - np.array([math.lgamma(j + 1) for j in range(lo, hi + 1)]))
    inner = np.ones_like(keys)
    for t in set(_bits_per_word(hashes).tolist()) - {0}:
        inner *= _word_fpr(t, keys) ** int(np.count_nonzero(_bits_per_word(hashes) == t))
    return float(pmf @ inner)


@functools.lru_cache(maxsize=256)
def _max_load(hashes: int, fpr: float) -> float:
    """The largest mean number of hashes per block at which ``blocked_fpr`` stays ``<= fpr``."""
    lo, hi = 0.0, 1.0
    while blocked_fpr(hashes, hi) <= fpr:
        lo, hi = hi, hi * 2
        if hi > 1 << 20:
            return float(hi)  # a rate this loose is met at any load that fits in a block
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if blocked_fpr(hashes, mid) <= fpr else (lo, mid)
    return lo


# -- config -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BloomConfig:
    """The shape of one filter: ``bits`` (m), ``hashes`` (k), ``seed``, and the chunking it serves.

    ``chunk`` is opaque here: it describes how the hashed chunks were made (size, normalization,
    hash function) and is stored in the header so that a filter built with other chunk settings
    is refused on open instead of silently answering "absent" for everything.

    Note:
        Blocking costs bits: the number of hashes a block receives varies (Poisson), and an
        overfull block answers "present" more often than an underfull one answers "absent", so
        a blocked filter needs more bits than a classic one for the same rate. At 0.1% it takes
        15.7 bits per hash with k = 8 (a classic filter: 14.4 with k = 10), at 1% 10.1 (9.6).
        ``theoretical_fpr`` gives the exact rate (see ``blocked_fpr``); ``for_capacity`` sizes
        with it.
    """

    bits: int
    hashes: int
    seed: int = 0
    chunk: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (not _is_int(self.bits) or self.bits < BLOCK_BITS or self.bits % BLOCK_BITS
                or self.bits > BLOCK_BITS * _MAX_BLOCKS):
            raise ValueError(f"bits must be a positive multiple of {BLOCK_BITS} (whole 64-byte blocks), at "
                             f"most {BLOCK_BITS * _MAX_BLOCKS}, got {self.bits!r}; use "
                             "BloomConfig.for_capacity(n_items, fpr) to size a filter")
        if not _is_int(self.hashes) or not 1 <= self.hashes <= MAX_HASHES:
            raise ValueError(f"hashes must be an integer from 1 to {MAX_HASHES}, got {self.hashes!r}; "
                             "use BloomConfig.for_capacity(n_items, fpr) to choose it")
        if not _is_int(self.seed) or not 0 <= self.seed < 1 << 64:
            raise ValueError(f"seed must be an integer in [0, 2**64), got {self.seed!r}")
        object.__setattr__(self, "bits", int(self.bits))
        object.__setattr__(self, "hashes", int(self.hashes))
        object.__setattr__(self, "seed", int(self.seed))
        # Normalized so that a config equals itself after a save/open round trip.
        object.__setattr__(self, "chunk", _json_normalized(self.chunk))

    def __hash__(self) -> int:
        return hash((self.bits, self.hashes, self.seed, json.dumps(self.chunk, sort_keys=True)))

    @property
    def blocks(self) -> int:
        return self.bits // BLOCK_BITS

    @classmethod
    def for_capacity(cls, n_items: int, fpr: float = 0.001, *, seed: int = 0,
                     chunk: dict | None = None) -> BloomConfig:
        """The smallest config that holds ``n_items`` distinct hashes at false-positive rate ``fpr``.

        Note:
            For each k, the largest mean load per block that ``blocked_fpr`` allows gives the
            fewest blocks, ``ceil(n / load)``; the k needing the fewest wins (the smaller on a
            tie). ``n = 0`` is sized as 1. Adding more than ``n_items`` still works, but the
            rate climbs: see ``theoretical_fpr``.
        """
        if not _is_int(n_items) or n_items < 0:
            raise ValueError(f"n_items must be an integer >= 0, got {n_items!r}")
        if isinstance(fpr, bool) or not isinstance(fpr, (int, float, np.floating)) or not 0 < fpr < 1:
            raise ValueError(f"fpr must be a probability strictly between 0 and 1, got {fpr!r}; "
                             "e.g. 0.001 for one false positive per thousand non-member lookups")
        n, fpr = max(1, int(n_items)), float(fpr)
        best: tuple[int, int] | None = None  # (blocks, hashes)
        for k in range(1, MAX_HASHES + 1):
            blocks = max(1, math.ceil(n / _max_load(k, fpr)))
            if best is None or blocks < best[0]:
                best = (blocks, k)
            elif k >= best[1] + _BLOCK_WORDS:
                break  # past the best by a whole round of words: more hashes only fill blocks faster
        blocks, k = best
        if blocks > _MAX_BLOCKS:
            raise ValueError(f"{n_items} items at fpr {fpr} need {blocks * BLOCK_BITS} bits, over the "
                             f"{BLOCK_BITS * _MAX_BLOCKS} a filter can hold; split the corpus or allow "
                             "a higher rate")
        return cls(bits=blocks * BLOCK_BITS, hashes=k, seed=seed, chunk={} if chunk is None else chunk)

    def theoretical_fpr(self, n_items: int) -> float:
        """Expected false-positive rate after ``n_items`` distinct hashes (``blocked_fpr`` at
        ``n_items / blocks`` hashes per block)."""
        if not _is_int(n_items) or n_items < 0:
            raise ValueError(f"n_items must be an integer >= 0, got {n_items!r}")
        return blocked_fpr(self.hashes, int(n_items) / self.blocks)

    def header(self) -> dict:
        return {"bits": self.bits, "hashes": self.hashes, "seed": self.seed, "chunk": self.chunk}


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer over a ``uint64`` array (a new array; wraps modulo 2**64).

    Note:
        A bijection on 64-bit values in which every input bit flips each output bit with
        probability close to 1/2, so even inputs like 0, 1, 2 spread over the whole filter.
        Array arithmetic on ``uint64`` wraps silently; scalars would warn, so callers pass arrays.
    """
    return _fmix64_inplace(x ^ (x >> _U64(33)), mixed=True)


def _fmix64_inplace(x: np.ndarray, *, mixed: bool = False) -> np.ndarray:
    """``fmix64`` overwriting ``x`` (``mixed``: its first xor-shift is already done)."""
    if not mixed:
        x ^= x >> _U64(33)
    x *= _C1
    x ^= x >> _U64(33)
    x *= _C2
    x ^= x >> _U64(33)
    return x


def _as_hashes(hashes: npt.ArrayLike) -> np.ndarray:
    """Hashes as a 1-D ``uint64`` array; a signed array is refused rather than reinterpreted."""
    if isinstance(hashes, np.ndarray):
        if hashes.dtype != _U64:
            raise TypeError(f"hashes must be a uint64 array, got {hashes.dtype}; for signed 64-bit "
                            "hashes pass arr.view(np.uint64)")
        return hashes.reshape(-1)
    return np.asarray(hashes, dtype=_U64).reshape(-1)


class BloomFilter:
    """A blocked Bloom filter of 64-bit chunk hashes: in memory and writable, or mapped read-only
    from a file.

    Bit positions (all arithmetic on ``uint64``, wrapping): ``h = fmix64(x ^ seed)``; the block is
    ``((h >> 32) * blocks) >> 32`` (Lemire's multiply-shift in place of ``mod blocks``);
    ``g_0 = fmix64(h ^ 0x9E3779B97F4A7C15)`` and ``g_(r+1) = fmix64(g_r ^ 0x9E3779B97F4A7C15)``;
    bit ``i`` (``0 <= i < k``) is bit ``(g_(i // 8) >> (8 * (i mod 8))) & 63`` of word ``i mod 8``
    of the block. Each byte of a ``g`` places one bit, so the k bits are independent and uniform
    in their words, as ``blocked_fpr`` assumes. The scheme uses no process-dependent state, so a
    filter built on one machine answers identically on any other.

    Note:
        A filter never forgets: every added hash tests present (no false negatives). A hash never
        added tests present with probability ``config.theoretical_fpr(distinct items)``.
    """

    def __init__(self, config: BloomConfig):
        if not isinstance(config, BloomConfig):
            raise TypeError(f"config must be a BloomConfig, got {type(config).__name__}")
        self.config = config
        self.words: np.ndarray = np.zeros(config.bits // 64, dtype=_WORD)
        self.items = 0  # hashes passed to add(), duplicates included
        self.path: Path | None = None  # set when mapped from a file

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return (f"BloomFilter(bits={self.config.bits}, hashes={self.config.hashes}, "
                f"seed={self.config.seed}, items={self.items}{where})")

    @property
    def read_only(self) -> bool:
        return not self.words.flags.writeable

    def _check_writable(self, action: str) -> None:
        if self.read_only:
            raise BloomReadOnlyError(f"cannot {action}: this filter is mapped read-only from "
                                     f"{self.path}; call .copy() for a writable in-memory filter")

    def _rows(self) -> np.ndarray:
        """The bit words as a plain (blocks, 8) array: row ``b`` is block ``b``."""
        return np.asarray(self.words).reshape(-1, _BLOCK_WORDS)

    def _place(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The block of every hash (``intp``) and its first ``g`` (see the class docstring)."""
        h = _fmix64_inplace(hashes ^ _U64(self.config.seed))
        block = h >> _U64(32)
        block *= _U64(self.config.blocks)
        block >>= _U64(32)
        return block.astype(np.intp), _fmix64_inplace(np.bitwise_xor(h, _GOLDEN, out=h))

    def _masks(self, g: np.ndarray) -> np.ndarray:
        """The bits of each hash in its block, from its first ``g``: (n, 8) ``uint64`` words."""
        k = self.config.hashes
        masks = np.left_shift(_ONE, _bit_fields(g))
        if k < _BLOCK_WORDS:
            masks[:, k:] = 0
        for r in range(1, -(-k // _BLOCK_WORDS)):
            g = _fmix64_inplace(g ^ _GOLDEN)
            used = min(_BLOCK_WORDS, k - r * _BLOCK_WORDS)
            masks[:, :used] |= np.left_shift(_ONE, _bit_fields(g)[:, :used])
        return masks

    def add(self, hashes: npt.ArrayLike) -> None:
        """Set the bits of every hash; duplicates are harmless (and still counted in ``items``)."""
        self._check_writable("add")
        hashes = _as_hashes(hashes)
        rows = self._rows()
        for start in range(0, len(hashes), _BATCH):
            block, g = self._place(hashes[start:start + _BATCH])
            masks = self._masks(g)
            # Sorted by block, the masks of one block are OR-ed together first: a plain
            # rows[block] |= masks would keep only one of several hashes landing in a block.
            order = np.argsort(block, kind="stable")
            block, masks = block[order], masks[order]
            first = np.flatnonzero(np.concatenate(([True], block[1:] != block[:-1])))
            rows[block[first]] |= np.bitwise_or.reduceat(masks, first, axis=0)
        self.items += len(hashes)

    def contains(self, hashes: npt.ArrayLike) -> np.ndarray:
        """A boolean array: True where the hash may have been added, False where it surely was not."""
        hashes = _as_hashes(hashes)
        out = np.empty(len(hashes), dtype=bool)
        rows = self._rows()
        for start in range(0, len(hashes), _BATCH):
            block, g = self._place(hashes[start:start + _BATCH])
            for at in range(0, len(block), _PROBE_BATCH):
                masks = self._masks(g[at:at + _PROBE_BATCH])
                found = np.take(rows, block[at:at + _PROBE_BATCH], axis=0)  # one cache line per hash
                found &= masks
                # All eight words hold their bits: eight True bytes, read as one word.
                out[start + at:start + at + len(masks)] = (found == masks).view(_U64).reshape(-1) == _ALL_TRUE
        return out

    def __contains__(self, x: int) -> bool:
        return bool(self.contains(np.array([x], dtype=_U64))[0])

    def merge(self, other: BloomFilter) -> None:
        """Add every hash of ``other`` (a bitwise OR, in place); both must share one config.

        Note:
            Merging filters built from disjoint parts of a corpus gives exactly the filter built
            from the whole corpus, so shards can be indexed in parallel and combined at the end.
        """
        self._check_writable("merge")
        if other.config != self.config:
            diffs = _differences(self.config.header(), other.config.header(), names=("this", "other"))
            raise BloomConfigMismatch(f"cannot merge Bloom filters with different configs ({diffs})")
        np.bitwise_or(self.words, other.words, out=self.words)
        self.items += other.items

    def copy(self) -> BloomFilter:
        """A writable in-memory copy (e.g. of a filter opened from a file, to add to it)."""
        out = BloomFilter(self.config)
        out.words[:] = self.words
        out.items = self.items
        return out

    def fill_ratio(self) -> float:
        """The fraction of bits set."""
        return _popcount(self.words) / self.config.bits

    def estimated_fpr(self) -> float:
        """The false-positive rate these very bits give a random non-member: over blocks, the
        mean of the product over words of ``(bits set in the word / 64) ** t_w``, ``t_w`` being
        how many of a hash's bits go to word ``w`` (``theoretical_fpr`` is its expectation)."""
        per_word = _bits_per_word(self.config.hashes)
        total = 0.0
        for start in range(0, len(self.words), _BATCH):
            ones = _bit_counts(self.words[start:start + _BATCH]).reshape(-1, _BLOCK_WORDS)
            total += float(np.prod((ones / 64.0) ** per_word, axis=1).sum())
        return total / self.config.blocks

    def measure_fpr(self, n_probes: int = 100_000, seed: int = _PROBE_SEED) -> float:
        """The fraction of ``n_probes`` random hashes (from a seeded generator) reported present.

        Note:
            The probes are uniform 64-bit values; the caller must not have added hashes from the
            same generator and seed. Then each probe is a member with probability at most
            ``items / 2**64``, so the result estimates the false-positive rate, with standard
            deviation ``sqrt(p (1 - p) / n_probes)``.
        """
        if not _is_int(n_probes) or n_probes < 1:
            raise ValueError(f"n_probes must be an integer >= 1, got {n_probes!r}")
        rng = np.random.default_rng(seed)
        hits = 0
        for start in range(0, n_probes, _BATCH):
            n = min(_BATCH, n_probes - start)
            probes = rng.integers(0, 1 << 64, size=n, dtype=_U64)
            hits += int(np.count_nonzero(self.contains(probes)))
        return hits / n_probes

    def header(self) -> dict:
        """The JSON header this filter is saved with (the checksum reads every bit)."""
        return {"format_version": FORMAT_VERSION, **self.config.header(), "items": self.items,
                "checksum": framing.checksum([self.words])}

    def save(self, path: str | Path) -> None:
        """Write the filter to ``path`` atomically: a ``.tmp`` sibling, fsynced, then renamed."""
        framing.write(path, MAGIC, self.header(), [self.words])

    @classmethod
    def open(cls, path: str | Path, *, expect_chunk: dict | None = None) -> BloomFilter:
        """Map a saved filter read-only; checks magic, version, header and exact file size.

        ``expect_chunk``: the chunking config the caller will hash queries with; a filter built
        with any other raises ``BloomConfigMismatch`` naming the differing keys. The bits are not
        read (use ``verify`` to check the checksum), so opening is immediate at any size.
        """
        path = Path(path)
        header, config, offset = _read_header(path)
        if expect_chunk is not None:
            diffs = _differences(config.chunk, _json_normalized(expect_chunk), names=("stored", "expected"))
            if diffs:
                raise BloomConfigMismatch(f"{path}: built with other chunk settings ({diffs}); rebuild "
                                          "the filter or query it with the chunking it was built with")
        bf = cls.__new__(cls)
        bf.config = config
        bf.words = np.memmap(path, dtype=_WORD, mode="r", offset=offset, shape=(config.bits // 64,))
        bf.items = int(header["items"])
        bf.path = path
        return bf


def _bit_fields(g: np.ndarray) -> np.ndarray:
    """The low six bits of each byte of ``g``, least significant byte first: (n, 8) ``uint8``."""
    return g.astype("<u8", copy=False).view(np.uint8).reshape(-1, _BLOCK_WORDS) & np.uint8(63)


def _bit_counts(words: np.ndarray) -> np.ndarray:
    """Set bits of each word."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(words)
    return np.unpackbits(np.ascontiguousarray(words).view(np.uint8)).reshape(-1, 64).sum(axis=1)


def _popcount(words: np.ndarray) -> int:
    """Number of set bits, a block at a time so a mapped filter is not copied whole."""
    return sum(int(_bit_counts(words[start:start + _BATCH]).sum(dtype=np.int64))
               for start in range(0, len(words), _BATCH))


def _read_header(path: Path) -> tuple[dict, BloomConfig, int]:
    """The checked header of the file at ``path``, its config, and the offset of its bit words."""
    header, offset, size = framing.read_header(path, MAGIC, what="a StarScope Bloom filter", error=BloomFileError)
    version = header.get("format_version")
    if _is_int(version) and 1 <= version < FORMAT_VERSION:
        raise BloomFormatOutdated(
            f"{path}: format version {version}, written by an older StarScope; this version reads "
            f"{FORMAT_VERSION} (blocked: one cache line per lookup). Rebuild the filter from the hashes "
            "it holds (an index's: `starscope rebuild-filter INDEX`)", version=int(version))
    if version != FORMAT_VERSION:
        raise BloomFileError(f"{path}: format version {version}, this version reads {FORMAT_VERSION}; "
                             "rebuild the filter or upgrade StarScope")
    missing = [k for k in ("bits", "hashes", "seed", "chunk", "items", "checksum") if k not in header]
    if missing:
        raise BloomFileError(f"{path}: header lacks {', '.join(missing)}; the file is corrupt")
    try:
        config = BloomConfig(bits=header["bits"], hashes=header["hashes"], seed=header["seed"],
                             chunk=header["chunk"])
    except ValueError as e:
        raise BloomFileError(f"{path}: header holds an invalid config: {e}") from e
    if not _is_int(header["items"]) or header["items"] < 0:
        raise BloomFileError(f"{path}: header items {header['items']!r} is not a count")
    if not isinstance(header["checksum"], str):
        raise BloomFileError(f"{path}: header checksum {header['checksum']!r} is not a hex digest")
    expected = offset + config.bits // 8
    if size < expected:
        raise BloomFileError(f"{path}: truncated: expected {expected} bytes, found {size}")
    if size > expected:
        raise BloomFileError(f"{path}: {size - expected} bytes of trailing data: expected "
                             f"{expected} bytes, found {size}")
    return header, config, offset


def verify(path: str | Path) -> dict:
    """Every check of ``BloomFilter.open`` plus the checksum over all bits; returns the header."""
    path = Path(path)
    header, config, offset = _read_header(path)
    words = np.memmap(path, dtype=_WORD, mode="r", offset=offset, shape=(config.bits // 64,))
    actual = framing.checksum([words])
    if actual != header["checksum"]:
        raise BloomFileError(f"{path}: checksum mismatch: header says {header['checksum']}, bits "
                             f"hash to {actual}; the file is corrupt, rebuild it")
    return header
