"""Corpus metadata and offsets as the API serves them while it redacts PII (``REDACT_PII``).

Contents are redacted where they are served (documents, search snippets, see
:mod:`indexer.pii`). What names a file is corpus data too: a repository, owner or path may hold
an email address, an IP address or a key as well as the file does, so every answer that carries
them (search hits, documents and their sources, attribution and near-duplicate sources, overlap
matches, ``/api/repos``, the document page) gets the same placeholders. Then:

* a GitHub link built from a redacted name would lead nowhere (or carry what was redacted), so
  ``url`` is null there, as it is for a repository that is not on GitHub;
* offsets into a stored content (an attribution source's ``start``/``end``) are moved onto the
  content as ``/api/documents`` serves it, so that comparing them with the served text cannot
  tell how long a redacted value was;
* ``/api/repos`` leaves out a name whose PII the prefix reaches into (a prefix one character
  longer at a time would otherwise spell it out), and lists the others redacted.

Filters (``repo:``) and opt-out requests still take the real name: someone who knows it (the
author asking for removal) can type it; the API never tells it to anyone else.
"""

from __future__ import annotations

import functools

from flask import current_app

from indexer.pii import find_pii, redact


def redacting() -> bool:
    return bool(current_app.config["REDACT_PII"])


@functools.lru_cache(maxsize=65536)
def redact_name(name: str) -> str:
    """A repository, owner or path with its PII replaced by placeholders (names repeat across
    hits and answers, so they are kept)."""
    return redact(name).text


def name_hidden_by_prefix(name: str, prefix: str) -> bool:
    """Whether listing ``name`` as matching ``prefix`` would confirm PII in it: the prefix
    reaches into (or past the start of) a finding."""
    findings = find_pii(name)
    return bool(findings) and len(prefix) > findings[0].start


def source_json(d: dict) -> dict:
    """A hit's, source's or near-duplicate's JSON with ``repo``, ``owner``, ``path`` and its
    ``also_in`` redacted, and ``url`` null when one of them changed. Unchanged when
    ``REDACT_PII`` is off."""
    if not redacting():
        return d
    out, changed = dict(d), False
    for key in ("repo", "owner", "path"):
        value = out.get(key)
        if isinstance(value, str):
            out[key] = redact_name(value)
            changed |= out[key] != value
    if changed and "url" in out:
        out["url"] = None
    if isinstance(out.get("also_in"), list):
        out["also_in"] = [source_json(x) for x in out["also_in"]]
    return out


class ContentOffsets:
    """Moves offsets into stored contents onto the contents as served (redacted), fetching
    each content once."""

    def __init__(self, store):
        self.store = store
        self._redacted: dict[str, object] = {}

    def prefetch(self, shas) -> None:
        wanted = [s for s in dict.fromkeys(shas) if s not in self._redacted]
        if wanted:
            for doc in self.store.docs_with_terms("sha", wanted, limit=len(wanted)):
                self._redacted[doc.sha] = redact(doc.content)

    def move(self, sha: str, start: int, end: int) -> tuple[int, int]:
        """``[start, end)`` of content ``sha`` on its served text (a range overlapping a
        finding covers its placeholder)."""
        self.prefetch([sha])
        red = self._redacted.get(sha)
        return (start, end) if red is None else red.range(start, end)


def span_sources(spans: list[dict], offsets: ContentOffsets) -> list[dict]:
    """Attribution spans (their JSON) with every source redacted and its offsets moved."""
    offsets.prefetch(s["id"] for span in spans for s in span.get("sources", ()))
    out = []
    for span in spans:
        sources = []
        for s in span.get("sources", ()):
            s = source_json(s)
            s["start"], s["end"] = offsets.move(s["id"], s["start"], s["end"])
            sources.append(s)
        out.append({**span, "sources": sources})
    return out


def attribution_json(body: dict | None, store) -> dict | None:
    """An attribution answer (``Attribution.to_json()``) as served: sources and
    near-duplicates redacted, source offsets on the served contents."""
    if body is None or not redacting():
        return body
    out = dict(body)
    out["spans"] = span_sources(body.get("spans", []), ContentOffsets(store))
    out["near_duplicates"] = [source_json(n) for n in body.get("near_duplicates", [])]
    return out
