"""The search query language, parsed once and executed by any store.

``fooBar parse "fibonacci(n-1)" lang:python license:mit repo:psf``

* bare words are keywords: every keyword must match (AND), ranked by BM25. A word that is one
  identifier matches it whole or as a piece of a longer identifier (``bar`` finds ``fooBar``);
  a word with symbols (``os.path``) matches its identifiers as a phrase;
* ``"quoted text"`` (or the whole query in exact mode) is a literal: an exact, case-sensitive
  substring, symbols and whitespace included. Index terms only propose candidates; every
  candidate is verified against the stored content, so results are exact and complete;
* ``lang:``, ``license:`` and ``repo:`` (``owner/name``, or an owner alone) filter.

A query for the redacted view (``redacted=True``, as the API asks when it serves redacted text)
matches literals only outside PII, and keywords too where at most
:data:`REDACTED_KEYWORD_CHECK` documents match them: see :mod:`indexer.snippets`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import analysis

MAX_QUERY_CHARS = 4096
SORTS = ("score", "stars")
_QUALIFIER_RE = re.compile(r"(lang|language|license|repo):(\S+)$", re.IGNORECASE)
# An open edge shorter than this proposes too many terms to be worth a dictionary scan.
_MIN_OPEN_EDGE = 3
# A redacted keyword query that matches at most this many documents has every one read, to
# drop those that match only inside PII. Past it the index's count stands: a word or phrase in
# that many files is no secret, and any filter or longer phrase that singles a file out brings
# the count under the limit, where the check applies. It bounds the cost (about 0.1 ms a file).
REDACTED_KEYWORD_CHECK = 1000


class QueryError(ValueError):
    """A query that cannot be run; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class QueryTooLong(QueryError):
    def __init__(self, length: int, limit: int):
        super().__init__("query_too_long",
                         f"the query is {length} characters; the limit is {limit}. To find where "
                         "a whole file comes from, use attribution rather than search.")
        self.length, self.limit = length, limit


@dataclass(frozen=True)
class Filters:
    """Exact-match restrictions; values are compared case-insensitively."""

    lang: str | None = None
    license: str | None = None
    repo: str | None = None

    def merged(self, other: "Filters") -> "Filters":
        """``other``'s values win where both set one."""
        return Filters(lang=other.lang or self.lang, license=other.license or self.license,
                       repo=other.repo or self.repo)


@dataclass(frozen=True)
class Keyword:
    """One bare word of the query and the index terms it stands for."""

    text: str
    words: tuple[str, ...]
    parts: tuple[str, ...]


@dataclass(frozen=True)
class LiteralTerms:
    """Index terms that every document containing a literal must have.

    ``exact`` words lie strictly inside the literal, so the document holds them whole;
    a word touching the literal's start may be the end of a longer identifier (``suffixes``),
    one touching its end the beginning of one (``prefixes``), one touching both any middle
    (``infixes``).
    """

    exact: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    infixes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.exact or self.suffixes or self.prefixes or self.infixes)


@dataclass(frozen=True)
class SearchQuery:
    keywords: tuple[Keyword, ...] = ()
    literals: tuple[str, ...] = ()
    filters: Filters = field(default_factory=Filters)
    # Match as the redacted text reads: a literal occurrence overlapping PII does not count,
    # and no match range overlaps PII (emails, IP addresses and keys; see indexer.pii).
    redacted: bool = False

    @property
    def needs_verification(self) -> bool:
        return bool(self.literals)

    def verifies_keywords(self, matching: int) -> bool:
        """Whether a store must read the contents of the ``matching`` documents its index
        found for this query's keywords: for a redacted query, when they are few enough."""
        return self.redacted and bool(self.keywords) and matching <= REDACTED_KEYWORD_CHECK


def literal_terms(literal: str) -> LiteralTerms:
    """The candidate terms of a literal (see :class:`LiteralTerms`).

    Only ASCII words count, and a non-ASCII neighbour leaves an edge open: outside ASCII the
    index's tokenizer and Python may disagree on what a letter is, and a term the index lacks
    would lose true matches. Fewer terms only cost verification time, never results.
    """
    exact, suffixes, prefixes, infixes = [], [], [], []
    for start, end, word in analysis.word_spans(literal):
        if len(word) > analysis.MAX_TERM_CHARS or not analysis.is_ascii_word(word):
            continue
        open_left = start == 0 or not literal[start - 1].isascii()
        open_right = end == len(literal) or not literal[end].isascii()
        if not open_left and not open_right:
            exact.append(word)
        elif len(word) < _MIN_OPEN_EDGE:
            continue
        elif open_left and open_right:
            infixes.append(word)
        elif open_left:
            suffixes.append(word)
        else:
            prefixes.append(word)
    return LiteralTerms(tuple(dict.fromkeys(exact)), tuple(suffixes), tuple(prefixes), tuple(infixes))


def _keyword(text: str) -> Keyword:
    return Keyword(text=text, words=tuple(analysis.words(text)), parts=tuple(analysis.parts(text)))


def _split_quotes(text: str) -> tuple[list[str], list[str]]:
    """Split into bare chunks and quoted literals; ``\\"`` escapes a quote inside quotes."""
    bare, literals, i = [], [], 0
    while i < len(text):
        q = text.find('"', i)
        if q < 0:
            bare.append(text[i:])
            break
        bare.append(text[i:q])
        buf, j = [], q + 1
        while j < len(text) and text[j] != '"':
            if text[j] == "\\" and j + 1 < len(text) and text[j + 1] in '"\\':
                j += 1
            buf.append(text[j])
            j += 1
        if buf:
            literals.append("".join(buf))
        i = j + 1
    return bare, literals


def parse_query(text: str, *, exact: bool = False, filters: Filters | None = None,
                max_chars: int = MAX_QUERY_CHARS, redacted: bool = False) -> SearchQuery:
    """Parse the query language above; ``exact`` makes the whole text one literal;
    ``redacted`` matches outside PII only (see :class:`SearchQuery`).

    Raises:
        QueryTooLong: over ``max_chars`` (a full file is an attribution job, not a query).
        QueryError: nothing to search for.
    """
    if len(text) > max_chars:
        raise QueryTooLong(len(text), max_chars)
    filters = filters or Filters()
    if exact:
        if not text:
            raise QueryError("empty_query", "the exact query is empty")
        return SearchQuery(literals=(text,), filters=filters, redacted=redacted)
    bare, literals = _split_quotes(text)
    keywords, inline = [], {}
    for chunk in bare:
        for token in chunk.split():
            m = _QUALIFIER_RE.match(token)
            if m:
                key = "lang" if m.group(1).lower() == "language" else m.group(1).lower()
                inline[key] = m.group(2)
            elif analysis.words(token):
                keywords.append(_keyword(token))
            else:
                # Pure punctuation (``++``, ``=>``) has no index terms: search it literally.
                literals.append(token)
    merged = Filters(**inline).merged(filters)
    if not keywords and not literals and not (merged.lang or merged.license or merged.repo):
        raise QueryError("empty_query", "the query has no words, literals or symbols to search for")
    # Qualifiers alone (``repo:owner/name``) list every document they allow.
    return SearchQuery(keywords=tuple(keywords), literals=tuple(literals), filters=merged, redacted=redacted)
