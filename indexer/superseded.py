"""The marker ``SUPERSEDED`` that ``starscope switch`` leaves in the index directory it switched
away from (:mod:`indexer.live`), and the check every writer of that directory makes.

The opt-out ledger and the request log (:mod:`indexer.optout`, :mod:`indexer.optout_requests`)
call :func:`check_current` under their lock before they append; a switch takes both locks,
carries their records over and writes the marker before it lets go, so a writer that waited
is refused with :class:`IndexSuperseded`, which names the new directory.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from membership.framing import fsync_dir

MARKER = "SUPERSEDED"


class IndexSuperseded(RuntimeError):
    """A write to an index directory that a switch has replaced; ``successor`` is where the
    link now points."""

    def __init__(self, index_dir: Path, successor: Path):
        super().__init__(f"{index_dir} was replaced by {successor} (`starscope switch`); write to the "
                         "served link or the new directory")
        self.index_dir, self.successor = index_dir, successor


def superseded_by(index_dir: str | Path) -> Path | None:
    """The directory that replaced ``index_dir`` when a switch left it, else None."""
    try:
        return Path(json.loads((Path(index_dir) / MARKER).read_text())["by"])
    except FileNotFoundError:
        return None


def check_current(index_dir: str | Path) -> None:
    """Raise :class:`IndexSuperseded` when a switch has left ``index_dir`` (call it under the
    lock of the log about to be written, so no switch slips in between)."""
    successor = superseded_by(index_dir)
    if successor is not None:
        raise IndexSuperseded(Path(index_dir), successor)


def mark_superseded(index_dir: Path, successor: Path) -> None:
    """Leave the marker naming ``successor`` in ``index_dir``, durably."""
    tmp = index_dir / f".{MARKER}.tmp"
    tmp.write_text(json.dumps({"by": str(successor),
                               "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
    os.replace(tmp, index_dir / MARKER)
    fsync_dir(index_dir)


def unmark(index_dir: Path) -> None:
    """Drop the marker of ``index_dir`` (a switch back to a directory left earlier)."""
    (index_dir / MARKER).unlink(missing_ok=True)

