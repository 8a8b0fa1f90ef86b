"""The search planning both stores share, without a store: the plans of searches and term
lookups, and how verified candidates are ranked. That both stores run them alike, and find what
brute force finds, is tested on both in test_store.py."""

import numpy as np
import pytest

from indexer.analysis import LONG_WORD_MARK, CamelVocabulary
from indexer.query import Filters, parse_query
from indexer.search_plan import (CAMEL, CAMEL_SCORE, RANKED_TERMS, WORDS, AnyOf, ConstantTerms,
                                 Phrase, Plan, Regex, Term, chunk_keys, plan_chunk_lookup, plan_lookup, plan_search,
                                 verified_ranking)

EMAIL = "jane.doe@corp-mail.de"
VOCABULARY = CamelVocabulary(["getFooBar", "fooBaz", "FooBar", "getBarBaz", LONG_WORD_MARK])


def test_a_keyword_is_its_word_or_phrase_of_words():
    assert plan_search(parse_query("parser")) == Plan(must=(Term(WORDS, "parser"),))
    # Its words and pieces are the same phrase: no alternative to add.
    assert plan_search(parse_query("os.path")).must == (Phrase(WORDS, ("os", "path")),)
    assert plan_search(parse_query("parser os.path")).must == (Term(WORDS, "parser"), Phrase(WORDS, ("os", "path")))


def test_a_camel_keyword_also_finds_its_pieces_and_the_camel_words_holding_them_below_whole_words():
    plan = plan_search(parse_query("fooBar"), vocabulary=VOCABULARY)
    assert plan.must == (AnyOf((Term(WORDS, "foobar"), Phrase(WORDS, ("foo", "bar")),
                                ConstantTerms(CAMEL, ("getFooBar", "FooBar"), CAMEL_SCORE))),)
    assert plan_search(parse_query("bar"), vocabulary=VOCABULARY).must == (
        AnyOf((Term(WORDS, "bar"), ConstantTerms(CAMEL, ("getFooBar", "FooBar", "getBarBaz"), CAMEL_SCORE))),)
    # No camel word holds the pieces (or no vocabulary): the words alone.
    assert plan_search(parse_query("bar")).must == (Term(WORDS, "bar"),)
    assert plan_search(parse_query("fooQux"), vocabulary=VOCABULARY).must == (
        AnyOf((Term(WORDS, "fooqux"), Phrase(WORDS, ("foo", "qux")))),)


def test_a_literal_needs_its_whole_inner_words_or_else_each_open_edge():
    assert plan_search(parse_query("x = foo(bar)", exact=True)).must == (Term(WORDS, "foo"), Term(WORDS, "bar"))
    # Edges: a word at the start may end a longer one, at the end begin one, alone be inside
    # one; a document whose words are too long for the index stays a candidate by its mark.
    mark = Term(CAMEL, LONG_WORD_MARK)
    assert plan_search(parse_query("ello wor", exact=True)).must == (
        AnyOf((Regex(WORDS, ".*ello"), mark)), AnyOf((Regex(WORDS, "wor.*"), mark)))
    assert plan_search(parse_query("ell", exact=True)).must == (AnyOf((Regex(WORDS, ".*ell.*"), mark)),)
    # No term at all: every document is a candidate (and verified).
    assert plan_search(parse_query("i++", exact=True)) == Plan()
    both = plan_search(parse_query('parse "x = foo(bar)"'))
    assert both.must == (Term(WORDS, "parse"), Term(WORDS, "foo"), Term(WORDS, "bar"))


def test_filters_are_lowercased_terms_apart_from_what_scores_and_repo_names_a_repository_or_an_owner():
    plan = plan_search(parse_query("def", filters=Filters(lang="Python", license="MIT", repo="Psf/CPython")))
    assert plan == Plan(must=(Term(WORDS, "def"),),
                        filters=(Term("lang", "python"), Term("license", "mit"), Term("repo", "psf/cpython")))
    assert plan_search(parse_query("repo:Psf")) == Plan(filters=(Term("owner", "psf"),))


def test_the_order_is_stars_or_the_score():
    assert plan_search(parse_query("def"), "stars").order == "stars"
    assert plan_search(parse_query("def"), "score").order is None


