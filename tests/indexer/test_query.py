import pytest

from indexer.query import (MAX_QUERY_CHARS, Filters, QueryError, QueryTooLong, literal_terms,
                           parse_query)


def test_bare_words_quoted_literals_and_qualifiers():
    q = parse_query('fooBar "fibonacci(n-1)" lang:python repo:psf/black license:MIT')
    assert [k.text for k in q.keywords] == ["fooBar"]
    assert q.keywords[0].parts == ("foo", "bar")
    assert q.literals == ("fibonacci(n-1)",)
    assert q.filters == Filters(lang="python", license="MIT", repo="psf/black")


def test_explicit_filters_win_over_inline_qualifiers():
    q = parse_query("x lang:c", filters=Filters(lang="python"))
    assert q.filters.lang == "python"


def test_escaped_quote_inside_a_literal():
    assert parse_query(r'"say \"hi\""').literals == ('say "hi"',)


def test_punctuation_only_words_become_literals():
    q = parse_query("i++ =>")
    assert [k.text for k in q.keywords] == ["i++"]
    assert q.literals == ("=>",)


def test_exact_mode_keeps_the_whole_text():
    q = parse_query('  a.b.c = "x" ', exact=True)
    assert q.literals == ('  a.b.c = "x" ',) and not q.keywords


@pytest.mark.parametrize("text", ["", "   ", '""'])
def test_empty_queries_are_refused(text):
    with pytest.raises(QueryError) as e:
        parse_query(text)
    assert e.value.code == "empty_query"


def test_qualifiers_alone_list_what_they_allow():
    q = parse_query("repo:octo/cat")
    assert not q.keywords and not q.literals and q.filters.repo == "octo/cat"
    assert parse_query("", filters=Filters(lang="python")).filters.lang == "python"


def test_overlong_query_is_refused():
    with pytest.raises(QueryTooLong):
        parse_query("x" * (MAX_QUERY_CHARS + 1))


def test_literal_terms_know_which_words_may_continue_outside_the_literal():
    t = literal_terms("fibonacci(n-1) + self.value")
    assert t.exact == ("n", "1", "self")
    assert t.suffixes == ("fibonacci",) and t.prefixes == ("value",) and not t.infixes
    assert literal_terms("bonacc").infixes == ("bonacc",)
    assert literal_terms("++").empty
    # open edges too short to narrow anything are dropped, never turned into exact terms
    assert literal_terms("i++").empty


def test_literal_terms_split_at_underscores_like_the_index():
    assert literal_terms("x = __init__(self)").exact == ("init", "self")


def test_literal_terms_use_only_ascii_words_with_ascii_neighbours():
    # The index and Python may disagree about letters outside ASCII: such words and edges
    # must not become required terms.
    t = literal_terms("(café = x\u0903y + z)")
    assert "caf" not in t.exact and "x" not in t.exact and "y" not in t.exact
    assert "z" in t.exact
