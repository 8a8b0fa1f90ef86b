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

from membership.framing import fsync_dir

from .index_dir import IndexDir
from .optout import carry_optouts
from .superseded import mark_superseded, unmark


class SwitchError(RuntimeError):
    """The link cannot be switched to that directory (the message says why and what to do)."""


def _check_target(old: IndexDir | None, new: IndexDir) -> None:
    manifest = new.manifest  # written last by a build: its presence means the build finished
    if old is None:
        return
    if old.path == new.path:
        raise SwitchError(f"the link already points at {new.path}")
    # Directories built with the same --es-index share one cluster index: "switching" between
    # them would change nothing, and an opt-out carried over would delete from the live one.
    cluster = manifest["store"].get("elasticsearch")
    if cluster and cluster == old.manifest["store"].get("elasticsearch"):
        raise SwitchError(f"{old.path} and {new.path} are the same Elasticsearch index "
                          f"({cluster['index']!r} at {cluster['url']}); rebuild into a directory with "
                          "its own --es-index")


def switch(link: str | Path, new_dir: str | Path, *, es=None, who: str = "starscope switch") -> dict:
    """Point ``link`` at ``new_dir`` (a finished index), carrying over the opt-outs and opt-out
    requests recorded on the directory it pointed at; returns ``{"link", "from", "to",
    "optouts_carried", "requests_carried"}``; ``es`` says where ``new_dir``'s Elasticsearch index
    is served from, if not where it was built (see :class:`indexer.index_dir.IndexDir`).

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
    old_index, new_index = (IndexDir(old) if old is not None else None), IndexDir(new, es=es)
    _check_target(old_index, new_index)
    carried, copied = [], 0
    if old is None:
        _replace_link(link, new)
    else:
        with old_index.ledger.locked(), old_index.requests.locked():
            unmark(new)  # switching back to a directory left earlier
            carried = carry_optouts(old, new, new_index.store, who=who)
            copied = new_index.requests.carry(old_index.requests)
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
    fsync_dir(link.parent)
