"""Syntax classes for the document page: pygments' tokens as disjoint ranges of a few classes."""

from indexer.syntax import CLASSES, token_ranges

CODE = 'import os\n\n@cache\ndef load(path: str) -> int:\n    """Read it."""\n    return len(open(path).read()) + 1  # bytes\n'


def test_python_tokens_get_their_classes_in_order_and_disjoint():
    lexer, tokens = token_ranges(CODE, lang="python", path="x.py")
    assert lexer == "Python"
    got = {(CODE[s:e], c) for s, e, c in tokens}
    assert {("import", "k"), ("@cache", "nd"), ("def", "k"), ("load", "nf"), ('"""Read it."""', "s"),
            ("return", "k"), ("len", "nb"), ("1", "m"), ("# bytes", "c")} <= got
    assert all(c in CLASSES for _, _, c in tokens)
    assert all(a[1] <= b[0] for a, b in zip(tokens, tokens[1:]))
    assert not any(CODE[s:e].isspace() for s, e, _ in tokens)


def test_the_file_name_picks_the_lexer_when_the_language_is_unknown():
    lexer, tokens = token_ranges("fn main() { let x = 1; }\n", lang=None, path="src/main.rs")
    assert lexer == "Rust" and tokens


def test_plain_unknown_or_huge_files_get_no_tokens():
    assert token_ranges("just some words\n", lang=None, path="NOTES") == (None, [])
    assert token_ranges("", lang="python", path="x.py") == (None, [])
    assert token_ranges("x = 1\n" * 10, lang="python", path="x.py", max_chars=20) == (None, [])
