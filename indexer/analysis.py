"""How code is cut into searchable terms, defined once for every store.

Each document's content is indexed as two term streams:

* **words**: maximal runs of letters and digits (an underscore separates them, as any other
  symbol does), lowercased, kept up to ``MAX_TERM_CHARS`` bytes, with their positions. This is
  exactly tantivy's built-in ``simple`` tokenizer followed by a lowercase filter, so the store
  indexes it at tantivy's own speed; ``foo_bar`` is the phrase ``foo bar``.
* **camel words**: the words that contain a case boundary (``fooBar``, ``HTTPServer``,
  ``conv2D``), case kept, found for a whole batch of documents at once with numpy
  (:func:`camel_texts`). A query word such as ``bar`` is expanded through the store's
  dictionary of camel words into those whose parts include it (``fooBar``, ``getBarBaz``).

A case boundary lies before an upper-case letter that follows a lower-case letter or a digit
(``foo|Bar``, ``conv2|D``), and before the last capital of a run of capitals followed by a
lower-case letter (``HTTP|Server``). Boundaries are ASCII-only: other scripts have no
camelCase convention worth splitting.

The Python word pattern (``[^\\W_]+``) and Rust's ``char::is_alphanumeric`` agree on every
ASCII character; outside ASCII they differ on a few combining marks, so callers that need
exactness (literal candidates) use only ASCII words bounded by ASCII symbols.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator, Sequence

import numpy as np

# Longer runs are base64 blobs or minified data, not identifiers anyone types. Counted in
# UTF-8 bytes, as tantivy's ``remove_long`` filter does.
MAX_TERM_CHARS = 256

# Added to the camel text of a document holding a word longer than MAX_TERM_CHARS (which the
# index drops), so that a literal's open edges still find it; never a camel word (has ``_``).
LONG_WORD_MARK = "_long_word_"

# Lucene's whitespace tokenizer (the one Elasticsearch has without analysis plugins) cuts a
# token at 255 UTF-16 units, so a server-side word stream carries words up to that length.
LUCENE_MAX_TOKEN = 255

_WORD_RE = re.compile(r"[^\W_]+")
# ASCII: letters and digits lowercased, everything else a space (one bytes.translate pass).
_ASCII_WORD_TABLE = bytes((c | 0x20) if chr(c).isalpha() else c if chr(c).isdigit() else 32
                          for c in range(128)) + bytes(range(128, 256))
_LONG_ASCII_WORD_RE = re.compile(r"[a-z0-9]{%d,}" % (LUCENE_MAX_TOKEN + 1))
_CAMEL_SPLIT_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_ASCII_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _fits(word: str) -> bool:
    return len(word) <= MAX_TERM_CHARS and (word.isascii() or len(word.encode()) <= MAX_TERM_CHARS)


def words(text: str) -> list[str]:
    """Lowercased word terms of ``text``, as the index sees them."""
    return [w.lower() for w in _WORD_RE.findall(text) if _fits(w)]


def word_text(text: str) -> tuple[str, bool]:
    """:func:`words` as one whitespace-separated text, for a server that only splits on
    whitespace (the Elasticsearch store), and whether a word was left out because it is
    longer than Lucene keeps whole (the document then carries :data:`LONG_WORD_MARK`).

    An ASCII text costs one ``bytes.translate``; others go through the word pattern.
    """
    if text.isascii():
        out = text.encode("ascii").translate(_ASCII_WORD_TABLE).decode("ascii")
        if _LONG_ASCII_WORD_RE.search(out) is None:
            return out, False
        ws = out.split()
    else:
        ws = [w.lower() for w in _WORD_RE.findall(text)]
    kept = [w for w in ws if _fits(w) and (len(w) <= LUCENE_MAX_TOKEN if w.isascii()
                                          else len(w.encode("utf-16-le")) <= 2 * LUCENE_MAX_TOKEN)]
    return " ".join(kept), len(kept) != len(ws)


def word_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """Yield ``(start, end, lowercased word)`` for every word of ``text`` (any length)."""
    for m in _WORD_RE.finditer(text):
        yield m.start(), m.end(), m.group().lower()


def camel_parts(word: str) -> list[str]:
    """The lowercased pieces of one word split at case boundaries (``XMLHttpRequest`` ->
    ``xml``, ``http``, ``request``); a word without a boundary is its own single piece."""
    return [p.lower() for p in _CAMEL_SPLIT_RE.split(word)]


def parts(text: str) -> list[str]:
    """Lowercased pieces of every word of ``text`` (``fooBar_baz`` -> foo, bar, baz)."""
    return [p for w in _WORD_RE.findall(text) if _fits(w) for p in camel_parts(w)]


def term_parts(term: str) -> tuple[str, ...]:
    """The pieces of a stored camel term (which may hold non-ASCII symbols: see
    :func:`camel_texts`)."""
    return tuple(p for w in _WORD_RE.findall(term) for p in camel_parts(w))


def is_part_boundary(text: str, i: int) -> bool:
    """Whether a word or a piece of a camel word may start or end at ``text[i]``."""
    if i <= 0 or i >= len(text):
        return True
    a, b = text[i - 1], text[i]
    if not (a.isalnum() and b.isalnum()):
        return True
    if "A" <= b <= "Z":
        if "a" <= a <= "z" or "0" <= a <= "9":
            return True
        return "A" <= a <= "Z" and i + 1 < len(text) and "a" <= text[i + 1] <= "z"
    return False


def is_ascii_word(word: str) -> bool:
    return all(c in _ASCII_WORD_CHARS for c in word)


# -- camel words of many documents at once ----------------------------------------------------
def camel_texts(contents: Sequence[str]) -> list[str]:
    """For each content, its camel words (case kept, in order, repeats included) joined by
    spaces: the text the store indexes with a whitespace tokenizer.

    Works on the UTF-8 bytes of the whole batch with a handful of vectorized passes. A byte
    of 0x80 or above counts as part of a word, so a word never splits a multi-byte character
    (and a rare non-ASCII symbol glued to a camel word stays in its term; :func:`term_parts`
    splits it off again at query time).
    """
    if not contents:
        return []
    blobs = [c.encode("utf-8", "surrogatepass") for c in contents]
    joined = b"\n".join(blobs)
    x = np.frombuffer(joined, np.uint8)
    n = len(x)
    if n == 0:
        return [""] * len(blobs)
    upper = (x - np.uint8(65)) < 26
    lower = (x - np.uint8(97)) < 26
    low_or_digit = lower | ((x - np.uint8(48)) < 10)
    word = low_or_digit | upper | (x >= 128)
    cuts = np.flatnonzero(low_or_digit[:-1] & upper[1:])
    acronyms = np.flatnonzero(upper[:-2] & upper[1:-1] & lower[2:])
    edges = np.flatnonzero(word[1:] != word[:-1]) + 1
    if word[0]:
        edges = np.concatenate(([0], edges))
    if word[-1]:
        edges = np.concatenate((edges, [n]))
    starts, ends = edges[0::2], edges[1::2]
    too_long = (ends - starts) > MAX_TERM_CHARS
    doc_ends = np.cumsum([len(b) + 1 for b in blobs])
    doc_starts = np.concatenate(([0], doc_ends[:-1]))
    marked = set(np.searchsorted(doc_ends, starts[too_long], side="right").tolist())
    which = np.concatenate((np.searchsorted(starts, cuts, side="right"),
                            np.searchsorted(starts, acronyms + 1, side="right"))) - 1
    which.sort()
    which = which[np.concatenate(([True], which[1:] != which[:-1]))] if len(which) else which
    which = which[~too_long[which]]
    texts = [""] * len(blobs)
    if len(which):
        s, e = starts[which], ends[which]
        # Gather every chosen word followed by a space into one buffer, in document order.
        lengths = e - s + 1
        out_start = np.cumsum(lengths) - lengths
        index = np.arange(int(lengths.sum())) - np.repeat(out_start - s, lengths)
        buf = np.concatenate((x, np.zeros(1, np.uint8)))[index]
        buf[out_start + lengths - 1] = 32
        data = buf.tobytes()
        bounds = np.concatenate((out_start, [len(data)])).tolist()
        first = np.searchsorted(s, doc_starts).tolist()
        last = np.searchsorted(s, doc_ends).tolist()
        texts = [data[bounds[i]:bounds[j] - 1].decode("utf-8", "replace") if j > i else ""
                 for i, j in zip(first, last)]
    for i in marked:
        texts[i] = f"{texts[i]} {LONG_WORD_MARK}" if texts[i] else LONG_WORD_MARK
    return texts


class CamelVocabulary:
    """The camel words of an index, looked up by their pieces.

    A store builds one from its dictionary of camel terms (once per commit) and expands a
    query word's pieces into the camel words that hold them in a row: ``bar`` ->
    ``fooBar``, ``getBarBaz``; ``barBaz`` -> ``getBarBaz``.
    """

    def __init__(self, terms: Iterable[str]):
        self._parts: dict[str, tuple[str, ...]] = {}
        self._by_part: dict[str, list[str]] = {}
        for term in terms:
            if term == LONG_WORD_MARK:
                continue
            pieces = term_parts(term)
            self._parts[term] = pieces
            for piece in set(pieces):
                self._by_part.setdefault(piece, []).append(term)

    def __len__(self) -> int:
        return len(self._parts)

    def containing(self, pieces: Sequence[str]) -> list[str]:
        """Camel terms whose pieces include ``pieces`` consecutively."""
        if not pieces:
            return []
        candidates = min((self._by_part.get(p, ()) for p in pieces), key=len)
        if len(pieces) == 1:
            return list(candidates)
        want, k = tuple(pieces), len(pieces)
        return [t for t in candidates
                if any(self._parts[t][i:i + k] == want for i in range(len(self._parts[t]) - k + 1))]
