"""Opt-out that takes effect: ``<index>/optout/ledger.jsonl`` and ``<index>/optout/removed/``.

Owns the ledger (writer :meth:`OptoutLedger.locked`, reader :meth:`OptoutLedger.entries`, format
version, :meth:`OptoutLedger.verify`) and the removed-chunk files beside it. What an opt-out does,
in order (:func:`opt_out`):

1. the repository's (or owner's) documents are read, and the chunk hashes of the contents no
   other source keeps are saved to ``removed/<seq>.npy``;
2. the request is appended to the ledger: ``{"seq", "at", "who", "repo" | "owner", "reason",
   "removed", "contents_removed", "chunks_removed"}``;
3. its sources are deleted from the store in one operation: search, attribution and
   near-duplicates stop returning them at once.

A repository is named as the index holds it (see :func:`check_name`): ``owner/name``, or a
source tree's folder name without a slash (``json``), or any other name a corpus gave it; the
ledger keeps it exactly as given, and it matches the store's names case-insensitively, as the
store matches them. An owner is what comes before a repository name's first ``/`` (a name
without one is its own owner): ``owner="json"`` removes ``json`` and every ``json/*``,
``repo="json"`` only ``json``.

The entry is written ahead of the deletion, so a failure (a crash, a full disk) never leaves
code removed without a record of it: a crash before step 2 leaves at most an unreferenced file;
one after it, an opt-out recorded but not yet carried out, which membership treats as pending
(it checks hits in the store, which still holds them), which the next build honours, and which
rerunning the same opt-out finishes. A repeat of an opt-out that is recorded and carried out
(nothing of it left in the store) writes nothing and answers the entry that did it.

Until the Bloom filter is rebuilt, it still holds the removed chunks; membership checks hits
against the store whenever the ledger is ahead of the filter (``sketch.json``'s ``ledger_seq``),
so removed code is not reported present. :func:`rebuild_filter` drops the removed chunks that no
remaining content holds from the per-shard chunk logs and rebuilds the filter from them. A
rebuild (``starscope index``) honours the ledger: documents of opted-out repositories and owners
are skipped at ingest, so removed code never comes back.
"""

from __future__ import annotations

import json
import os
import time
import unicodedata
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from membership.chunks import distinct, document_chunk_hashes
from membership.sequences import build_spans
from membership.sketch import ChunkLog, build_bloom, read_meta

from . import jsonl_log
from .shard_log import ShardLog
from .superseded import check_current

FORMAT = "starscope-optout-ledger"
VERSION = 1
HEADER = {"format": FORMAT, "version": VERSION}
DIR = "optout"
BATCH_HASHES = 1000  # chunk hashes per store lookup in rebuild_filter
MAX_NAME_CHARS = 1000
"""The longest repository or owner name an opt-out takes: far above any real one (GitHub's
are at most 140 characters, a folder's name 255 bytes), so only garbage is refused."""


