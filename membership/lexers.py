"""Token streams of code with identifiers, literals and numbers abstracted, through pygments'
lexers: what the abstracted MinHash signature (:mod:`membership.minhash`) shingles, so that
consistent renaming leaves a copy's signature alone.

The lexer comes from the document's language (The Stack's names, :mod:`membership.languages`, or
pygments'), else from its file name; the same choice colours a file on the document page
(:mod:`indexer.syntax`). Pygments is imported on first use: it is slow to load, and plain
signing never needs it.
"""

from __future__ import annotations

import functools
import re
import sys
from itertools import islice

from .languages import canonical_language, language_for

# Pygments names that differ from ours (The Stack's, see membership.languages).
_PYGMENTS_ALIASES = {
    "assembly": "nasm", "batchfile": "batch", "c-sharp": "csharp", "f-sharp": "fsharp",
    "protocol-buffer": "protobuf", "vim-script": "vim", "jupyter-notebook": "json", "svelte": "html",
}
FALLBACK_LEXER = "fallback:generic"
_GENERIC = re.compile(r"""
      (?P<STR>"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|`[^`]*`?)
    | (?P<NUM>\d[\w.]*)
    | (?P<ID>[^\W\d]\w*)
    | (?P<P>[^\w\s])
""", re.VERBOSE)
_ID, _STR, _NUM, _DROP, _TEXT = range(5)


@functools.lru_cache(maxsize=512)
def _lexer_by_name(name: str):
    """A pygments lexer for a language name, or None (unknown, or plain text)."""
    from pygments.lexers import get_lexer_by_name

    for alias in (name, _PYGMENTS_ALIASES.get(name)):
        if not alias:
            continue
        try:
            lexer = get_lexer_by_name(alias)
        except Exception:  # ClassNotFound, or a broken plugin lexer: must not break signing
            continue
        return None if lexer.aliases[:1] == ["text"] else lexer
    return None


@functools.lru_cache(maxsize=2048)
def _lexer_by_filename(name: str):
    from pygments.lexers import get_lexer_for_filename

    try:
        lexer = get_lexer_for_filename(name)
    except Exception:  # ClassNotFound, or a plugin's error
        return None
    return None if lexer.aliases[:1] == ["text"] else lexer


def lexer_for(lang: str | None, path: str | None):
    """The lexer for a language (ours or pygments' name), else for the path's file name; None
    for plain text and unknown files."""
    if lang:
        lexer = _lexer_by_name(canonical_language(lang))
        if lexer is not None:
            return lexer
    if path:
        known = language_for(path)
        lexer = _lexer_by_name(known) if known else None
        if lexer is None:
            # Keyed by extension, not file name: a corpus has few of those and many names.
            name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
            dot = name.rfind(".")
            lexer = _lexer_by_filename(("x" + name[dot:]) if dot > 0 else name)
        return lexer
    return None



@functools.lru_cache(maxsize=1024)
def _action(ttype) -> int:
    from pygments.token import Comment, Literal, Name, Number, String, Whitespace

    if ttype in Name:
        return _ID
    if ttype in String or ttype in Comment.PreprocFile:  # #include <stdio.h>: a file name literal
        return _STR
    if ttype in Number:
        return _NUM
    if ttype in Comment.Preproc:  # preprocessor lines are code, not comments
        return _TEXT
    if ttype in Comment or ttype in Whitespace:
        return _DROP
    if ttype in Literal:
        return _TEXT
    return _TEXT  # keywords, operators, punctuation, errors, plain text: their own words


def _lexed(lexer, text: str, max_tokens: int) -> list[str]:
    out: list[str] = []
    in_string = False  # a literal lexes as several pieces (quote, body, escapes): one STR
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as pygments' get_tokens does
    for _, ttype, value in lexer.get_tokens_unprocessed(text):
        action = _action(ttype)
        if action == _DROP or not value:
            continue
        if action == _ID and not value.strip("."):
            action = _TEXT  # `a .b` lexes its dot as a Name (Namespace): punctuation, as in `a.b`
        if action == _STR:
            if not in_string:
                out.append("STR")
                in_string = True
        elif action == _TEXT:
            words = value.split()
            if not words:
                continue  # whitespace lexed as plain text
            out.extend(words)
            in_string = False
        else:
            out.append("ID" if action == _ID else "NUM")
            in_string = False
        if len(out) >= max_tokens:
            return out[:max_tokens]
    return out


def _generic(text: str, max_tokens: int) -> list[str]:
    out = []
    for m in islice(_GENERIC.finditer(text), max_tokens):
        kind = m.lastgroup
        out.append(m.group() if kind == "P" else kind)
    return out


# Data and prose: an identifier-abstracted stream says nothing about them (and lexing is slow).
NOT_ABSTRACTED = frozenset({"markdown", "text", "json", "yaml", "toml", "xml", "ini", "csv",
                            "restructuredtext", "html", "css", "batchfile", "makefile", "cmake"})


def abstractable(lang: str | None) -> bool:
    """Whether documents of ``lang`` get an abstracted signature (code, or an unknown language
    given by the caller; not data or prose)."""
    return (lang or "").lower() not in NOT_ABSTRACTED


def abstract_tokens(text: str, *, lang: str | None = None, path: str | None = None,
                    max_tokens: int | None = None) -> tuple[list[str], str]:
    """The token stream with identifiers as ``ID``, string literals as ``STR``, numbers as
    ``NUM``, comments and whitespace dropped, keywords, operators and punctuation as their text;
    and the name of the lexer that produced it.

    The lexer comes from ``lang`` (``"python"``, ``"c++"``, ``"c-sharp"``: The Stack's names, or
    pygments'), else from the file name in ``path``, else it is ``"fallback:generic"``: a regex
    that knows strings, numbers, words and punctuation but no keywords and no comments (every
    word is an ``ID``). A string literal lexed as several pieces (quotes, body, escapes) is one
    ``STR``. ``max_tokens`` stops lexing early and returns exactly the first ``max_tokens``
    tokens of the full stream.

    Note:
        Never raises on text: a lexer that fails falls back to the generic one. Pygments is
        the slow part of abstracted signing (see :meth:`membership.minhash.MinHasher.sign_texts`).
    """
    limit = max_tokens if max_tokens is not None else sys.maxsize
    if limit < 1:
        return [], FALLBACK_LEXER
    try:
        lexer = lexer_for(lang, path)
    except Exception:
        lexer = None
    if lexer is not None:
        try:
            return _lexed(lexer, text, limit), lexer.aliases[0] if lexer.aliases else lexer.name
        except Exception:
            pass
    return _generic(text, limit), FALLBACK_LEXER
