"""MinHash signatures and LSH band keys for near-duplicate code, as BigCode deduplicated The Stack.

A document becomes a set of shingles (``shingle`` consecutive tokens joined by one space, UTF-8),
the set becomes a signature of ``num_perm`` minima, and the signature becomes ``bands`` store
terms (one per band of ``rows`` values). Two documents that share a band term are candidates;
their signatures estimate the Jaccard similarity of their shingle sets.

Two token streams are signed:

* plain (:func:`tokens`): BigCode's ``re.split(r"[^A-Za-z_0-9]", text)``, empty strings
  dropped (BigCode's script kept them: see :attr:`MinHashConfig.empty_tokens`). Survives
  reformatting and comment edits that leave the words alone.
* abstracted (:func:`membership.lexers.abstract_tokens`): the pygments token stream with identifiers as ``ID``,
  string literals as ``STR``, numbers as ``NUM``, comments and whitespace gone. Survives
  consistent renaming: ``def add(a, b): return a + b`` and ``def plus(x, y): return x + y``
  give the same stream.

Signatures are bit-identical to ``datasketch.MinHash(num_perm, seed=seed, scheme=scheme)``
after ``update_batch`` with the shingles (SHA-1's first bytes as the input hash, datasketch's
own permutations). What makes :class:`MinHasher` faster than a datasketch loop while computing
the same values:

* tokens are found once per document as bytes (one C-level regex pass), shingles are joined in
  C (``map(b" ".join, zip(...))``) and deduplicated in a set before anything is hashed;
* SHA-1 digests are joined into one buffer and read as an array, instead of unpacking one
  Python integer per shingle;
* the permutations run over all the shingles of a batch of documents at once, in blocks of at
  most ``_BLOCK_ELEMENTS`` values laid out ``(num_perm, shingles)``, and a segmented minimum
  (``np.minimum.reduceat``) gives every document its row; a 100k-shingle document never
  allocates 100k × num_perm values;
* the legacy scheme's ``% (2^61 - 1)`` is a shift, a mask and an add (a Mersenne-prime fold)
  instead of a 64-bit division;
* ``sign_texts(workers=n)`` spreads a batch over a process pool.

Note:
    Only the first ``max_tokens`` tokens of a document are shingled (200,000 by default, about
    2 MB of code at The Stack's ~9.5 bytes a token), so a huge generated file costs bounded
    time and memory. Its signature is that of its prefix; every caller, build and query alike,
    truncates the same way. The abstracted stream is bounded much tighter, to its first
    ``abstract_max_tokens`` (4,096, roughly the first 20 KB of code), because pygments lexes
    only ~1 MB/s; data and prose languages (:data:`membership.lexers.NOT_ABSTRACTED`) get no abstracted signature.

Note:
    With ``b`` bands of ``r`` rows, two sets of Jaccard similarity ``s`` share at least one band
    key with probability ``1 - (1 - s^r)^b`` (:func:`collision_probability`). BigCode's 0.7
    threshold with 256 permutations gives 25 × 10 (datasketch's optimum for equal false
    positive and false negative weights): 2.4%, 14.1%, 51.1%, 94.2% at s = 0.5, 0.6, 0.7, 0.8.
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import os
import re
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, fields
from typing import Iterable, Sequence

import numpy as np
import xxhash

from .lexers import abstract_tokens, abstractable

FORMAT_VERSION = 1
SCHEMES = ("affine32", "affine64", "legacy")
BAND_KINDS = ("p", "a")  # plain, abstracted

_WORD = re.compile(r"[A-Za-z_0-9]+")
_WORD_BYTES = re.compile(rb"[A-Za-z_0-9]+")
_NON_WORD = re.compile(r"[^A-Za-z_0-9]")
_NON_WORD_BYTES = re.compile(rb"[^A-Za-z_0-9]")

_BLOCK_ELEMENTS = 1 << 20  # permuted values per block: 4 MB (uint32) or 8 MB (uint64)
_GROUP_SHINGLES = 1 << 18  # shingles hashed before their permutations run (bounds the buffers)
_PARALLEL_MIN_CHARS = 1 << 18  # smaller batches are signed in-process: a pool round trip costs more
_MERSENNE = np.uint64((1 << 61) - 1)
_LOW32 = np.uint64(0xFFFFFFFF)
_FMIX = {  # MurmurHash3 finalizer constants, as datasketch's _fmix
    32: (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16)),
    64: (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(33), np.uint64(0xC4CEB9FE1A85EC53),
         np.uint64(33)),
}


@functools.lru_cache(maxsize=64)
def _optimal_bands_rows(threshold: float, num_perm: int) -> tuple[int, int]:
    # datasketch imports scipy for its integrals: load it only when a config needs deriving.
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, 0.5, 0.5)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class MinHashConfig:
    """How documents are shingled, signed and banded; saved with the index and checked on load.

    ``scheme`` is datasketch's permutation scheme: ``"affine32"`` (datasketch 2.0's default,
    uint32 values) or ``"affine64"``, or ``"legacy"`` (datasketch before 2.0, uint64 values
    below 2^32). ``bands``/``rows`` left at 0 are derived from ``(threshold, num_perm)`` by
    datasketch's own optimal-parameter search (false positive and negative weighted 0.5 each).

    ``empty_tokens`` keeps the empty strings that ``re.split`` leaves between adjacent
    separators. BigCode's script kept them (``NON_ALPHA.split(content)`` with no filter), so
    only :meth:`bigcode` (``scheme="legacy", seed=42, empty_tokens=True``) reproduces the
    signatures of BigCode's near-deduplication bit for bit; the default drops them, as
    :func:`tokens` does, so that ``a = b`` and ``a=b`` shingle alike.
    """

    num_perm: int = 256
    shingle: int = 5  # tokens per shingle
    seed: int = 1  # datasketch's default seed
    scheme: str = "affine32"
    threshold: float = 0.7
    bands: int = 0
    rows: int = 0
    max_tokens: int = 200_000  # only the first max_tokens tokens of a document are shingled
    abstract_max_tokens: int = 4096  # the abstracted stream: pygments lexes ~1 MB/s, so a prefix
    empty_tokens: bool = False
    version: int = FORMAT_VERSION

    def __post_init__(self):
        for name in ("num_perm", "shingle", "seed", "bands", "rows", "max_tokens",
                     "abstract_max_tokens", "version"):
            if not _is_int(getattr(self, name)):
                raise ValueError(f"{name} must be an integer, got {getattr(self, name)!r}")
        if self.version != FORMAT_VERSION:
            raise ValueError(f"MinHash config version {self.version} is not the supported version "
                             f"{FORMAT_VERSION}; rebuild the index with this StarScope")
        if not 2 <= self.num_perm <= 1024:
            raise ValueError(f"num_perm must be between 2 and 1024, got {self.num_perm} "
                             "(BigCode used 256)")
        if not 1 <= self.shingle <= 64:
            raise ValueError(f"shingle must be between 1 and 64 tokens, got {self.shingle} (BigCode used 5)")
        if not 0 <= self.seed < 2 ** 32:
            raise ValueError(f"seed must be between 0 and 2**32 - 1 (numpy's RandomState), got {self.seed}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {self.scheme!r}; "
                             "use 'legacy' with seed=42 for BigCode's signatures")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) \
                or not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be a Jaccard similarity strictly between 0 and 1, "
                             f"got {self.threshold!r} (BigCode used 0.7)")
        if not isinstance(self.empty_tokens, bool):
            raise ValueError(f"empty_tokens must be true or false, got {self.empty_tokens!r}")
        if self.abstract_max_tokens < self.shingle:
            raise ValueError(f"abstract_max_tokens ({self.abstract_max_tokens}) must be at least one "
                             f"shingle ({self.shingle} tokens)")
        if self.max_tokens < self.shingle:
            raise ValueError(f"max_tokens ({self.max_tokens}) must be at least one shingle "
                             f"({self.shingle} tokens), or no document could be signed")
        if (self.bands == 0) != (self.rows == 0):
            raise ValueError(f"give both bands and rows, or leave both at 0 to derive them from the "
                             f"threshold; got bands={self.bands}, rows={self.rows}")
        if self.bands == 0:
            bands, rows = _optimal_bands_rows(float(self.threshold), int(self.num_perm))
            object.__setattr__(self, "bands", bands)
            object.__setattr__(self, "rows", rows)
        if self.bands < 1 or self.rows < 1:
            raise ValueError(f"bands and rows must be positive, got bands={self.bands}, rows={self.rows}")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands × rows = {self.bands * self.rows} exceeds num_perm={self.num_perm}: "
                             f"lower bands or rows, or raise num_perm to at least {self.bands * self.rows}")

    @classmethod
    def bigcode(cls) -> "MinHashConfig":
        """BigCode's near-deduplication signatures of The Stack, bit for bit: datasketch's legacy
        scheme, seed 42, BigCode's tokens with their empty strings."""
        return cls(scheme="legacy", seed=42, empty_tokens=True)

    @property
    def dtype(self) -> np.dtype:
        """The signature's dtype, as datasketch stores it for the scheme."""
        return np.dtype(np.uint32 if self.scheme == "affine32" else np.uint64)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "MinHashConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown MinHash config keys {unknown}: the index was written by a newer "
                             "StarScope, or the file was edited")
        return cls(**data)