def check_name(field: str, name: str) -> str:
    """``name`` (of ``field``, ``"repo"`` or ``"owner"``) as an opt-out takes it: unchanged, or
    ValueError saying what to fix.

    Every name an index can hold is taken: ``owner/name``, a folder's name without a slash
    (``json``), several slashes, spaces, any script or case. Refused are what no index name is:
    an empty or blank name, one over :data:`MAX_NAME_CHARS`, a control character or a lone
    surrogate (a damaged record; in an author's request, a forged log line); and an owner
    holding a ``/``, since an owner is what comes before a name's first ``/``.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{field} is empty: give the name as `starscope repos INDEX PREFIX` (or the "
                         "dataset page) lists it")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"{field} is {len(name):,} characters long; names are at most {MAX_NAME_CHARS:,}: "
                         "copy the name from `starscope repos INDEX PREFIX` (or the dataset page)")
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is not None:
        what = "a byte that is not UTF-8" if unicodedata.category(bad) == "Cs" else "the control character"
        raise ValueError(f"{field} {name[:80]!r} holds {what} U+{ord(bad):04X}, which no indexed name has: "
                         "copy the name from `starscope repos INDEX PREFIX` (or the dataset page)")
    if field == "owner" and "/" in name:
        raise ValueError(f"owner {name[:80]!r} holds a '/', and an owner is what comes before a name's "
                         f"first '/': to remove that one repository, give it as the repo, or give the "
                         f"owner {name.split('/', 1)[0][:80]!r}")
    return name


class OptoutLedgerError(RuntimeError):
    """The ledger is foreign, of another version, or has a damaged entry."""


class OptoutLedger:
    """The append-only record of opt-outs carried out on one index."""

    def __init__(self, index_dir: str | Path):
        self.dir = Path(index_dir) / DIR
        self.path = self.dir / "ledger.jsonl"
        self._cache: tuple[tuple[int, int], list[dict]] | None = None
        self._by_name: tuple[list[dict], dict[tuple[str, str], dict]] | None = None
        self._damaged: list[int] = []

    def removed_path(self, seq: int) -> Path:
        return self.dir / "removed" / f"{seq}.npy"

    def entries(self) -> list[dict]:
        """Every opt-out, oldest first (re-read only when the file changed)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        key = (st.st_mtime_ns, st.st_size)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        lines, _ = jsonl_log.read_lines(self.path, HEADER, OptoutLedgerError, "an opt-out ledger")
        out, damaged = [], []
        for n, line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                # A line a crash cut short; the next append ended it and went on, so it may sit
                # anywhere. It never became an opt-out (its removed chunks, if saved, go unused);
                # verify() reports it.
                damaged.append(n)
        self._cache = (key, out)
        self._damaged = damaged
        return out

    def last_seq(self) -> int:
        entries = self.entries()
        return entries[-1]["seq"] if entries else 0

    def excluder(self) -> Callable[[str], bool]:
        """A test of a repository name (any form, as a corpus gives it) against the opt-outs
        recorded now: true when the repository or its owner (what precedes its first ``/``; a
        name without one is its own owner) opted out. Case-insensitive, as the store matches."""
        repos, owners = self.names()
        return lambda repo: repo.lower() in repos or repo.split("/", 1)[0].lower() in owners

    def covering(self, *, repo: str | None = None, owner: str | None = None) -> dict | None:
        """The latest entry that opted out this repository (by its name, else by its owner's) or
        this owner, or None; case-insensitive, as the store matches."""
        entries = self.entries()
        if self._by_name is None or self._by_name[0] is not entries:
            self._by_name = (entries, {(f, e[f].lower()): e for e in entries for f in ("repo", "owner") if e.get(f)})
        latest = self._by_name[1]
        if owner:
            return latest.get(("owner", owner.lower()))
        return latest.get(("repo", repo.lower())) or latest.get(("owner", repo.split("/", 1)[0].lower()))

    def names(self) -> tuple[set[str], set[str]]:
        """The opted-out repositories and owners, lowercased."""
        entries = self.entries()
        return ({e["repo"].lower() for e in entries if e.get("repo")},
                {e["owner"].lower() for e in entries if e.get("owner")})

    def opted_out(self, prefix: str = "", *, limit: int = 100) -> list[dict]:
        """The opted-out repositories and owners whose name starts with ``prefix``
        (case-insensitive): ``{"repo" | "owner", "seq", "at"}``, oldest first."""
        prefix = prefix.lower()
        out = [{k: e[k] for k in ("repo", "owner", "seq", "at") if k in e} for e in self.entries()
               if (e.get("repo") or e.get("owner")).lower().startswith(prefix)]
        return out[:limit]

    @contextmanager
    def locked(self) -> Iterator[Callable[[dict, np.ndarray], dict]]:
        """Hold the ledger's lock for a block (no other opt-out, in any process, runs until it
        ends); yields ``append(record, removed_hashes)``, which gives ``record`` the next
        ``seq``, saves its removed hashes, then appends it, fsynced."""
        with jsonl_log.locked(self.path, HEADER) as log:
            def append(record: dict, removed_hashes: np.ndarray) -> dict:
                self._cache = None
                numbered = {"seq": self.last_seq() + 1, **record}
                (self.dir / "removed").mkdir(parents=True, exist_ok=True)
                tmp = self.removed_path(numbered["seq"]).with_suffix(".tmp.npy")
                np.save(tmp, np.asarray(removed_hashes, dtype=np.uint64))
                os.replace(tmp, self.removed_path(numbered["seq"]))
                log.append(numbered)
                self._cache = None
                return numbered

            yield append

    def pending(self, filter_seq: int) -> int:
        """How many opt-outs a Bloom filter that reflects those up to ``filter_seq`` still
        holds chunks of. One that removed no chunk (its contents all live on elsewhere, or it
        was carried into a build before its repository was read) leaves nothing to suppress."""
        pending = 0
        for e in reversed(self.entries()):  # numbered in order: only the tail is newer than the filter
            if e["seq"] <= filter_seq:
                break
            pending += bool(e.get("chunks_removed", 1))
        return pending

    def removed_hashes(self) -> np.ndarray:
        """The chunk hashes of every removed content, distinct."""
        parts = [np.load(self.removed_path(e["seq"])) for e in self.entries()
                 if self.removed_path(e["seq"]).exists()]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)

    def verify(self) -> dict:
        """Every entry has its removed-chunk file: ``{"entries", "missing_chunk_files",
        "damaged_lines"}`` (line numbers of lines a crash cut short).

        Raises:
            OptoutLedgerError: a foreign ledger, or one of another version.
        """
        self._cache = None
        entries = self.entries()
        missing = [e["seq"] for e in entries if not self.removed_path(e["seq"]).exists()]
        return {"entries": len(entries), "missing_chunk_files": missing, "damaged_lines": self._damaged}


