"""The mechanics of an append-only JSON-lines log with a format header, shared by the opt-out
request log (:mod:`indexer.optout_requests`) and the opt-out ledger (:mod:`indexer.optout`); each
of those owns its file and says what a record holds.

A log's first line is its header (``{"format": ..., "version": ...}``), every other line one
record. Writers append under an exclusive ``flock`` (several server workers and the CLI may write
at once) and fsync before returning, so an acknowledged record is on disk. A crash mid-append can
leave the last line cut short: the next append ends that line first, so its own record stands
whole, and readers get the cut line to judge.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class LockedLog:
    """A log held under its exclusive lock (see :func:`locked`)."""

    def __init__(self, fd: int, header: dict):
        self._fd, self._header = fd, header

    def append(self, record: dict) -> dict:
        """Write ``record`` as one line and fsync it (the header first, into an empty log)."""
        size = os.fstat(self._fd).st_size
        lead = ""
        if size == 0:
            lead = json.dumps(self._header) + "\n"
        elif os.pread(self._fd, 1, size - 1) != b"\n":
            lead = "\n"  # end a line a crash cut short
        os.write(self._fd, (lead + json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        os.fsync(self._fd)
        return record


@contextmanager
def locked(path: Path, header: dict) -> Iterator[LockedLog]:
    """Hold the log's exclusive lock for a block: no other writer, in any process, appends
    until it ends. (``flock`` locks belong to the open file, so do not lock the same log twice
    in one block: the second waits for the first forever.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield LockedLog(fd, header)
    finally:
        os.close(fd)  # releases the lock


def read_lines(path: Path, header: dict, error: type[Exception], what: str) -> tuple[list[tuple[int, str]], bool]:
    """``(line number, text)`` of every non-empty record line, after checking the header, and
    whether the last one lacks its line end (a crash cut it short); ``([], False)`` when there is
    no log yet (no file, or an empty one).

    Raises:
        error: the file is not ``what`` (another format) or is of another version.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], False
    if not data:  # created by a writer that has not written its header yet (or crashed first)
        return [], False
    lines = data.decode("utf-8", "replace").split("\n")
    try:
        head = json.loads(lines[0])
    except json.JSONDecodeError:
        head = None
    if not isinstance(head, dict) or head.get("format") != header["format"]:
        raise error(f"{path} is not {what}")
    if head.get("version") != header["version"]:
        raise error(f"{path} is version {head.get('version')}; this StarScope reads version {header['version']}")
    return [(n, line) for n, line in enumerate(lines[1:], 2) if line], not data.endswith(b"\n")
