"""``<index>/optout/requests.jsonl``: opt-out requests from code authors, as they arrive.

Owns the file: its writer (:meth:`OptoutRequests.add`), reader (:meth:`OptoutRequests.list`),
format version and :meth:`OptoutRequests.verify`. A request is what an author asks for through
the browser or ``POST /api/optout/requests``; acting on it (``starscope optout add``, or
``POST /api/admin/optout``) is the operator's, and is recorded elsewhere.

Format: JSON lines. The first line is the header ``{"format": "starscope-optout-requests",
"version": 1}``; every other line is one request ``{"id", "received_at", "repo" | "owner",
"contact", "reason", "indexed_documents"}``. It is only ever appended to, locked and fsynced
(:mod:`indexer.jsonl_log`), so an acknowledged request is on disk. A line cut short by a crash
mid-write is skipped on reading and reported by ``verify``.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import ContextManager

from . import jsonl_log
from .superseded import check_current
from .optout import check_name

FORMAT = "starscope-optout-requests"
VERSION = 1
HEADER = {"format": FORMAT, "version": VERSION}
FILE = Path("optout") / "requests.jsonl"
MAX_CONTACT = 200
MAX_REASON = 2000


class OptoutRequestError(ValueError):
    """A request that cannot be recorded as given; ``code`` is stable for the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class OptoutRequestsFormatError(RuntimeError):
    """The file is not an opt-out request log of this version."""


def validate(*, repo: str | None, owner: str | None, contact: str, reason: str) -> dict:
    """The request's fields (contact and reason stripped, the name exactly as given), or
    :class:`OptoutRequestError` naming what is wrong.

    The repository or owner takes any name an index can hold (:func:`indexer.optout.check_name`),
    indexed now or not: a request may name code the next build will bring, and the operator
    decides. The name is kept as sent, since an indexed name may begin or end with a space.
    """
    repo, owner = repo or None, owner or None
    if bool(repo) == bool(owner):
        raise OptoutRequestError("invalid_parameter", "give exactly one of repo (a repository's name, such as "
                                                      "owner/name) or owner")
    try:
        check_name("repo", repo) if repo is not None else check_name("owner", owner)
    except ValueError as e:
        raise OptoutRequestError("invalid_parameter", str(e)) from None
    contact, reason = contact.strip(), reason.strip()
    if not contact or len(contact) > MAX_CONTACT:
        raise OptoutRequestError("invalid_parameter", f"contact (an email address or profile URL, so the "
                                                      f"operator can confirm) takes 1-{MAX_CONTACT} characters")
    if not reason or len(reason) > MAX_REASON:
        raise OptoutRequestError("invalid_parameter", f"reason takes 1-{MAX_REASON} characters")
    return {"repo": repo, "owner": owner, "contact": contact, "reason": reason}


class OptoutRequests:
    """The request log of one index directory."""

    def __init__(self, index_dir: str | Path):
        self.path = Path(index_dir) / FILE

    def add(self, *, repo: str | None = None, owner: str | None = None, contact: str, reason: str,
            indexed_documents: int | None = None) -> dict:
        """Validate and append one request; returns it as stored (with its ``id``).

        Raises:
            OptoutRequestError: a field is missing, malformed or too long.
            indexer.superseded.IndexSuperseded: a switch replaced this index directory.
            OSError: the index directory cannot be written.
        """
        fields = validate(repo=repo, owner=owner, contact=contact, reason=reason)
        record = {"id": secrets.token_hex(8),
                  "received_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  **{k: v for k, v in fields.items() if v is not None},
                  "indexed_documents": indexed_documents}
        with self.locked() as log:
            check_current(self.path.parent.parent)
            return log.append(record)

    def locked(self) -> ContextManager[jsonl_log.LockedLog]:
        """Hold the log's lock for a block: no request is recorded until it ends."""
        return jsonl_log.locked(self.path, HEADER)

    def carry(self, src: "OptoutRequests") -> int:
        """Append the requests of ``src`` that this log lacks (by ``id``), in their order;
        returns how many. Call it holding ``src``'s lock, so none arrives meanwhile."""
        have = {r["id"] for r in self.list()}
        missing = [r for r in src.list() if r.get("id") not in have]
        if missing:
            with self.locked() as log:
                for record in missing:
                    log.append(record)
        return len(missing)

    def _lines(self) -> list[str]:
        lines, _ = jsonl_log.read_lines(self.path, HEADER, OptoutRequestsFormatError, "an opt-out request log")
        return [line for _, line in lines]

    def list(self) -> list[dict]:
        """Every complete request, oldest first."""
        out = []
        for line in self._lines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a write cut short; verify() reports it
        return out

    def verify(self) -> dict:
        """Check the header and every line: ``{"requests", "bad_lines"}``.

        Raises:
            OptoutRequestsFormatError: a foreign file or another version.
        """
        lines = self._lines()
        bad = 0
        for line in lines:
            try:
                rec = json.loads(line)
                validate(repo=rec.get("repo"), owner=rec.get("owner"), contact=rec["contact"], reason=rec["reason"])
            except (json.JSONDecodeError, KeyError, AttributeError, OptoutRequestError):
                bad += 1
        return {"requests": len(lines) - bad, "bad_lines": bad}