def opt_out(index_dir: str | Path, store, *, repo: str | None = None, owner: str | None = None,
            reason: str, who: str, carried_from: dict | None = None) -> dict:
    """Remove a repository's (or owner's) sources from ``store`` now and record it; returns the
    ledger entry (``removed``: contents deleted or changed; ``carried_from``: the directory and
    entry it repeats, see :func:`carry_optouts`).

    ``repo`` is any name the index holds (see :func:`check_name`), kept in the entry exactly as
    given. When the ledger already has an entry for it (or for its owner) and the store holds
    nothing of it, nothing is written: that entry is returned with ``"already": True``. A
    repeat of one whose deletion was cut off (the store still holds some) carries it out, under
    a new entry.

    Raises:
        ValueError: not exactly one of ``repo`` and ``owner``, a name no index holds, or no reason.
        indexer.superseded.IndexSuperseded: a switch replaced ``index_dir``; nothing was removed.
    """
    if bool(repo) == bool(owner):
        raise ValueError("give exactly one of repo or owner")
    field, name = ("repo", repo) if repo else ("owner", owner)
    check_name(field, name)
    if not reason.strip():
        raise ValueError("the reason must say why")
    ledger = OptoutLedger(index_dir)
    with ledger.locked() as append:
        check_current(index_dir)
        before = store.docs_with_terms(field, [name.lower()], limit=10_000_000)
        done = None if before else ledger.covering(**{field: name})
        if done is not None:  # recorded and carried out: a repeat adds nothing
            return {**done, "already": True}
        leaves = ((lambda s: s.repo.lower() == name.lower()) if repo else
                  (lambda s: s.owner.lower() == name.lower()))
        gone = [d for d in before if all(leaves(s) for s in d.sources)]  # no other source keeps it
        sketch = store.sketch_config()
        hashes = np.zeros(0, np.uint64)
        if sketch and gone:
            hashes = distinct(np.concatenate(document_chunk_hashes([d.content for d in gone], sketch.chunks)))
        record = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "who": who, field: name,
                  "reason": reason.strip(), "removed": len(before), "contents_removed": len(gone),
                  "chunks_removed": int(len(hashes))}
        if carried_from:
            record["carried_from"] = carried_from
        entry = append(record, hashes)  # recorded before it is carried out: see the module's note
        with store.session() as session:
            session.delete(repo=repo, owner=owner)
        return entry


