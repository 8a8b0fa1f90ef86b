"""Normalized text and its 50-character chunk hashes: what the Bloom filter and the store's
chunk keys hold, and what a query is compared against. Hashes are ``uint64`` everywhere,
also where they cross into a store (:class:`membership.store.ContentStore`).

Normalization (as Data Portraits does for code): a whitespace run that holds a line break
(CR or LF) becomes one ``\\n`` (so trailing spaces and the next line's indentation vanish),
any other whitespace run one space, and the whole is stripped. A re-indented or
CRLF-converted copy therefore normalizes to the same text. Every normalized character keeps
the raw ``[start, end)`` it came from, so spans are reported in the caller's coordinates.

Index time hashes the chunks at ``stride`` (0, 50, 100, ...); query time hashes the window at
every offset.

Note:
    With width ``w`` and stride ``s == w``, any verbatim overlap of ``2w - 1 = 99`` normalized
    characters contains a whole indexed chunk of the source (the source's chunk grid has a
    start within the overlap's first ``w`` characters), so some query window equals it and the
    overlap is found: no false negatives, whatever the alignment.

The chunk hash is FNV-1a over the UTF-32 code points with a seeded offset basis, finished with
MurmurHash3's ``fmix64``: vectorized over many windows at once with numpy and identical on
every machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

FORMAT_VERSION = 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = np.uint64(0x100000001B3)
_WHITESPACE = [c for c in range(0x3001) if chr(c).isspace()]
_IS_SPACE = np.zeros(0x3001 + 1, bool)
_IS_SPACE[_WHITESPACE] = True  # the last slot stands for every code point above U+3000


@dataclass(frozen=True)
class ChunkConfig:
    """How text is cut and hashed; saved with the index and checked on every load."""

    width: int = 50
    stride: int = 50
    seed: int = 0x5354415253434F50  # "STARSCOP"
    version: int = FORMAT_VERSION

    def __post_init__(self):
        if self.width < 8:
            raise ValueError(f"chunk width must be at least 8 characters, got {self.width}")
        if not 1 <= self.stride <= self.width:
            raise ValueError(f"stride must be between 1 and the width ({self.width}), got {self.stride}; "
                             "a stride over the width leaves gaps that no query window can find")
        if not 0 <= self.seed < 2 ** 64:
            raise ValueError(f"seed must be an unsigned 64-bit integer, got {self.seed}")

    @property
    def guaranteed_overlap(self) -> int:
        """The shortest verbatim overlap (normalized characters) that is always found."""
        return self.width + self.stride - 1

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ChunkConfig":
        return cls(**data)


@dataclass(frozen=True)
class Normalized:
    """Normalized text with, for each of its characters, the raw range it stands for."""

    text: str
    codes: np.ndarray  # code points of ``text`` (uint8 when it is ASCII, else uint32)
    raw_starts: np.ndarray  # int64, per normalized character
    raw_ends: np.ndarray  # int64, per normalized character (a collapsed run covers the run)
    raw_length: int

    def __len__(self) -> int:
        return len(self.text)

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The raw ``[start, end)`` of normalized ``[start, end)`` (non-empty)."""
        return int(self.raw_starts[start]), int(self.raw_ends[end - 1])


