import random
import re

import pytest

from indexer import analysis
from indexer.analysis import CamelVocabulary, camel_texts

from .conftest import real_documents


def test_words_split_at_symbols_and_underscores_and_pieces_at_case_boundaries():
    assert analysis.words("fooBar_baz = x2") == ["foobar", "baz", "x2"]
    assert analysis.parts("fooBar_baz XMLHttpRequest HTTPServer conv2D x2") == [
        "foo", "bar", "baz", "xml", "http", "request", "http", "server", "conv2", "d", "x2"]


def test_long_words_are_kept_up_to_the_cap_in_bytes():
    long = "a" * analysis.MAX_TERM_CHARS
    assert analysis.words(long + " " + long + "b") == [long]
    wide = "é" * (analysis.MAX_TERM_CHARS // 2)  # two bytes each: exactly at the cap
    assert analysis.words(wide + " " + wide + "é") == [wide]


def tantivy_words(text):
    from indexer.tantivy_store import _analyzers
    return _analyzers()["code_words"].analyze(text)


def test_python_words_equal_the_index_tokenizer_on_real_code():
    for doc in real_documents(40):
        assert analysis.words(doc.content) == tantivy_words(doc.content), doc.path


def test_python_and_the_index_may_differ_outside_ascii_only():
    # U+0903 is a combining mark: alphabetic for Rust, not for Python (see query.literal_terms)
    assert tantivy_words("x\u0903y") == ["x\u0903y"]
    assert analysis.words("x\u0903y") == ["x", "y"]


def reference_camel_text(content: str) -> str:
    """The definition, one word at a time (slow and obviously right)."""
    out, long = [], False
    for m in re.finditer(rb"[A-Za-z0-9\x80-\xff]+", content.encode("utf-8", "surrogatepass")):
        w = m.group()
        if len(w) > analysis.MAX_TERM_CHARS:
            long = True
        elif re.search(rb"[a-z0-9][A-Z]|[A-Z][A-Z][a-z]", w):
            out.append(w.decode("utf-8", "replace"))
    return " ".join(out + ([analysis.LONG_WORD_MARK] if long else []))


def test_camel_texts_of_a_batch_equal_the_definition_on_random_text():
    rng = random.Random(3)
    alphabet = "aAbBzZ09_ .\né€"
    for _ in range(2000):
        batch = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
                 for _ in range(rng.randint(1, 5))]
        assert camel_texts(batch) == [reference_camel_text(c) for c in batch], batch


def test_camel_texts_of_a_batch_equal_the_definition_on_real_code():
    docs = [d.content for d in real_documents(60)]
    docs.append("x = '" + "Ab" * 300 + "'\nfooBar = 1\n")  # an over-long word
    assert camel_texts(docs) == [reference_camel_text(c) for c in docs]
    assert camel_texts(docs)[-1] == f"fooBar {analysis.LONG_WORD_MARK}"


def test_camel_texts_examples():
    assert camel_texts(["fooBar_baz HTTPServer x conv2D getX plain", "", "ALLCAPS lower"]) == [
        "fooBar HTTPServer conv2D getX", "", ""]
    assert camel_texts([]) == []


def test_every_piece_of_a_camel_word_is_at_a_boundary():
    for word in ["fooBar", "XMLHttpRequest", "conv2D", "getX", "HTTPServer"]:
        text = f"({word})"
        cuts = [i for i in range(1, len(text)) if analysis.is_part_boundary(text, i)]
        pieces = [text[a:b] for a, b in zip(cuts, cuts[1:])]
        assert [p.lower() for p in pieces] == analysis.camel_parts(word)


def test_vocabulary_finds_camel_words_by_consecutive_pieces():
    vocab = CamelVocabulary(["fooBar", "getBarBaz", "BazBar", "HTTPServer", analysis.LONG_WORD_MARK])
    assert sorted(vocab.containing(["bar"])) == ["BazBar", "fooBar", "getBarBaz"]
    assert vocab.containing(["bar", "baz"]) == ["getBarBaz"]
    assert vocab.containing(["baz", "bar"]) == ["BazBar"]
    assert vocab.containing(["server"]) == ["HTTPServer"]
    assert vocab.containing(["long"]) == [] and vocab.containing([]) == []
    assert len(vocab) == 4


@pytest.mark.parametrize("text", ["", "\n", "_", "é", "A", "aB"])
def test_tiny_inputs(text):
    assert camel_texts([text]) == [reference_camel_text(text)]
