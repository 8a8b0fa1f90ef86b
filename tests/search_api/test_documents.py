"""``GET /api/documents/<sha>``: whole content, all sources, matches of an optional query."""

from indexer.document import content_sha

from .conftest import DUPLICATE, EMOJI, FIB, XSS, error_of


def test_document_has_full_content_and_every_source_of_an_exact_duplicate(client):
    response = client.get(f"/api/documents/{content_sha(DUPLICATE)}")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["id"] == content_sha(DUPLICATE)
    assert doc["content"] == DUPLICATE
    assert doc["sources_count"] == 3
    assert sorted((s["repo"], s["licenses"][0], s["stars"]) for s in doc["sources"]) == [
        ("alpha/one", "MIT", 10), ("beta/two", "GPL-3.0-only", 300), ("gamma/three", "BSD-3-Clause", 7)]
    assert all(s["url"] == f"https://github.com/{s['repo']}/blob/HEAD/helper.py" for s in doc["sources"])
    assert (doc["repo"], doc["stars"]) == ("beta/two", 300)  # the most-starred source leads
    assert doc["licenses_all"] == ["BSD-3-Clause", "GPL-3.0-only", "MIT"]
    assert "matches" not in doc


def test_query_adds_every_match_with_line_snippets(client):
    doc = client.get(f"/api/documents/{content_sha(FIB)}?q=fibonacci").get_json()
    matches = doc["matches"]
    assert matches["query"] == "fibonacci"
    assert matches["count"] == 3
    assert [FIB[a:b] for a, b in matches["ranges"]] == ["fibonacci"] * 3
    assert [(s["line"], len(s["ranges"])) for s in matches["snippets"]] == [(1, 1), (2, 2)]


def test_exact_query_matches_and_offsets_count_code_points(client):
    doc = client.get(f"/api/documents/{content_sha(EMOJI)}",
                     query_string={"q": "'😀😀'", "exact": "1"}).get_json()
    (a, b), = doc["matches"]["ranges"]
    assert EMOJI[a:b] == "'😀😀'"
    snippet, = doc["matches"]["snippets"]
    (sa, sb), = snippet["ranges"]
    assert snippet["text"][sa:sb] == "'😀😀'"


def test_query_without_match_reports_zero(client):
    doc = client.get(f"/api/documents/{content_sha(FIB)}?q=widget").get_json()
    assert doc["matches"]["count"] == 0 and doc["matches"]["ranges"] == []


def test_empty_query_means_no_matches_block(client):
    doc = client.get(f"/api/documents/{content_sha(FIB)}?q=&exact=").get_json()
    assert "matches" not in doc


def test_uppercase_sha_is_the_same_document(client):
    assert client.get(f"/api/documents/{content_sha(FIB).upper()}").get_json()["content"] == FIB


def test_unknown_document_is_404_json(client):
    err = error_of(client.get(f"/api/documents/{'0' * 40}"), 404, "not_found")
    assert err["details"]["sha"] == "0" * 40


def test_malformed_sha_is_400(client):
    for bad in ("abc", "g" * 40, "0" * 41):
        err = error_of(client.get(f"/api/documents/{bad}"), 400, "invalid_parameter")
        assert err["details"]["parameter"] == "sha"


def test_document_parameter_errors(client):
    sha = content_sha(FIB)
    assert error_of(client.get(f"/api/documents/{sha}?exact=2"), 400,
                    "invalid_parameter")["details"]["parameter"] == "exact"
    assert error_of(client.get(f"/api/documents/{sha}?page=2"), 400,
                    "invalid_parameter")["details"]["parameter"] == "page"
    error_of(client.get(f"/api/documents/{sha}?q=" + "x" * 5000), 413, "query_too_long")


def test_html_content_is_returned_verbatim_as_json(client):
    response = client.get(f"/api/documents/{content_sha(XSS)}")
    assert response.mimetype == "application/json"
    assert response.get_json()["content"] == XSS


def test_syntax_classes_come_on_request_in_code_points(client):
    plain = client.get(f"/api/documents/{content_sha(FIB)}").get_json()
    assert "syntax" not in plain
    body = client.get(f"/api/documents/{content_sha(FIB)}?syntax=1").get_json()
    tokens = body["syntax"]["tokens"]
    assert body["syntax"]["lexer"] == "Python" and [0, 3, "k"] in tokens  # def
    assert any(FIB[s:e] == "fibonacci" and c == "nf" for s, e, c in tokens)
    emoji = client.get(f"/api/documents/{content_sha(EMOJI)}?syntax=1").get_json()["syntax"]["tokens"]
    assert any(EMOJI[s:e] == "'😀😀'" and c == "s" for s, e, c in emoji)  # code points, not UTF-16
    error_of(client.get(f"/api/documents/{content_sha(FIB)}?syntax=maybe"), 400, "invalid_parameter")
