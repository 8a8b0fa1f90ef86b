"""``GET /api/search``: hits, totals, filters, exact search, pagination, parameter errors."""

import pytest

from .conftest import error_of


def search(client, **params):
    response = client.get("/api/search", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_keyword_search_returns_hits_totals_and_echoes_the_query(client):
    body = search(client, q="widget")
    assert body["total"] == 25
    assert (body["page"], body["size"], body["pages"], body["sort"]) == (1, 10, 3, "score")
    assert len(body["hits"]) == 10
    assert body["query"] == "widget"
    assert isinstance(body["took_ms"], (int, float)) and body["took_ms"] >= 0
    hit = body["hits"][0]
    for key in ("id", "repo", "path", "licenses", "lang", "stars", "url", "score", "match_count",
                "snippets", "sources_count"):
        assert key in hit
    assert hit["snippets"] and all({"line", "column", "text", "ranges"} <= set(s) for s in hit["snippets"])


def test_snippet_ranges_cover_the_matched_text(client):
    body = search(client, q="fibonacci")
    hit, = body["hits"]
    marked = {s["text"][a:b] for s in hit["snippets"] for a, b in s["ranges"]}
    assert marked == {"fibonacci"}
    assert [s["line"] for s in hit["snippets"]] == [1, 2]


def test_identifier_pieces_match(client):
    assert search(client, q="party")["total"] == 1  # finds party_time as well as the comments
    assert search(client, q="widget7")["total"] == 1


@pytest.mark.parametrize("params, total", [
    ({"q": "helper", "lang": "python"}, 1),
    ({"q": "helper", "lang": "javascript"}, 0),
    ({"q": "widget", "license": "mit"}, 12),
    ({"q": "widget", "license": "GPL-2.0-only"}, 13),
    ({"q": "widget", "repo": "widgets/w0"}, 5),
    ({"q": "widget", "repo": "widgets"}, 25),
    ({"q": "widget lang:python repo:widgets/w1"}, 5),
    ({"q": "helper", "license": "gpl-3.0-only"}, 1),  # any source's license counts
])
def test_filters(client, params, total):
    assert search(client, **params)["total"] == total


def test_exact_search_matches_symbols_and_only_true_substrings(client):
    body = search(client, q="fibonacci(n-1) + fibonacci(n-2)", exact="1")
    assert body["total"] == 1
    snippet, = body["hits"][0]["snippets"]
    (a, b), = snippet["ranges"]
    assert snippet["text"][a:b] == "fibonacci(n-1) + fibonacci(n-2)"
    assert search(client, q="fibonacci(n-3)", exact="1")["total"] == 0
    assert search(client, q="Fibonacci(n-1)", exact="true")["total"] == 0  # case-sensitive


def test_quoted_literal_inside_a_keyword_query(client):
    assert search(client, q='"os.path.split(" lang:python')["total"] == 1


def test_query_of_only_punctuation_is_searched_literally(client):
    body = search(client, q="++")
    assert body["total"] == 1
    assert body["hits"][0]["repo"] == "web/loops"
    assert search(client, q="=>")["total"] == 0


def test_sort_by_stars(client):
    stars = [h["stars"] for h in search(client, q="widget", sort="stars", size=25)["hits"]]
    assert stars == sorted(stars, reverse=True) == list(range(24, -1, -1))


def test_pages_partition_the_results(client):
    pages = [search(client, q="widget", page=n, size=10) for n in (1, 2, 3)]
    ids = [h["id"] for p in pages for h in p["hits"]]
    assert [len(p["hits"]) for p in pages] == [10, 10, 5]
    assert len(set(ids)) == 25
    assert all(p["total"] == 25 and p["pages"] == 3 for p in pages)


def test_page_past_the_end_is_a_400_with_the_totals(client):
    err = error_of(client.get("/api/search?q=widget&page=4"), 400, "page_out_of_range")
    assert err["details"]["total"] == 25
    assert err["details"]["pages"] == 3


def test_no_results_is_a_plain_empty_answer(client):
    body = search(client, q="no_such_identifier_anywhere")
    assert (body["total"], body["hits"], body["pages"]) == (0, [], 1)


@pytest.mark.parametrize("query, parameter", [
    ("q=widget&size=0", "size"),
    ("q=widget&size=101", "size"),
    ("q=widget&size=ten", "size"),
    ("q=widget&page=0", "page"),
    ("q=widget&page=-1", "page"),
    ("q=widget&page=1.5", "page"),
    ("q=widget&page=100000000000000000000000", "page"),
    ("q=widget&sort=newest", "sort"),
    ("q=widget&exact=maybe", "exact"),
    ("q=widget&licence=MIT", "licence"),
    ("exact=1", "q"),
])
def test_invalid_parameters_are_400_naming_the_parameter(client, query, parameter):
    err = error_of(client.get(f"/api/search?{query}"), 400, "invalid_parameter")
    assert err["details"]["parameter"] == parameter


def test_a_qualifier_alone_lists_its_documents(client):
    body = client.get("/api/search", query_string={"q": "repo:widgets/w1", "sort": "stars"}).get_json()
    assert body["total"] == 5 and {h["repo"] for h in body["hits"]} == {"widgets/w1"}
    assert [h["stars"] for h in body["hits"]] == sorted((h["stars"] for h in body["hits"]), reverse=True)


@pytest.mark.parametrize("q, exact", [("", "0"), ("   ", "0"), ("", "1")])
def test_empty_query_is_400(client, q, exact):
    error_of(client.get("/api/search", query_string={"q": q, "exact": exact}), 400, "empty_query")


def test_a_one_megabyte_query_is_413(client):
    err = error_of(client.get("/api/search", query_string={"q": "x" * (1 << 20)}), 413, "query_too_long")
    assert err["details"]["limit"] == 4096


def test_html_in_the_corpus_comes_back_as_json_data(client):
    body = search(client, q="<script>alert(1)</script>", exact="1")
    hit, = body["hits"]
    assert hit["snippets"][0]["text"] == "<script>alert(1)</script>"
    assert hit["path"].endswith("<script>alert(3)</script>.html")