# ---------------------------------------------------------------------------------------------
# Token streams


def tokens(text: str, *, keep_empty: bool = False) -> list[str]:
    """BigCode's tokens: ``re.split(r"[^A-Za-z_0-9]", text)`` with the empty strings dropped.

    ``keep_empty=True`` keeps them, as BigCode's own script did (see
    :attr:`MinHashConfig.empty_tokens`).
    """
    if keep_empty:
        return _NON_WORD.split(text)
    return _WORD.findall(text)  # maximal word runs: the same list, without the empty strings


def shingle_set(toks: Sequence[str], k: int) -> set[bytes]:
    """The distinct shingles: ``" ".join`` of ``k`` consecutive tokens, UTF-8 encoded.

    Fewer than ``k`` tokens give the empty set (BigCode skipped such documents).
    """
    if k < 1:
        raise ValueError(f"a shingle holds at least one token, got k={k}")
    if len(toks) < k:
        return set()
    toks = list(toks)
    grams = map(" ".join, zip(*(toks[i:] for i in range(k))))
    # surrogatepass: a lone surrogate (text decoded with surrogateescape) must not crash a build
    return {g.encode("utf-8", "surrogatepass") for g in grams}


def _byte_tokens(text: str, max_tokens: int, keep_empty: bool) -> list[bytes]:
    """``tokens(text)[:max_tokens]`` as ASCII bytes, without tokenizing all of a huge text."""
    limit = max_tokens * 16
    if len(text) > limit:
        # A prefix holding more than max_tokens tokens holds the first max_tokens whole (only
        # the last one found can be cut short); else tokenize everything.
        head = _byte_tokens(text[:limit], max_tokens + 1, keep_empty)
        if len(head) > max_tokens:
            return head[:max_tokens]
    if keep_empty and not text.isascii():
        # Splitting UTF-8 would turn one non-ASCII separator into several: split the text itself.
        toks = [t.encode("ascii") for t in _NON_WORD.split(text)]
    else:
        # Every token is ASCII and every byte of a non-ASCII character is a separator, so bytes
        # and text give the same tokens.
        data = text.encode("utf-8", "surrogatepass")
        toks = _NON_WORD_BYTES.split(data) if keep_empty else _WORD_BYTES.findall(data)
    return toks[:max_tokens] if len(toks) > max_tokens else toks


