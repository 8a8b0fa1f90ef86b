"""The opt-out request log: append-only, validated, readable after a crash mid-write, versioned."""

import json
import threading

import pytest

from indexer.optout_requests import (FORMAT, OptoutRequestError, OptoutRequests, OptoutRequestsFormatError)


def test_requests_are_appended_and_read_back_in_order(tmp_path):
    log = OptoutRequests(tmp_path)
    assert log.list() == [] and log.verify() == {"requests": 0, "bad_lines": 0}
    a = log.add(repo="octo/cat", contact=" me@example.org ", reason="mine", indexed_documents=3)
    b = log.add(owner="octo", contact="https://example.org/octo", reason="all of it")
    assert a["repo"] == "octo/cat" and a["contact"] == "me@example.org" and "owner" not in a and a["id"] != b["id"]
    assert [r["id"] for r in log.list()] == [a["id"], b["id"]]
    first = (tmp_path / "optout" / "requests.jsonl").read_text().splitlines()[0]
    assert json.loads(first) == {"format": FORMAT, "version": 1}


@pytest.mark.parametrize("name", ["json", "group/sub/name", "My Tree", " spaced ", "café/ünï", "x" * 1000])
def test_any_name_an_index_can_hold_is_recorded_exactly(tmp_path, name):
    """``starscope ingest`` names a tree without a git remote after its folder (``json``); other
    corpora give any name. A request takes each exactly as sent, indexed now or not."""
    log = OptoutRequests(tmp_path)
    assert log.add(repo=name, contact="c", reason="r")["repo"] == name
    assert [r["repo"] for r in log.list()] == [name] and log.verify()["bad_lines"] == 0


@pytest.mark.parametrize("fields, message", [
    (dict(contact="c", reason="r"), "exactly one"),
    (dict(repo="a/b", owner="a", contact="c", reason="r"), "exactly one"),
    (dict(repo="   ", contact="c", reason="r"), "repo is empty"),
    (dict(repo="a\nb", contact="c", reason="r"), "control character U[+]000A"),
    (dict(owner="a\udcffb", contact="c", reason="r"), "U[+]DCFF"),
    (dict(repo="x" * 1001, contact="c", reason="r"), "1,001 characters long"),
    (dict(owner="a/b", contact="c", reason="r"), "give it as the repo"),
])
def test_what_cannot_be_a_name_is_refused_saying_what_to_fix(tmp_path, fields, message):
    with pytest.raises(OptoutRequestError, match=message):
        OptoutRequests(tmp_path).add(**fields)
    assert not (tmp_path / "optout" / "requests.jsonl").exists()


@pytest.mark.parametrize("fields", [
    dict(repo="a/b", contact="", reason="r"),
    dict(repo="a/b", contact="c", reason="  "),
    dict(repo="a/b", contact="c" * 201, reason="r"),
])
def test_a_missing_or_oversized_contact_or_reason_is_refused_and_nothing_is_written(tmp_path, fields):
    with pytest.raises(OptoutRequestError):
        OptoutRequests(tmp_path).add(**fields)
    assert not (tmp_path / "optout" / "requests.jsonl").exists()


def test_concurrent_writers_lose_nothing(tmp_path):
    log = OptoutRequests(tmp_path)
    threads = [threading.Thread(target=lambda i=i: [log.add(owner=f"o{i}", contact="c", reason=str(k))
                                                    for k in range(25)]) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log.list()) == 200 and log.verify()["bad_lines"] == 0


def test_a_line_cut_short_is_skipped_and_reported(tmp_path):
    log = OptoutRequests(tmp_path)
    log.add(repo="a/b", contact="c", reason="r")
    with open(log.path, "a") as f:
        f.write('{"id": "cut", "repo": "a/')  # a crash mid-write
    assert len(log.list()) == 1 and log.verify() == {"requests": 1, "bad_lines": 1}
    log.add(repo="c/d", contact="c", reason="r")  # a later write starts a line of its own
    assert [r.get("repo") for r in log.list()] == ["a/b", "c/d"] and log.verify()["bad_lines"] == 1


def test_foreign_or_newer_files_are_refused(tmp_path):
    log = OptoutRequests(tmp_path)
    log.path.parent.mkdir()
    log.path.write_text(json.dumps({"format": FORMAT, "version": 2}) + "\n")
    with pytest.raises(OptoutRequestsFormatError, match="version 2"):
        log.list()
    log.path.write_text("hello\n")
    with pytest.raises(OptoutRequestsFormatError, match="not an opt-out request log"):
        log.verify()
