"""``/api/membership``, ``/api/attribution``, ``/api/attribution/batch`` and ``/overlap``."""

import json

import pytest

from indexer.build import build_index
from search_api import models
from search_api.app import create_app

from .conftest import DUPLICATE, FIB, XSS, corpus_rows, error_of

PREFIX, SUFFIX = "# a prompt the model was given\nx = 1\n", "\nprint('not in the corpus at all, surely')\n"
TEXT = PREFIX + FIB + SUFFIX


def test_membership_finds_the_copied_function_in_raw_offsets(client):
    for exact in (False, True):
        body = client.post("/api/membership", json={"text": TEXT, "exact": exact}).get_json()
        models.MembershipResponse.model_validate(body)
        assert body["member"] and body["exact"] is exact
        span = body["spans"][0]  # without exact, a false positive of this tiny filter may follow
        assert span["text"] in FIB and TEXT[span["start"]:span["end"]] == span["text"]
        assert set(body["filter"]) == {"fpr_configured", "fpr_theoretical", "fpr_measured", "items"}
    assert len(body["spans"]) == 1  # exact: every hit confirmed in the store


def test_attribution_names_the_source_and_its_license(client):
    body = client.post("/api/attribution", json={"text": TEXT}).get_json()
    models.AttributionResponse.model_validate(body)
    (span,) = body["spans"]
    assert TEXT[span["start"]:span["end"]] == span["text"] and span["text"] in FIB
    assert [s["repo"] for s in span["sources"]] == ["math/fib"]
    assert span["sources"][0]["licenses"] == ["MIT"] and body["licenses"]["families"]["permissive"] == 1
    assert client.post("/api/attribution", json={"text": TEXT, "min_length": 1000}).get_json()["spans"] == []


@pytest.mark.parametrize("path", ["/api/membership", "/api/attribution", "/overlap"])
def test_bodies_that_are_not_json_objects_are_refused(client, path):
    field = "document" if path == "/overlap" else "text"
    error_of(client.post(path, data="text=abc", content_type="application/x-www-form-urlencoded"),
             415, "unsupported_media_type")
    error_of(client.post(path, data="{not json", content_type="application/json"), 400, "invalid_json")
    error_of(client.post(path, data=b"\xff\xfe", content_type="application/json"), 400, "invalid_json")
    error_of(client.post(path, json=["a list"]), 400, "invalid_body")
    err = error_of(client.post(path, json={field: 42}), 400, "invalid_parameter")
    assert err["details"]["parameter"] == field
    err = error_of(client.post(path, json={}), 400, "invalid_parameter")
    assert err["details"]["parameter"] == field


def test_unknown_fields_and_bad_knobs_are_named(client):
    err = error_of(client.post("/api/attribution", json={"text": TEXT, "min_lenght": 10}), 400, "invalid_parameter")
    assert err["details"]["parameter"] == "min_lenght"
    for knob in ("min_length", "common_threshold", "max_sources"):
        err = error_of(client.post("/api/attribution", json={"text": TEXT, knob: 0}), 400, "invalid_parameter")
        assert err["details"]["parameter"] == knob
    err = error_of(client.post("/api/membership", json={"text": TEXT, "exact": "yes"}), 400, "invalid_parameter")
    assert err["details"]["parameter"] == "exact"


def test_unusable_text_gets_its_reason(client):
    error_of(client.post("/api/attribution", json={"text": "  \n "}), 400, "empty_text")
    error_of(client.post("/api/membership", json={"text": "x = 1"}), 400, "text_too_short")


def test_limits_are_413_and_say_the_limit(index_dir):
    small = create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "MAX_TEXT_CHARS": 200,
                        "MAX_CONTENT_LENGTH": 4096}).test_client()
    err = error_of(small.post("/api/attribution", json={"text": TEXT * 3}), 413, "text_too_long")
    assert err["details"] == {"length": len(TEXT * 3), "limit": 200}
    err = error_of(small.post("/api/membership", json={"text": "x" * 5000}), 413, "payload_too_large")
    assert "4096" in err["message"]


