"""The served link: a symbolic link naming the index directory a server serves, switched
atomically to a rebuilt directory while the server answers (``starscope switch LINK NEW_DIR``).

Owns the link (replaced by renaming a new link over it, which readers see as one step: the old
target or the new, never neither); a switch leaves the marker of :mod:`indexer.superseded` in the
directory it switched away from. Rebuilding while serving::

    starscope index SHARDS --out index-2 --optouts-from index   # the live opt-outs, skipped at ingest
    starscope switch index index-2                               # index -> index-2

A server given ``index`` re-reads the link each second and opens the new directory beside the
old one; it answers from the old until the new is open, then from the new (see
:mod:`search_api.served`).

Note:
    Nothing recorded on the old directory is lost. The opt-out ledger and the request log are
    appended under their locks; a switch takes both locks, carries over what the new directory
    lacks (opt-outs made during the rebuild are carried out on the new store, requests are
    copied), marks the old directory superseded, replaces the link, and only then lets go. A
    writer that waited for a lock finds the marker and is refused with
    :class:`indexer.superseded.IndexSuperseded`, which names the new directory, so it writes
    there instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from .manifest import read_manifest
from .optout import OptoutLedger, carry_optouts
from .optout_requests import OptoutRequests
from .stores import open_index
from .superseded import mark_superseded, unmark


class SwitchError(RuntimeError):
    """The link cannot be switched to that directory (the message says why and what to do)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_target(old: Path | None, new: Path) -> None:
    manifest = read_manifest(new)  # written last by a build: its presence means the build finished
    if old is None:
        return
    if old == new:
        raise SwitchError(f"the link already points at {new}")
    # Directories built with the same --es-index share one cluster index: "switching" between
    # them would change nothing, and an opt-out carried over would delete from the live one.
    cluster = manifest["store"].get("elasticsearch")
    if cluster and cluster == read_manifest(old)["store"].get("elasticsearch"):
        raise SwitchError(f"{old} and {new} are the same Elasticsearch index ({cluster['index']!r} at "
                          f"{cluster['url']}); rebuild into a directory with its own --es-index")


def switch(link: str | Path, new_dir: str | Path, *, es=None, who: str = "starscope switch") -> dict:
    """Point ``link`` at ``new_dir`` (a finished index), carrying over the opt-outs and opt-out
    requests recorded on the directory it pointed at; returns ``{"link", "from", "to",
    "optouts_carried", "requests_carried"}``. ``es`` as for :func:`indexer.stores.open_index`.

    Raises:
        SwitchError: ``link`` is a real directory, ``new_dir`` is the current target or shares
            its Elasticsearch index.
        indexer.manifest.ManifestError: ``new_dir`` is not a finished index.
    """
    link, new = Path(link), Path(new_dir).resolve()
    if link.exists() and not link.is_symlink():
        raise SwitchError(f"{link} is a directory, not a link. Serve a link to it, once: "
                          f"`mv {link} {link}-1 && ln -s {link.name}-1 {link}`, then restart the server")
    old = link.resolve() if link.is_symlink() and link.exists() else None
    _check_target(old, new)
    carried, copied = [], 0
    if old is None:
        _replace_link(link, new)
    else:
        with OptoutLedger(old).locked(), OptoutRequests(old).locked():
            unmark(new)  # switching back to a directory left earlier
            carried = carry_optouts(old, new, open_index(new, es=es), who=who)
            copied = OptoutRequests(new).carry(OptoutRequests(old))
            # Marked before the link moves: a crash in between leaves writers refused (and told
            # to rerun the switch), never writing where no one will look.
            mark_superseded(old, new)
            _replace_link(link, new)
    return {"link": str(link), "from": None if old is None else str(old), "to": str(new),
            "optouts_carried": [e["seq"] for e in carried], "requests_carried": copied}


def _replace_link(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.switch-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)  # rename(2): atomic, the link always exists
    _fsync_dir(link.parent)
