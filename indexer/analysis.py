"""How code is cut into searchable terms, defined once for every store.

Two term streams are indexed from each document's content:

* **words**: whole identifiers and numbers (``[A-Za-z0-9_]+``), lowercased, never dropped for
  length (up to ``MAX_TERM_CHARS``), so ``fooBar_baz`` and 60-character identifiers are findable;
* **parts**: the pieces of identifiers split at underscores, case changes and digit runs, so
  ``foo``, ``bar`` and ``baz`` each find ``fooBar_baz``.

The patterns contain no look-around, so Rust's ``regex`` crate (tantivy's regex tokenizer) and
Python's ``re`` produce the same tokens; a store without a pattern tokenizer (Elasticsearch's
minimal distribution) indexes the output of :func:`parts` and :func:`words` computed here.

Note:
    Without look-ahead an all-caps run followed by a capitalised word stays one part
    (``HTTPServer`` -> ``httpserver``), while ``XMLHttpRequest`` -> ``xmlhttp``, ``request``.
"""

from __future__ import annotations

import re

WORD_PATTERN = r"[A-Za-z0-9_]+"
PART_PATTERN = r"[a-z]+|[A-Z][a-z]+|[A-Z]+[a-z]*|[0-9]+"
# Longer runs are base64 blobs or minified data, not identifiers anyone types.
MAX_TERM_CHARS = 256

_WORD_RE = re.compile(WORD_PATTERN)
_PART_RE = re.compile(PART_PATTERN)


def words(text: str) -> list[str]:
    """Lowercased identifier/number terms of ``text``, as the index sees them."""
    return [w.lower() for w in _WORD_RE.findall(text) if len(w) <= MAX_TERM_CHARS]


def parts(text: str) -> list[str]:
    """Lowercased identifier pieces of ``text`` (``fooBar_baz`` -> foo, bar, baz)."""
    return [p.lower() for p in _PART_RE.findall(text) if len(p) <= MAX_TERM_CHARS]


def word_spans(text: str):
    """Yield ``(start, end, lowercased word)`` for every word term in ``text``."""
    for m in _WORD_RE.finditer(text):
        yield m.start(), m.end(), m.group().lower()


def part_spans(text: str):
    """Yield ``(start, end, lowercased part)`` for every part term in ``text``."""
    for m in _PART_RE.finditer(text):
        yield m.start(), m.end(), m.group().lower()