def test_the_vscode_extension_request_gets_spans_it_can_underline(client):
    """llm-vscode sends {"document": <250 characters each side of the cursor>} to its
    llm.attributionEndpoint and underlines the [start, end) spans of the answer."""
    file_text = "import sys\n\n" + "# padding line\n" * 30 + FIB + "\n" + "# more\n" * 40
    cursor = file_text.index("fibonacci(n-1)")
    window = file_text[max(0, cursor - 250):cursor + 250]
    r = client.post("/overlap", data=json.dumps({"document": window}),
                    headers={"Content-Type": "application/json"})
    body = r.get_json()
    models.OverlapResponse.model_validate(body)
    assert body["spans"] and all(isinstance(s, list) and len(s) == 2 for s in body["spans"])
    covered = "".join(window[s:e] for s, e in body["spans"])
    assert "fibonacci(n-1) + fibonacci(n-2)" in covered
    assert body["matches"][0]["sources"][0]["repo"] == "math/fib"
    short = client.post("/overlap", json={"document": "x = 1"}).get_json()
    assert short["spans"] == [] and short["member"] is False
    assert client.post("/overlap", json={"document": window, "extra": 1}).status_code == 200


CROWDED = "\n".join([FIB, DUPLICATE, XSS])  # three stored contents hold a chunk of it


@pytest.fixture(scope="module")
def twice_held(tmp_path_factory):
    """An index where two contents hold the Fibonacci generator, served counting one per span."""
    base = tmp_path_factory.mktemp("twice")
    rows = [r for r in corpus_rows() if r["content"] in (FIB, DUPLICATE, XSS)]
    rows.append(dict(content=FIB + "\n\nprint(list(fibonacci(10)))\n", repo="mirror/fib", path="demo.py",
                     licenses=["MIT"], lang="Python", stars=1))
    (base / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_index([base / "c.jsonl"], base / "index", progress=False)
    return base / "index"


def test_an_answer_cut_by_a_limit_says_so_and_by_what(twice_held):
    """Verbatim spans are never cut: what a limit cuts is a span's count of sources (two files
    hold it, one is counted) or the near-duplicates scored, and the answer says which."""
    small = create_app({"INDEX_DIR": str(twice_held), "TESTING": True, "MAX_COUNTED": 1}).test_client()
    body = small.post("/api/attribution", json={"text": CROWDED}).get_json()
    models.AttributionResponse.model_validate(body)
    assert body["truncated"] is True and "unverified" not in body and len(body["spans"]) == 3
    assert body["limits"]["max_counted"] == 1 and body["limits"]["incomplete_counts"] == 1
    (cut,) = [s for s in body["spans"] if not s["count_complete"]]
    assert cut["text"].startswith("def fibonacci") and cut["contents"] == 2 and len(cut["sources"]) == 1
    whole = create_app({"INDEX_DIR": str(twice_held), "TESTING": True}).test_client().post(
        "/api/attribution", json={"text": CROWDED}).get_json()
    assert whole["truncated"] is False and len(whole["spans"]) == 3
    assert whole["limits"] == {**body["limits"], "max_counted": 4096, "incomplete_counts": 0}
    (fib,) = [s for s in whole["spans"] if s["text"].startswith("def fibonacci")]
    assert fib["count_complete"] and fib["count"] == fib["contents"] == 2 and len(fib["sources"]) == 2


def test_overlap_keeps_the_data_portraits_fields_and_says_when_it_was_cut(twice_held, client):
    small = create_app({"INDEX_DIR": str(twice_held), "TESTING": True, "MAX_COUNTED": 1}).test_client()
    body = small.post("/overlap", json={"document": CROWDED}).get_json()
    models.OverlapResponse.model_validate(body)
    assert {"spans", "member", "fraction", "longest_chain", "matches"} <= body.keys()
    assert len(body["spans"]) == 3 and body["truncated"] is True and body["limits"]["incomplete_counts"] == 1
    whole = client.post("/overlap", json={"document": CROWDED}).get_json()
    assert len(whole["spans"]) == 3 and whole["truncated"] is False and "unverified" not in whole
    short = client.post("/overlap", json={"document": "x = 1"}).get_json()
    models.OverlapResponse.model_validate(short)
    assert short["truncated"] is False


def test_batch_records_carry_their_truncation(twice_held):
    small = create_app({"INDEX_DIR": str(twice_held), "TESTING": True, "MAX_COUNTED": 1}).test_client()
    body = "\n".join(json.dumps({"text": t}) for t in (CROWDED, XSS)) + "\n"
    r = small.post("/api/attribution/batch", data=body, content_type="application/x-ndjson")
    records = [json.loads(x) for x in r.get_data(as_text=True).splitlines()]
    for rec in records:
        models.BatchLine.model_validate(rec)
    assert [rec["result"]["truncated"] for rec in records] == [True, False]


def test_max_candidates_and_max_counted_are_checked_at_start(index_dir):
    for name in ("MAX_CANDIDATES", "MAX_COUNTED"):
        with pytest.raises(ValueError, match=name):
            create_app({"INDEX_DIR": str(index_dir), name: 0})


def test_batch_streams_one_result_per_line_in_order(client):
    lines = [json.dumps({"id": "a", "text": TEXT}), "", "{broken", json.dumps({"id": 7, "text": "tiny"}),
             json.dumps({"text": TEXT, "min_length": 0}), json.dumps({"text": TEXT, "near_duplicates": False})]
    r = client.post("/api/attribution/batch", data="\n".join(lines) + "\n",
                    content_type="application/x-ndjson")
    assert r.status_code == 200 and r.mimetype == "application/x-ndjson"
    records = [json.loads(x) for x in r.get_data(as_text=True).splitlines()]
    for rec in records:
        models.BatchLine.model_validate(rec)
    assert [rec["line"] for rec in records] == [1, 3, 4, 5, 6]
    assert records[0]["id"] == "a" and records[0]["result"]["spans"][0]["sources"][0]["repo"] == "math/fib"
    assert records[1]["error"]["code"] == "invalid_json"
    assert records[2] == {"line": 4, "id": 7, "error": records[2]["error"]}
    assert records[2]["error"]["code"] == "text_too_short"
    assert records[3]["error"]["code"] == "invalid_parameter"
    assert records[4]["result"]["near_duplicates"] == []


def test_batch_is_bounded(index_dir):
    small = create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "MAX_BATCH_LINES": 2,
                        "MAX_BATCH_BYTES": 20_000}).test_client()
    body = "\n".join(json.dumps({"text": TEXT}) for _ in range(4))
    records = [json.loads(x) for x in small.post("/api/attribution/batch", data=body,
                                                  content_type="application/x-ndjson").get_data(as_text=True).splitlines()]
    assert [r.get("error", {}).get("code") for r in records] == [None, None, "batch_too_long"]
    error_of(small.post("/api/attribution/batch", data="x" * 20_001, content_type="application/x-ndjson"),
             413, "payload_too_large")