def _byte_shingles(toks: list[bytes], k: int) -> set[bytes]:
    if len(toks) < k:
        return set()
    return set(map(b" ".join, zip(*(toks[i:] for i in range(k)))))


# ---------------------------------------------------------------------------------------------
# Signatures


def _permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` exactly as ``datasketch.MinHash._init_permutations`` draws them (2.0)."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        pairs = np.array([(gen.randint(1, _MERSENNE, dtype=np.uint64),
                           gen.randint(0, _MERSENNE, dtype=np.uint64)) for _ in range(num_perm)],
                         dtype=np.uint64).T
        return pairs[0].copy(), pairs[1].copy()
    width = 32 if scheme == "affine32" else 64
    dtype = np.uint32 if width == 32 else np.uint64
    a = gen.randint(0, 1 << (width - 1), num_perm, dtype=dtype) * dtype(2) + dtype(1)
    b = gen.randint(0, 1 << width, num_perm, dtype=dtype)
    return a, b


def _fmix(h: np.ndarray, width: int) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX[width]
    h = h ^ (h >> s1)
    h *= m1
    h ^= h >> s2
    h *= m2
    h ^= h >> s3
    return h


def _sha1_digests(shingles: Iterable[bytes]) -> bytes:
    sha1 = hashlib.sha1
    return b"".join([sha1(s).digest() for s in shingles])


class MinHasher:
    """Signs shingle sets and texts; turns signatures into band keys.

    ``sign(s)`` equals ``datasketch.MinHash(num_perm, seed=seed, scheme=scheme)`` updated with
    ``s`` (its ``hashvalues``, same dtype), and is computed as the module docstring explains.
    """

    def __init__(self, config: MinHashConfig | None = None):
        self.config = config = config if config is not None else MinHashConfig()
        self.dtype = config.dtype
        self._width = 64 if config.scheme == "affine64" else 32  # bits of the SHA-1 input hash
        a, b = _permutations(config.num_perm, config.seed, config.scheme)
        self._a, self._b = a[:, None].copy(), b[:, None].copy()  # broadcast over shingles
        self._max = (1 << 32) - 1 if config.scheme != "affine64" else (1 << 64) - 1
        self._block = max(1, _BLOCK_ELEMENTS // config.num_perm)

    # -- shingles ---------------------------------------------------------------------------

    def shingles(self, text: str, *, abstracted: bool = False, lang: str | None = None,
                 path: str | None = None) -> set[bytes]:
        """The shingle set that :meth:`sign_texts` signs for ``text`` (first ``max_tokens``
        tokens, plain or abstracted)."""
        cfg = self.config
        if abstracted:
            if not abstractable(lang):
                return set()
            toks, _ = abstract_tokens(text, lang=lang, path=path, max_tokens=cfg.abstract_max_tokens)
            return shingle_set(toks, cfg.shingle)
        return _byte_shingles(_byte_tokens(text, cfg.max_tokens, cfg.empty_tokens), cfg.shingle)

    # -- signing ----------------------------------------------------------------------------

    def sign(self, shingles: Iterable[bytes]) -> np.ndarray | None:
        """The MinHash of a set of byte strings; None for the empty set."""
        if not isinstance(shingles, (set, frozenset)):
            shingles = set(shingles)
        if not shingles:
            return None
        hv = self._input_hashes(_sha1_digests(shingles))
        return self._minima(hv, np.array([0], dtype=np.int64))[0]

    def sign_text(self, text: str, *, abstracted: bool = False, lang: str | None = None,
                  path: str | None = None) -> np.ndarray | None:
        """One text's signature (None under ``shingle`` tokens); same as :meth:`sign_texts`."""
        return self.sign(self.shingles(text, abstracted=abstracted, lang=lang, path=path))

    def sign_texts(self, texts: Sequence[str], *, abstracted: bool = False,
                   langs: Sequence[str | None] | None = None, paths: Sequence[str | None] | None = None,
                   workers: int = 1) -> list[np.ndarray | None]:
        """Signatures of a batch of texts, None for those with fewer than ``shingle`` tokens.

        ``langs``/``paths`` (aligned with ``texts``) choose the lexer of abstracted signing.
        ``workers > 1`` splits the batch over that many processes (a pool kept for the life of
        this process, see :func:`close_worker_pools`); small batches stay in-process. The
        workers start from a fork server and import ``__main__`` as multiprocessing does, so a
        script that signs with workers must guard its entry point (``if __name__ == "__main__"``).

        Note:
            Measured on 20 MB of The Stack's Python and C (2-core AMD EPYC, 256 permutations,
            tokenizing included, identical signatures): affine32 signs ~13.6 MB/s in one
            process and ~27 MB/s with ``workers=2``, where datasketch 2.0's per-document
            ``update`` loop does ~1.4 MB/s and ``update_batch`` ~5.6 MB/s; legacy ~8.2 and
            ~17 MB/s against ~1.7 and ~3.0. Abstracted signing is bound by pygments, which
            lexes ~1.0 MB/s (Python ~0.9, C ~1.8): ~1.0 MB/s, ~1.8 MB/s with ``workers=2``.
        """
        texts = list(texts)
        n = len(texts)
        langs = _aligned(langs, n, "langs")
        paths = _aligned(paths, n, "paths")
        if not _is_int(workers) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        if workers == 1 or n < 2 or sum(map(len, texts)) < _PARALLEL_MIN_CHARS:
            return self._sign_batch(texts, abstracted, langs, paths)
        out: list[np.ndarray | None] = []
        for rows, present in _run_in_pool(workers, self.config, texts, abstracted, langs, paths):
            it = iter(rows)
            out.extend(next(it) if p else None for p in present)
        return out

    def _sign_batch(self, texts, abstracted, langs, paths) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = [None] * len(texts)
        digests, owners, counts, pending = [], [], [], 0
        for i, text in enumerate(texts):
            sh = self.shingles(text, abstracted=abstracted, lang=langs[i], path=paths[i])
            if not sh:
                continue
            digests.append(_sha1_digests(sh))
            owners.append(i)
            counts.append(len(sh))
            pending += len(sh)
            if pending >= _GROUP_SHINGLES:
                self._flush(digests, owners, counts, out)
                digests, owners, counts, pending = [], [], [], 0
        if owners:
            self._flush(digests, owners, counts, out)
        return out

    def _flush(self, digests, owners, counts, out) -> None:
        hv = self._input_hashes(b"".join(digests))
        starts = np.zeros(len(counts), dtype=np.int64)
        np.cumsum(counts[:-1], out=starts[1:])
        for i, row in zip(owners, self._minima(hv, starts)):
            out[i] = row

    def _input_hashes(self, digests: bytes) -> np.ndarray:
        """datasketch's ``sha1_hash32`` (or ``sha1_hash64``) of each shingle, from their joined
        20-byte SHA-1 digests: the first 4 (or 8) bytes, little-endian."""
        if self._width == 32:
            return np.frombuffer(digests, dtype="<u4")[::5].astype(np.uint32)
        raw = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 20)[:, :8]
        return np.ascontiguousarray(raw).view("<u8").ravel().astype(np.uint64)

    def _minima(self, hv: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Per document (shingles ``hv[starts[i]:starts[i+1]]``, none empty) the minimum of
        every permutation: ``(len(starts), num_perm)`` of the scheme's dtype."""
        scheme = self.config.scheme
        if scheme == "legacy":
            x = hv.astype(np.uint64)
        else:
            x = _fmix(hv, self._width)
        n, docs = len(x), len(starts)
        out = np.full((docs, self.config.num_perm), self._max, dtype=self.dtype)
        block = self._block
        buf = np.empty((self.config.num_perm, min(block, n)), dtype=self.dtype)
        tmp = np.empty_like(buf) if scheme == "legacy" else None
        for s in range(0, n, block):
            e = min(n, s + block)
            phv = buf[:, :e - s]
            np.multiply(self._a, x[s:e], out=phv)  # wraps modulo 2^w, as datasketch's arrays do
            phv += self._b
            if scheme == "legacy":
                self._mersenne_low32(phv, tmp[:, :e - s])
            first = int(np.searchsorted(starts, s, side="right")) - 1
            last = int(np.searchsorted(starts, e - 1, side="right")) - 1
            offsets = np.concatenate(([0], starts[first + 1:last + 1] - s))
            mins = np.minimum.reduceat(phv, offsets, axis=1).T
            np.minimum(out[first:last + 1], mins, out=out[first:last + 1])
        return out

    @staticmethod
    def _mersenne_low32(x: np.ndarray, t: np.ndarray) -> None:
        """In place: ``(x % (2^61 - 1)) & 0xFFFFFFFF`` for any uint64 ``x``.

        Note:
            With ``p = 2^61 - 1``, ``2^61 ≡ 1 (mod p)``, so ``x ≡ (x & p) + (x >> 61)``; that
            sum is at most ``p + 7``, and one conditional subtraction finishes the reduction
            (needed with probability ~2^-58 per value, so checked once per block).
        """
        np.right_shift(x, np.uint64(61), out=t)
        x &= _MERSENNE
        x += t
        if x.max() >= _MERSENNE:
            np.subtract(x, _MERSENNE, out=x, where=x >= _MERSENNE)
        x &= _LOW32

    # -- LSH --------------------------------------------------------------------------------

    def band_keys(self, signature: np.ndarray, *, kind: str = "p") -> list[str]:
        """One store term per band: ``f"{kind}{band:02d}"`` and 16 hex digits of XXH3-64 over
        the band's values as little-endian bytes of the scheme's dtype.

        ``kind`` is ``"p"`` (plain tokens) or ``"a"`` (abstracted tokens), so the two signatures
        of a document never share keys. Two documents are LSH candidates when they share a key.
        """
        if kind not in BAND_KINDS:
            raise ValueError(f"band kind must be 'p' (plain tokens) or 'a' (abstracted tokens), got {kind!r}")
        sig = self._check_signature(signature)
        data = sig.astype(self.dtype.newbyteorder("<"), copy=False).tobytes()
        width = self.config.rows * self.dtype.itemsize
        h = xxhash.xxh3_64_hexdigest
        return [f"{kind}{band:02d}{h(data[band * width:(band + 1) * width])}"
                for band in range(self.config.bands)]

    def _check_signature(self, signature) -> np.ndarray:
        sig = np.asarray(signature)
        if sig.shape != (self.config.num_perm,):
            raise ValueError(f"a signature of this config has {self.config.num_perm} values, got shape "
                             f"{sig.shape}: was it made with another num_perm?")
        if sig.dtype != self.dtype:
            if sig.dtype.kind not in "iu" or int(sig.min()) < 0 or int(sig.max()) > self._max:
                raise ValueError(f"signature values must be {self.dtype} for scheme {self.config.scheme!r}, "
                                 f"got {sig.dtype}")
            sig = sig.astype(self.dtype)
        return sig

    @staticmethod
    def estimate(a: np.ndarray, b: np.ndarray) -> float:
        """The estimated Jaccard similarity: the fraction of equal values (datasketch's
        ``MinHash.jaccard``). Standard error ``sqrt(s(1-s)/num_perm)``: ±0.03 at 256."""
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.ndim != 1 or not len(a):
            raise ValueError(f"signatures to compare must have the same length, got {a.shape} and {b.shape}")
        return float(np.count_nonzero(a == b)) / len(a)

    def __getstate__(self):
        return {"config": self.config}

    def __setstate__(self, state):
        self.__init__(state["config"])


def jaccard(a: set, b: set) -> float:
    """Exact Jaccard similarity ``|a ∩ b| / |a ∪ b|``; 0.0 when both are empty."""
    if not a and not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def collision_probability(s: float, bands: int, rows: int) -> float:
    """Probability that two sets of Jaccard similarity ``s`` share at least one band key:
    ``1 - (1 - s^rows)^bands`` (each band matches with probability ``s^rows``)."""
    return 1.0 - (1.0 - s ** rows) ** bands


def _aligned(values, n: int, name: str) -> list:
    if values is None:
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{name} must have one entry per text ({n}), got {len(values)}")
    return values


# ---------------------------------------------------------------------------------------------
# Process pool


_POOLS: dict[int, ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(workers: int) -> ProcessPoolExecutor:
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            # forkserver: workers come from a clean process, not from a fork of a build that may
            # hold threads (tantivy's writer) and locks.
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                                       initializer=_watch_parent, initargs=(os.getpid(),))
            _POOLS[workers] = pool
        return pool


def _watch_parent(parent_pid: int) -> None:
    """In a worker: exit when the process that owns the pool is gone.

    Note:
        A pool's workers block on a queue whose write end they hold themselves, and the fork
        server lives as long as they do, so a build killed with SIGKILL would leave all of them
        sleeping forever. Polling the owner's pid once a second ends them instead.
    """
    def watch():
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # exists, owned by someone else: the pid was reused
                os._exit(0)

    threading.Thread(target=watch, name="minhash-parent-watch", daemon=True).start()


def close_worker_pools() -> None:
    """Shut down the signing processes started by ``sign_texts(workers=n)``."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def _chunks(lengths: list[int], pieces: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, end)`` ranges of about equal total length."""
    total = sum(lengths)
    bounds, acc, start = [], 0, 0
    for i, n in enumerate(lengths):
        acc += n
        if acc * pieces >= total * (len(bounds) + 1) and i + 1 > start:
            bounds.append((start, i + 1))
            start = i + 1
    if start < len(lengths):
        bounds.append((start, len(lengths)))
    return bounds


def _run_in_pool(workers, config, texts, abstracted, langs, paths):
    ranges = _chunks([len(t) for t in texts], pieces=4 * workers)  # 4 per worker: balance
    for attempt in (0, 1):
        pool = _pool(workers)
        try:
            futures = [pool.submit(_sign_chunk, config, texts[s:e], abstracted, langs[s:e], paths[s:e])
                       for s, e in ranges]
            return [f.result() for f in futures]
        except BrokenProcessPool:
            # A worker died (killed for memory, say): start a fresh pool once, then give up.
            with _POOLS_LOCK:
                if _POOLS.get(workers) is pool:
                    del _POOLS[workers]
            if attempt:
                raise


@functools.lru_cache(maxsize=8)
def _worker_hasher(config: MinHashConfig) -> MinHasher:
    return MinHasher(config)


def _sign_chunk(config, texts, abstracted, langs, paths):
    """In a worker: the signatures as one matrix (compact to send back) and which were signed."""
    sigs = _worker_hasher(config)._sign_batch(texts, abstracted, langs, paths)
    present = [s is not None for s in sigs]
    rows = [s for s in sigs if s is not None]
    matrix = np.stack(rows) if rows else np.zeros((0, config.num_perm), dtype=config.dtype)
    return matrix, present
