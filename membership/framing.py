"""The frame membership's binary artifacts share (``*.bloom``, the chunk suffix array).

Layout (all integers little-endian)::

    magic                  8 bytes, fixed forever per artifact; its format version is in the header
    header length          uint32, bytes of the JSON header that follows
    JSON header            the artifact's own fields (format_version, sizes, checksum, ...)
    zero padding           to the next multiple of 8 bytes from the start of the file
    arrays                 each padded with zeros to a multiple of 8 bytes

Each artifact's module owns its header fields, its format version and what a reader checks of
them; this module only writes the frame atomically and reads it back with clear errors.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import xxhash

HEADER_LENGTH = struct.Struct("<I")
MAX_HEADER = 1 << 20  # a real header is a few hundred bytes; more means a foreign file
_BATCH_BYTES = 8 << 20  # bytes hashed per step, to bound temporary memory


def is_count(x: Any) -> bool:
    """A non-negative int (JSON's ``true`` is not one)."""
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def checksum(arrays: Iterable[np.ndarray]) -> str:
    """xxh3_64 hex digest of the arrays' bytes in order (padding excluded)."""
    h = xxhash.xxh3_64()
    for a in arrays:
        flat = a.reshape(-1)
        step = max(1, _BATCH_BYTES // max(1, a.itemsize))
        for start in range(0, len(flat), step):
            h.update(memoryview(np.ascontiguousarray(flat[start:start + step])).cast("B"))
    return h.hexdigest()


def padded(nbytes: int) -> int:
    return nbytes + (-nbytes % 8)


def write(path: str | Path, magic: bytes, header: dict, arrays: Iterable[np.ndarray]) -> None:
    """Write the framed file atomically: a ``.tmp`` sibling, fsynced, renamed, the rename made
    durable."""
    path = Path(path)
    raw = json.dumps(header, sort_keys=True).encode()
    head = magic + HEADER_LENGTH.pack(len(raw)) + raw
    head += b"\0" * (-len(head) % 8)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(head)
            for a in arrays:
                f.write(memoryview(np.ascontiguousarray(a)).cast("B"))
                f.write(b"\0" * (-a.nbytes % 8))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def read_header(path: Path, magic: bytes, *, what: str, error: type[Exception]) -> tuple[dict, int, int]:
    """``(header, offset of the first array, file size)`` of the framed file at ``path``;
    ``error(message)`` for a file that is not ``what`` (a foreign magic), is truncated or has a
    corrupt header."""
    prefix_size = len(magic) + HEADER_LENGTH.size
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(prefix_size)
        if prefix[:len(magic)] != magic[:len(prefix)]:
            raise error(f"{path} is not {what} (starts with {prefix[:len(magic)]!r}, expected {magic!r})")
        if len(prefix) < prefix_size:
            raise error(f"{path}: truncated: expected at least {prefix_size} bytes, found {size}")
        (length,) = HEADER_LENGTH.unpack(prefix[len(magic):])
        if length > MAX_HEADER:
            raise error(f"{path}: header length {length} is implausible (at most {MAX_HEADER}); the file is corrupt")
        raw = f.read(length)
        if len(raw) < length:
            raise error(f"{path}: truncated: expected at least {prefix_size + length} bytes, found {size}")
        offset = padded(prefix_size + length)
        padding = f.read(offset - prefix_size - length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"{path}: header is not valid JSON ({e}); the file is corrupt") from e
    if not isinstance(header, dict):
        raise error(f"{path}: header is not a JSON object; the file is corrupt")
    if padding.strip(b"\0"):
        raise error(f"{path}: header padding is not zero; the file is corrupt")
    return header, offset, size


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (the indexer's link switches use it too); some
    filesystems cannot open a directory, which is fine."""
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