def test_a_search_only_index_says_what_is_missing(tmp_path):
    from indexer.build import BuildConfig, build_index

    shard = tmp_path / "a.jsonl"
    shard.write_text(json.dumps({"content": FIB, "repo": "math/fib", "path": "fib.py"}) + "\n")
    build_index([shard], tmp_path / "index", config=BuildConfig(membership=False), progress=False)
    client = create_app({"INDEX_DIR": str(tmp_path / "index"), "TESTING": True}).test_client()
    for path in ("/api/membership", "/api/attribution"):
        error_of(client.post(path, json={"text": TEXT}), 409, "no_membership_sketch")
    assert client.get("/api/search?q=fibonacci").get_json()["total"] == 1


def test_an_index_with_an_older_filter_serves_search_and_says_how_to_rebuild(index_dir, tmp_path, caplog):
    """A filter written by an older StarScope: search goes on, membership, attribution and
    generation-with-attribution refuse with the fix, and health says so; no path is shown."""
    import shutil

    from membership.sketch import bloom_path

    from ..membership.test_bloom import rewrite_header

    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    rewrite_header(bloom_path(copy), format_version=1)
    client = create_app({"INDEX_DIR": str(copy), "TESTING": True}).test_client()
    for path in ("/api/membership", "/api/attribution"):
        error = error_of(client.post(path, json={"text": TEXT}), 409, "filter_outdated")
        assert "format version 1" in error["message"] and "`starscope rebuild-filter INDEX`" in error["message"]
        assert str(tmp_path) not in error["message"]
    health = client.get("/api/health").get_json()
    models.HealthResponse.model_validate(health)
    assert health["membership_error"]["code"] == "filter_outdated"
    assert health["membership_error"]["message"] == error["message"]
    assert client.get("/api/search?q=fibonacci").get_json()["total"] == 1
    assert f"membership is off: {copy}" in caplog.text  # the operator's log names the directory
    assert client.get("/api/health").get_json()["membership_error"] is not None
    assert create_app({"INDEX_DIR": str(index_dir), "TESTING": True}).test_client().get(
        "/api/health").get_json()["membership_error"] is None


