"""The search planning both stores share, without a store: how verified candidates are ranked.
That both stores run it the same is tested on both in test_store.py."""

from indexer.query import parse_query
from indexer.search_plan import verified_ranking

EMAIL = "jane.doe@corp-mail.de"


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
