"""``*.bloom``: a Bloom filter over the 64-bit hashes of normalized code chunks.

The inputs are already 64-bit hashes (numpy ``uint64``) of 50-character chunks; this module owns
only the filter: its sizing, the bit positions a hash sets, and the file it is saved in.

File layout (all integers little-endian)::

    b"SSBLOOM\\x01"        8 bytes, fixed forever; the format version lives in the header
    header length          uint32, bytes of the JSON header that follows
    JSON header            {format_version, bits, hashes, seed, chunk, items, checksum}
    zero padding           to the next multiple of 8 bytes from the start of the file
    bit words              bits / 64 uint64 words; bit j is bit (j & 63) of word (j >> 6)

``checksum`` is the xxh3_64 hex digest of the bit words' bytes. A saved filter is opened with
``numpy.memmap`` (nothing is read up front), so a multi-gigabyte filter loads at once and its
pages are shared by every process that opens it.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xxhash

FORMAT_VERSION = 1
MAGIC = b"SSBLOOM\x01"

_LENGTH = struct.Struct("<I")
_PREFIX = len(MAGIC) + _LENGTH.size
_MAX_HEADER = 1 << 20  # a real header is a few hundred bytes; more means a foreign file
_BLOCK = 1 << 20  # hashes (or words) handled per vectorized step, to bound temporary memory
_WORD = np.dtype("<u8")
_U64 = np.uint64

# MurmurHash3's 64-bit finalizer constants, and the golden ratio that derives h2 from h1.
_C1 = _U64(0xFF51AFD7ED558CCD)
_C2 = _U64(0xC4CEB9FE1A85EC53)
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_PROBE_SEED = 0x5EED_B100


class BloomFileError(ValueError):
    """A Bloom filter file that is missing pieces, foreign, from another version or corrupt."""


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


@dataclass(frozen=True)
class BloomConfig:
    """The shape of one filter: ``bits`` (m), ``hashes`` (k), ``seed``, and the chunking it serves.

    ``chunk`` is opaque here: it describes how the hashed chunks were made (size, normalization,
    hash function) and is stored in the header so that a filter built with other chunk settings
    is refused on open instead of silently answering "absent" for everything.

    Note:
        After ``n`` distinct items a filter answers "present" for a non-member with probability
        ``(1 - exp(-k n / m)) ** k``. For a target rate ``p`` the best choice is
        ``m = -n ln p / (ln 2)^2`` bits (about 9.6 bits per item at 1%, 14.4 at 0.1%) and
        ``k = (m / n) ln 2`` hashes; ``for_capacity`` computes both.
    """

    bits: int
    hashes: int
    seed: int = 0
    chunk: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _is_int(self.bits) or self.bits < 64 or self.bits % 64:
            raise ValueError(f"bits must be a positive multiple of 64, got {self.bits!r}; "
                             "use BloomConfig.for_capacity(n_items, fpr) to size a filter")
        if not _is_int(self.hashes) or self.hashes < 1:
            raise ValueError(f"hashes must be an integer >= 1, got {self.hashes!r}; "
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

    @classmethod
    def for_capacity(cls, n_items: int, fpr: float = 0.001, *, seed: int = 0,
                     chunk: dict | None = None) -> BloomConfig:
        """The smallest config that holds ``n_items`` distinct hashes at false-positive rate ``fpr``.

        Note:
            ``m = ceil(-n ln p / (ln 2)^2)`` rounded up to whole 64-bit words, and
            ``k = max(1, round(m / n * ln 2))``; ``n = 0`` is sized as 1. Adding more than
            ``n_items`` still works, but the rate climbs: see ``theoretical_fpr``.
        """
        if not _is_int(n_items) or n_items < 0:
            raise ValueError(f"n_items must be an integer >= 0, got {n_items!r}")
        if isinstance(fpr, bool) or not isinstance(fpr, (int, float, np.floating)) or not 0 < fpr < 1:
            raise ValueError(f"fpr must be a probability strictly between 0 and 1, got {fpr!r}; "
                             "e.g. 0.001 for one false positive per thousand non-member lookups")
        n = max(1, int(n_items))
        m = math.ceil(-n * math.log(fpr) / math.log(2) ** 2)
        m = -(-m // 64) * 64
        k = max(1, round(m / n * math.log(2)))
        return cls(bits=m, hashes=k, seed=seed, chunk={} if chunk is None else chunk)

    def theoretical_fpr(self, n_items: int) -> float:
        """Expected false-positive rate after ``n_items`` distinct hashes: ``(1 - e^(-kn/m))^k``."""
        if not _is_int(n_items) or n_items < 0:
            raise ValueError(f"n_items must be an integer >= 0, got {n_items!r}")
        return (1.0 - math.exp(-self.hashes * int(n_items) / self.bits)) ** self.hashes

    def header(self) -> dict:
        return {"bits": self.bits, "hashes": self.hashes, "seed": self.seed, "chunk": self.chunk}


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer over a ``uint64`` array (a new array; wraps modulo 2**64).

    Note:
        A bijection on 64-bit values in which every input bit flips each output bit with
        probability close to 1/2, so even inputs like 0, 1, 2 spread over the whole filter.
        Array arithmetic on ``uint64`` wraps silently; scalars would warn, so callers pass arrays.
    """
    x = x ^ (x >> _U64(33))
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
    """A Bloom filter of 64-bit chunk hashes: in memory and writable, or mapped read-only from a file.

    Bit positions come from double hashing (Kirsch and Mitzenmacher): ``h1 = fmix64(x ^ seed)``,
    ``h2 = fmix64(h1 ^ 0x9E3779B97F4A7C15) | 1`` and position ``i`` is ``(h1 + i * h2) mod m``,
    computed in wrapping ``uint64`` arithmetic. The scheme uses no process-dependent state, so a
    filter built on one machine answers identically on any other. ``h2`` is odd, so when ``m`` is
    a power of two it is coprime to ``m`` and the k positions are distinct.

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

    def _positions(self, block: np.ndarray) -> Iterator[np.ndarray]:
        """Yield the k bit positions of every hash in ``block``, one ``uint64`` array per i."""
        m = _U64(self.config.bits)
        h1 = fmix64(block ^ _U64(self.config.seed))
        h2 = fmix64(h1 ^ _GOLDEN)
        h2 |= _U64(1)
        pos = h1
        for i in range(self.config.hashes):
            yield pos % m
            if i + 1 < self.config.hashes:
                pos += h2  # in place: wraps modulo 2**64, as the scheme defines

    def add(self, hashes: npt.ArrayLike) -> None:
        """Set the bits of every hash; duplicates are harmless (and still counted in ``items``)."""
        self._check_writable("add")
        hashes = _as_hashes(hashes)
        for start in range(0, len(hashes), _BLOCK):
            for pos in self._positions(hashes[start:start + _BLOCK]):
                # ufunc.at, not words[w] |= b: several positions in one block may share a word.
                np.bitwise_or.at(self.words, (pos >> _U64(6)).astype(np.intp),
                                 _U64(1) << (pos & _U64(63)))
        self.items += len(hashes)

    def contains(self, hashes: npt.ArrayLike) -> np.ndarray:
        """A boolean array: True where the hash may have been added, False where it surely was not."""
        hashes = _as_hashes(hashes)
        out = np.empty(len(hashes), dtype=bool)
        for start in range(0, len(hashes), _BLOCK):
            block = hashes[start:start + _BLOCK]
            hit = np.ones(len(block), dtype=bool)
            for pos in self._positions(block):
                word = self.words[(pos >> _U64(6)).astype(np.intp)]
                hit &= ((word >> (pos & _U64(63))) & _U64(1)).astype(bool)
            out[start:start + len(block)] = hit
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
        """The fraction of bits set; about ``1 - e^(-kn/m)`` after n distinct items."""
        return _popcount(self.words) / self.config.bits

    def estimated_fpr(self) -> float:
        """False-positive rate implied by the bits actually set: ``fill_ratio() ** k``."""
        return self.fill_ratio() ** self.config.hashes

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
        for start in range(0, n_probes, _BLOCK):
            n = min(_BLOCK, n_probes - start)
            probes = rng.integers(0, 1 << 64, size=n, dtype=_U64)
            hits += int(np.count_nonzero(self.contains(probes)))
        return hits / n_probes

    def header(self) -> dict:
        """The JSON header this filter is saved with (the checksum reads every bit)."""
        return {"format_version": FORMAT_VERSION, **self.config.header(), "items": self.items,
                "checksum": _checksum(self.words)}

    def save(self, path: str | Path) -> None:
        """Write the filter to ``path`` atomically: a ``.tmp`` sibling, fsynced, then renamed."""
        path = Path(path)
        header = json.dumps(self.header(), sort_keys=True).encode()
        head = MAGIC + _LENGTH.pack(len(header)) + header
        head += b"\0" * (-len(head) % 8)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(head)
                f.write(memoryview(self.words).cast("B"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

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


def _popcount(words: np.ndarray) -> int:
    """Number of set bits, a block at a time so a mapped filter is not copied whole."""
    total = 0
    for start in range(0, len(words), _BLOCK):
        block = words[start:start + _BLOCK]
        if hasattr(np, "bitwise_count"):  # numpy >= 2.0
            total += int(np.bitwise_count(block).sum(dtype=np.int64))
        else:
            total += int(np.unpackbits(block.view(np.uint8)).sum(dtype=np.int64))
    return total


def _checksum(words: np.ndarray) -> str:
    h = xxhash.xxh3_64()
    for start in range(0, len(words), _BLOCK):
        h.update(memoryview(np.ascontiguousarray(words[start:start + _BLOCK])).cast("B"))
    return h.hexdigest()


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; some filesystems cannot open a directory, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_header(path: Path) -> tuple[dict, BloomConfig, int]:
    """The checked header of the file at ``path``, its config, and the offset of its bit words."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(_PREFIX)
        if prefix[:len(MAGIC)] != MAGIC[:len(prefix)]:
            raise BloomFileError(f"{path} is not a StarScope Bloom filter (starts with "
                                 f"{prefix[:len(MAGIC)]!r}, expected {MAGIC!r})")
        if len(prefix) < _PREFIX:
            raise BloomFileError(f"{path}: truncated: expected at least {_PREFIX} bytes, found {size}")
        (length,) = _LENGTH.unpack(prefix[len(MAGIC):])
        if length > _MAX_HEADER:
            raise BloomFileError(f"{path}: header length {length} is implausible (at most "
                                 f"{_MAX_HEADER}); the file is corrupt")
        raw = f.read(length)
        if len(raw) < length:
            raise BloomFileError(f"{path}: truncated: expected at least {_PREFIX + length} bytes, "
                                 f"found {size}")
        offset = _PREFIX + length + (-(_PREFIX + length) % 8)
        padding = f.read(offset - _PREFIX - length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BloomFileError(f"{path}: header is not valid JSON ({e}); the file is corrupt") from e
    if not isinstance(header, dict):
        raise BloomFileError(f"{path}: header is not a JSON object; the file is corrupt")
    version = header.get("format_version")
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
    if padding.strip(b"\0"):
        raise BloomFileError(f"{path}: header padding is not zero; the file is corrupt")
    return header, config, offset


def verify(path: str | Path) -> dict:
    """Every check of ``BloomFilter.open`` plus the checksum over all bits; returns the header."""
    path = Path(path)
    header, config, offset = _read_header(path)
    words = np.memmap(path, dtype=_WORD, mode="r", offset=offset, shape=(config.bits // 64,))
    actual = _checksum(words)
    if actual != header["checksum"]:
        raise BloomFileError(f"{path}: checksum mismatch: header says {header['checksum']}, bits "
                             f"hash to {actual}; the file is corrupt, rebuild it")
    return header