def test_no_line_stops_the_batch_whatever_it_holds(client, caplog):
    """Lines Python's json cannot hold (too deep, too long a number), an id no UTF-8 can encode
    (a lone surrogate): each gets its own record, first line or not, and the lines after are
    answered."""
    bad = {"surrogate": '{"id": "\\ud800", "text": ' + json.dumps(TEXT) + "}",
           "deep": '{"text": ' + "[" * 5000 + "]" * 5000 + "}",
           "huge": '{"text": "x", "n": ' + "9" * 5000 + "}"}
    for first in bad:
        order = [first, *(kind for kind in bad if kind != first)]
        body = "\n".join([bad[kind] for kind in order] + [json.dumps({"id": "last", "text": TEXT})]) + "\n"
        r = client.post("/api/attribution/batch", data=body, content_type="application/x-ndjson")
        assert r.status_code == 200 and r.mimetype == "application/x-ndjson"
        records = [json.loads(x) for x in r.get_data().decode().splitlines()]
        assert [rec["line"] for rec in records] == [1, 2, 3, 4]
        got = dict(zip([*order, "last"], records))
        assert got["surrogate"]["id"] == "\ud800" and got["surrogate"]["result"]["spans"]  # escaped, as sent
        assert got["deep"]["error"]["code"] == got["huge"]["error"]["code"] == "invalid_json"
        assert got["last"]["id"] == "last" and got["last"]["result"]["spans"]
    assert "Traceback" not in caplog.text


def test_a_chunked_batch_over_its_limit_ends_saying_so(index_dir):
    """Under ``starscope serve`` the server refuses such a body with 413 before the app sees it
    (test_serve); handed over by another server, the stream ends with a ``payload_too_large``
    record where the limit was reached."""
    from .test_errors import chunked_post

    app = create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "MAX_BATCH_BYTES": 5_000})
    lines = [json.dumps({"id": i, "text": TEXT}) for i in range(40)]
    r = chunked_post(app, "/api/attribution/batch", "\n".join(lines[:3]).encode(), "application/x-ndjson")
    assert [json.loads(x)["id"] for x in r.get_data().decode().splitlines()] == [0, 1, 2]
    r = chunked_post(app, "/api/attribution/batch", "\n".join(lines).encode(), "application/x-ndjson")
    records = [json.loads(x) for x in r.get_data().decode().splitlines()]
    assert all("result" in rec for rec in records[:-1]) and len(records) < 40
    assert records[-1]["error"]["code"] == "payload_too_large"


def test_an_index_without_a_span_index_tests_membership_and_says_how_to_attribute(index_dir, tmp_path):
    """Shards indexed by a StarScope without the span index: membership answers, attribution
    (single, batch, overlap) refuses with 409 spans_missing and the fix, naming no path."""
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    shutil.rmtree(copy / "membership" / "sequences")
    (copy / "membership" / "spans.chunksa").unlink()
    client = create_app({"INDEX_DIR": str(copy), "TESTING": True}).test_client()
    assert client.post("/api/membership", json={"text": TEXT}).get_json()["member"]
    for path, body in (("/api/attribution", {"text": TEXT}), ("/overlap", {"document": TEXT})):
        error = error_of(client.post(path, json=body), 409, "spans_missing")
        assert "rerun `starscope index` with all its shards" in error["message"]
        assert str(tmp_path) not in error["message"]
    r = client.post("/api/attribution/batch", data=json.dumps({"text": TEXT}) + "\n",
                    content_type="application/x-ndjson")
    assert json.loads(r.get_data(as_text=True))["error"]["code"] == "spans_missing"
