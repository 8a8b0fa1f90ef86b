"""Syntax classes for showing a stored file: pygments' tokens as ``[start, end, class]`` ranges.

The lexer is the one MinHash signing picks (:func:`membership.lexers.lexer_for`: the document's
language, else its file name); the classes are a small fixed set that the browser's stylesheet
colours, so no pygments CSS ships. Offsets count code points of the content (Python string
indices), like every other range the API returns. Plain text, unknown languages and files over
``MAX_CHARS`` get no tokens.
"""

from __future__ import annotations

import functools

from membership.lexers import lexer_for

MAX_CHARS = 1_000_000  # larger files are shown plain: lexing them would hold up the page
CLASSES = ("c", "s", "m", "k", "nf", "nc", "nb", "nd", "nt", "na", "o")


@functools.lru_cache(maxsize=512)
def _class(ttype) -> str | None:
    from pygments.token import Comment, Keyword, Name, Number, Operator, String

    for kind, cls in ((Comment.Preproc, "k"), (Comment, "c"), (String, "s"), (Number, "m"), (Keyword, "k"),
                      (Name.Function, "nf"), (Name.Class, "nc"), (Name.Builtin, "nb"),
                      (Name.Decorator, "nd"), (Name.Tag, "nt"), (Name.Attribute, "na"),
                      (Operator.Word, "k"), (Operator, "o")):
        if ttype in kind:
            return cls
    return None


def token_ranges(content: str, *, lang: str | None, path: str | None,
                 max_chars: int = MAX_CHARS) -> tuple[str | None, list[list]]:
    """``(lexer name, [[start, end, class], ...])``, sorted and disjoint; adjacent tokens of one
    class are merged and whitespace is left out. ``(None, [])`` when there is nothing to colour."""
    if not content or len(content) > max_chars:
        return None, []
    lexer = lexer_for(lang, path)
    if lexer is None:
        return None, []
    out: list[list] = []
    try:
        for start, ttype, value in lexer.get_tokens_unprocessed(content):
            cls = _class(ttype)
            if cls is None or not value.strip():
                continue
            end = start + len(value)
            if out and out[-1][2] == cls and out[-1][1] == start:
                out[-1][1] = end
            elif not out or start >= out[-1][1]:  # lexers never overlap; be safe if one does
                out.append([start, end, cls])
    except Exception:  # a lexer bug must not break showing the file
        return None, []
    return lexer.name, out