def _code_points(text: str) -> np.ndarray:
    """Code points: one byte each for ASCII text (most code; a quarter of the memory traffic),
    else four. Hashes and comparisons see the same values either way."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), np.uint8)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


def _text(codes: np.ndarray) -> str:
    if codes.dtype == np.uint8:
        return codes.tobytes().decode("ascii")
    return codes.tobytes().decode("utf-32-le", "surrogatepass")


def _normalize_codes(c: np.ndarray):
    """``(codes, kept raw indices, positions of collapsed runs in the output, run ends)``."""
    n = len(c)
    # ASCII whitespace: space, \t \n \v \f \r and the separators \x1c-\x1f
    t = c.dtype.type
    space = (c == 32) | ((c - t(9)) < 5) | ((c - t(0x1C)) < 4)
    if c.dtype != np.uint8:
        wide = np.flatnonzero(c >= 0x80)  # few in code: look them up
        if len(wide):
            space[wide] = _IS_SPACE[np.minimum(c[wide], 0x3001)]
    if not space.any():
        return c, None, None, None
    edges = np.flatnonzero(space[1:] != space[:-1]) + 1
    if space[0]:
        edges = np.concatenate(([0], edges))
    if space[-1]:
        edges = np.concatenate((edges, [n]))
    run_starts, run_ends = edges[0::2], edges[1::2]
    # Which runs hold a line break: look each break up among the runs (breaks are fewer).
    breaks = np.flatnonzero((c == 10) | (c == 13))
    has_break = np.zeros(len(run_starts), bool)
    has_break[np.searchsorted(run_starts, breaks, side="right") - 1] = True
    inner = (run_starts > 0) & (run_ends < n)
    lead = int(run_ends[0]) if run_starts[0] == 0 else 0
    run_starts, run_ends, has_break = run_starts[inner], run_ends[inner], has_break[inner]
    keep = ~space
    keep[run_starts] = True
    idx = np.flatnonzero(keep)
    out = c[idx]
    # Output position of each run: its raw start less what was dropped before it.
    dropped = np.cumsum(run_ends - run_starts - 1) - (run_ends - run_starts - 1)
    at_run = run_starts - lead - dropped
    out[at_run] = np.where(has_break, 10, 32).astype(c.dtype)
    return out, idx, at_run, run_ends


def normalize(text: str) -> Normalized:
    """Collapse whitespace as described in the module docstring, keeping the offset map."""
    c = _code_points(text)
    out, idx, at_run, run_ends = _normalize_codes(c)
    if idx is None:
        idx = np.arange(len(c), dtype=np.int64)
        return Normalized(text, c, idx, idx + 1, len(c))
    ends = idx + 1
    ends[at_run] = run_ends
    return Normalized(_text(out), out, idx, ends, len(c))


def normalize_text(text: str) -> str:
    """Only the normalized text."""
    return normalize(text).text


def _hash_rows(rows: np.ndarray, seed: int) -> np.ndarray:
    """One uint64 hash per row of a (n, width) uint32 view."""
    h = np.full(rows.shape[0], _FNV_OFFSET ^ seed, dtype=np.uint64)
    for j in range(rows.shape[1]):
        h ^= rows[:, j]
        h *= _FNV_PRIME
    return _fmix64(h)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, in place."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def window_hashes(codes: np.ndarray, config: ChunkConfig = ChunkConfig()) -> np.ndarray:
    """The hash of the window starting at every offset (``len - width + 1`` of them).

    The same values as ``_hash_rows`` over the sliding windows, computed for a query: the code
    points are widened to ``uint64`` once, so that each of the ``width`` steps is one xor and
    one multiply in place over a contiguous slice (column ``j`` of the windows is
    ``codes[j:j + n]``), with no cast and no temporary per step.
    """
    n = len(codes) - config.width + 1
    if n < 1:
        return np.zeros(0, np.uint64)
    wide = codes.astype(np.uint64)
    h = wide[:n] ^ np.uint64(_FNV_OFFSET ^ config.seed)
    h *= _FNV_PRIME
    xor, multiply = np.bitwise_xor, np.multiply
    for j in range(1, config.width):
        xor(h, wide[j:j + n], out=h)
        multiply(h, _FNV_PRIME, out=h)
    return _fmix64(h)


def chunk_hashes(codes: np.ndarray, config: ChunkConfig = ChunkConfig()) -> np.ndarray:
    """The hashes of the chunks at the stride (0, stride, 2·stride, ... while whole)."""
    if len(codes) < config.width:
        return np.zeros(0, np.uint64)
    view = np.lib.stride_tricks.sliding_window_view(codes, config.width)[::config.stride]
    return _hash_rows(view, config.seed)


def document_chunk_hashes(contents: Sequence[str], config: ChunkConfig = ChunkConfig()) -> list[np.ndarray]:
    """Chunk hashes of each raw content (normalized first), for a batch at index time: those of
    :func:`document_chunks` (its offsets are a strided gather of the map normalizing made)."""
    return document_chunks(contents, config)[0]


def document_chunks(contents: Sequence[str], config: ChunkConfig = ChunkConfig()
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """:func:`document_chunk_hashes` and, per content, the raw character offset where each
    chunk starts (``uint32``): what the build logs so that a query maps a span found on hashes
    back to the raw text without normalizing the document.

    Note:
        The offset of chunk ``j`` is the raw index of normalized character ``j * stride``, which
        the normalization's kept-index map gives for free (a collapsed whitespace run starts where
        the run does); the index-time path pays one strided gather per content.
    """
    rows, counts, offsets = [], [], []
    for content in contents:
        codes, kept, _, _ = _normalize_codes(_code_points(content))
        n = 0 if len(codes) < config.width else (len(codes) - config.width) // config.stride + 1
        if n:
            rows.append(np.lib.stride_tricks.sliding_window_view(codes, config.width)[::config.stride])
        at = np.arange(0, n * config.stride, config.stride, dtype=np.int64)
        offsets.append((at if kept is None else kept[at]).astype(np.uint32))
        counts.append(n)
    if not rows:
        return [np.zeros(0, np.uint64) for _ in contents], offsets
    # One hashing pass over the whole batch: per-document calls would cost more than the work.
    hashes = _hash_rows(np.concatenate(rows), config.seed)
    return np.split(hashes, np.cumsum(counts)[:-1]), offsets


def distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` takes a hash-table path for 64-bit integers in
    numpy 2.4 that is ~18x slower than sorting)."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]