def carry_optouts(src_dir: str | Path, dst_dir: str | Path, dst_store, *, who: str) -> list[dict]:
    """Carry out on ``dst_dir`` every opt-out recorded on ``src_dir`` that it lacks (same
    reason, ``who`` the command carrying it); returns the new entries. Idempotent: a repository
    or owner already opted out of ``dst_dir``, with nothing of it left in ``dst_store``, is not
    carried again (see :func:`opt_out`); one recorded but cut off before its deletion is."""
    dst, out = OptoutLedger(dst_dir), []
    for e in OptoutLedger(src_dir).entries():
        field = "repo" if e.get("repo") else "owner"
        # opt_out finds this too, under the lock; checking first reads dst's ledger once, not per entry
        if dst.covering(**{field: e[field]}) and not dst_store.docs_with_terms(field, [e[field].lower()], limit=1):
            continue
        entry = opt_out(dst_dir, dst_store, reason=e["reason"], who=who, **{field: e[field]},
                        carried_from={"dir": str(Path(src_dir).resolve()), "seq": e["seq"],
                                      "who": e["who"], "at": e["at"]})
        if not entry.get("already"):
            out.append(entry)
    return out


def rebuild_filter(index_dir: str | Path, store) -> dict:
    """Drop the removed contents' chunks (those no remaining content holds) from the chunk logs
    and rebuild the Bloom filter from them, and the span index without the opted-out sources;
    returns the new ``sketch.json`` plus ``dropped`` (and ``spans``, the span index's record)."""
    t0 = time.perf_counter()
    ledger = OptoutLedger(index_dir)
    seq = ledger.last_seq()
    sketch = store.sketch_config()
    if sketch is None:
        raise ValueError(f"{index_dir} has no membership sketch to rebuild")
    chunks = sketch.chunks
    gone = ledger.removed_hashes()
    # A removed chunk that a remaining content also holds stays: the contents sharing a chunk
    # key with the removed ones are read and their own chunks compared (exact, and blind to
    # deleted documents that the store's term statistics still count).
    held: list[np.ndarray] = []
    for i in range(0, len(gone), BATCH_HASHES):
        for doc in store.contents_with_chunks(gone[i:i + BATCH_HASHES], limit=10_000_000):
            held.append(np.intersect1d(document_chunk_hashes([doc.content], chunks)[0], gone))
    keep = np.isin(gone, np.concatenate(held)) if held else np.zeros(len(gone), dtype=bool)
    drop = gone[~keep]
    log, dropped = ChunkLog(index_dir), 0
    for key in log.keys():
        hashes = np.asarray(log.read(key))
        left = hashes[~np.isin(hashes, drop)]
        if len(left) != len(hashes):
            dropped += len(hashes) - len(left)
            log.write(key, left)
    meta = read_meta(index_dir) or {}
    sketch = build_bloom(index_dir, chunks=chunks, fpr=meta.get("fpr", 0.001), force=True, ledger_seq=seq)
    spans = build_spans(index_dir, shards=list(ShardLog(index_dir).done()), chunks=chunks,
                        excluded=ledger.excluder(), ledger_seq=seq,
                        store=store)
    sketch["spans"] = {k: v for k, v in spans.items() if k != "shards"}
    return {**sketch, "dropped": dropped, "kept_shared": int(keep.sum()), "rebuild_s": round(time.perf_counter() - t0, 3)}