def test_a_lookup_ranks_up_to_ranked_terms_deduplicated_in_order_then_is_one_set():
    lookup = plan_lookup("repo", ["b/x", "a/y", "b/x"])
    assert (lookup.field, lookup.terms, lookup.values, lookup.ranked) == ("repo", ("b/x", "a/y"), ("b/x", "a/y"), True)
    at_limit = [f"{i:040x}" for i in range(RANKED_TERMS)]
    assert plan_lookup("sha", at_limit + at_limit[:5]).ranked
    assert not plan_lookup("sha", at_limit + ["f" * 40]).ranked
    assert plan_lookup("band", []).values == ()


def test_a_chunk_lookup_takes_integer_hashes_and_asks_for_the_keys_the_store_indexes():
    # The high bit set (0xFE...) crosses as an unsigned 64-bit integer, not a negative one.
    hashes = np.array([0x0123456789ABCDEF, 0xFEDCBA9876543210, 0x0123456789ABCDEF, 0x0123456700000000],
                      dtype=np.uint64)
    lookup = plan_chunk_lookup(hashes)
    assert lookup.terms == (0x0123456789ABCDEF, 0xFEDCBA9876543210, 0x0123456700000000)  # deduplicated, in order
    # the keys the 16-hex-digit terms "0123456789abcdef"... gave (their high 32 bits); two
    # hashes sharing a key both count, as two terms did
    assert lookup.values == tuple(chunk_keys(hashes[[0, 1, 3]]).tolist()) == (0x01234567, 0xFEDCBA98, 0x01234567)
    assert all(type(v) is int for v in lookup.terms + lookup.values)
    assert plan_chunk_lookup(np.zeros(0, np.uint64)).values == ()


def test_chunk_hashes_are_not_looked_up_as_terms():
    with pytest.raises(ValueError, match="contents_with_chunks"):
        plan_lookup("chunk", ["0123456789abcdef"])


def test_a_lookup_in_a_field_that_takes_no_terms_is_refused_naming_those_that_do():
    with pytest.raises(ValueError, match=r"'content' is not a term field.*'sha'"):
        plan_lookup("content", ["x"])


def test_a_literal_ranks_by_occurrences_and_drops_what_does_not_hold_it():
    candidates = [(9.0, "a", "x[0] = 1"), (8.0, "b", "no match here"), (7.0, "c", "y[0] + z[0] + w[0]"),
                  (6.0, "d", "v[0][0]"), (5.0, "e", "u[0]; t[0]")]
    ranking = verified_ranking(candidates, parse_query("[0]", exact=True), None)
    # Occurrences first; "d" and "e" tie on 2 and keep the candidates' order.
    assert ranking == [(3.0, 3, "c"), (2.0, 2, "d"), (2.0, 2, "e"), (1.0, 1, "a")]


def test_keywords_rank_by_score_and_an_order_by_its_value_then_occurrences():
    candidates = [(2.0, "a", "f(0); f(0)"), (5.0, "b", "f(0)"), (2.0, "c", "f(0) f(0) f(0)"), (9.0, "d", "f(1)")]
    by_score = [(5.0, 1, "b"), (2.0, 3, "c"), (2.0, 2, "a")]
    assert verified_ranking(candidates, parse_query('def "f(0)"'), None) == by_score
    # Ordered (by stars), the candidates' value ranks, keywords or not; unordered and without
    # keywords, the score is ignored.
    assert verified_ranking(candidates, parse_query("f(0)", exact=True), "stars") == by_score
    assert verified_ranking(candidates, parse_query("f(0)", exact=True), None) == [
        (3.0, 3, "c"), (2.0, 2, "a"), (1.0, 1, "b")]


def test_a_redacted_query_counts_only_occurrences_outside_pii():
    candidates = [(1.0, "a", f"mail {EMAIL} or jane.doe\n"), (1.0, "b", f"only {EMAIL}\n")]
    assert verified_ranking(candidates, parse_query("jane.doe", exact=True), None) == [
        (2.0, 2, "a"), (1.0, 1, "b")]
    assert verified_ranking(candidates, parse_query("jane.doe", exact=True, redacted=True), None) == [
        (1.0, 1, "a")]
