"""The index the app serves, followed across ``starscope switch``: state that the app factory
creates and every blueprint reads, kept out of :mod:`search_api.app` so that the blueprints
import this module and the app imports the blueprints, never the other way round.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from flask import current_app, g

from indexer.index_dir import IndexDir
from indexer.optout import OptoutLedger
from indexer.store import Store
from membership.attribution import AttributionConfig, MembershipIndex
from membership.bloom import BloomFormatOutdated
from membership.sketch import SketchMissing
from model.generate import Generator

# The key of the app's LiveIndex in ``app.extensions``.
EXTENSION = "starscope"


@dataclass(frozen=True)
class ServedIndex:
    """The index directory the app serves: its store and manifest, opened once at start."""

    path: Path
    store: Store
    manifest: dict
    membership: MembershipIndex | None = None  # None without a sketch
    generator: Generator | None = None  # None without MODEL
    ledger: OptoutLedger | None = None  # the index's opt-outs (re-read only when they change)
    filter_outdated: BloomFormatOutdated | None = None  # why membership is off: an older filter

    @property
    def filter_outdated_message(self) -> str | None:
        """What clients are told while the filter is of an older format (no path in it)."""
        e = self.filter_outdated
        if e is None:
            return None
        return (f"this index's membership filter was written by an older StarScope (format version "
                f"{e.version}; this server reads version {e.expected}), so membership and attribution are "
                "off until the operator rebuilds it (`starscope rebuild-filter INDEX`) and restarts the "
                "server; search is unaffected")

    @classmethod
    def open(cls, index_dir: str | Path, *, es=None, max_text_chars: int = 1_000_000,
             max_candidates: int = 200, max_counted: int = 4096, model: str | None = None, model_device: str | None = None, generator=None) -> "ServedIndex":
        """Open the store the manifest names (``es``: where an Elasticsearch-backed index is
        served from, if not where it was built); ``generator``: a loaded model to serve
        instead of loading ``model``.

        Raises:
            indexer.manifest.ManifestError: ``index_dir`` is not a StarScope index.
            indexer.store.StoreError: its store cannot be opened or reached.
        """
        index = IndexDir(index_dir, es=es)
        manifest = index.manifest
        store = index.store
        outdated = None
        store.warm()
        try:
            membership = index.membership(AttributionConfig(max_chars=max_text_chars,
                                                            max_candidates=max_candidates,
                                                            max_counted=max_counted))
        except SketchMissing:
            membership = None  # a search-only index: the membership endpoints say so
        except BloomFormatOutdated as e:
            membership, outdated = None, e  # search is served; membership and health say why not
        if generator is None and model:
            generator = Generator.load(model, device=model_device)
        return cls(path=Path(index_dir), store=store, manifest=manifest, membership=membership,
                   generator=generator, ledger=index.ledger, filter_outdated=outdated)

    @property
    def languages(self) -> list[str]:
        """Languages in the index at build time, most documents first."""
        by_lang = self.manifest.get("store", {}).get("by_lang") or {}
        return [lang for lang, _ in sorted(by_lang.items(), key=lambda kv: (-kv[1], kv[0])) if lang]


class LiveIndex:
    """What the app serves: the index directory ``INDEX_DIR`` names, followed when it is a link
    that ``starscope switch`` moves (:mod:`indexer.live`).

    At most once a second a request looks where the link points; when that changed, a thread
    opens the new directory (reusing the loaded model) while requests go on being answered from
    the old one, then the new one takes over for requests that start afterwards. Requests under
    way finish on the one they began with. A directory that fails to open is retried every
    ``RETRY_SECONDS`` and reported by ``/api/health`` meanwhile; the old one stays served.
    """

    CHECK_SECONDS = 1.0
    RETRY_SECONDS = 10.0

    def __init__(self, link: str | Path, *, logger: logging.Logger | None = None, **open_args):
        self.link = Path(link)
        self.logger = logger or logging.getLogger(__name__)
        self._open_args = open_args
        self.current = ServedIndex.open(Path(os.path.realpath(self.link)), **open_args)
        self._log_outdated(self.current)
        self.switched_at: str | None = None
        self.switch_error: dict | None = None
        self._switching = threading.Lock()  # held while the link is looked at or followed
        self._next_check = time.monotonic() + self.CHECK_SECONDS

    def _log_outdated(self, index: ServedIndex) -> None:
        if index.filter_outdated is not None:
            self.logger.error("membership is off: %s", index.filter_outdated)

    def get(self) -> ServedIndex:
        """The index to answer from now (starting a switch in the background when due)."""
        now = time.monotonic()
        if now >= self._next_check and self._switching.acquire(blocking=False):
            self._next_check = now + self.CHECK_SECONDS
            target = Path(os.path.realpath(self.link))
            if target == self.current.path:
                self._switching.release()
            else:  # the thread releases the lock when the switch is done (or failed)
                threading.Thread(target=self._switch, args=(target, True), daemon=True,
                                 name="starscope-switch").start()
        return self.current

    def follow_now(self) -> ServedIndex:
        """Switch to where the link points before returning (a writer just learned that the
        served directory was superseded)."""
        with self._switching:
            target = Path(os.path.realpath(self.link))
            if target != self.current.path:
                self._switch(target, False)
        return self.current

    def _switch(self, target: Path, release: bool) -> None:
        args = {**self._open_args, "generator": self.current.generator}
        if getattr(args.get("es"), "index", None):
            # an index name given at start was for the directory served then; another one
            # reads the cluster index its own pointer file names
            args["es"] = replace(args["es"], index=None)
        try:
            index = ServedIndex.open(target, **args)
        except Exception as e:  # noqa: BLE001 - any failure leaves the old index served, and says so
            self.switch_error = {"target": str(target), "message": f"{type(e).__name__}: {e}",
                                 "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            self._next_check = time.monotonic() + self.RETRY_SECONDS
            self.logger.error("cannot switch to %s (still serving %s; retrying in %.0f s): %s",
                              target, self.current.path, self.RETRY_SECONDS, self.switch_error["message"])
        else:
            self.logger.info("switched from %s to %s", self.current.path, target)
            self.current, self.switch_error = index, None
            self._log_outdated(index)
            self.switched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        finally:
            if release:
                self._switching.release()


def served_index() -> ServedIndex:
    """The index the current request answers from: the same one for all of its lookups, even
    if a switch happens meanwhile."""
    served = g.get("served_index")
    if served is None:
        served = g.served_index = current_app.extensions[EXTENSION].get()
    return served


def follow_switch() -> ServedIndex:
    """The served index after a switch this request's index lost to (see
    :class:`indexer.superseded.IndexSuperseded`); the request answers from it from now on."""
    served = g.served_index = current_app.extensions[EXTENSION].follow_now()
    return served
