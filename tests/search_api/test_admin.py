"""``/api/admin/optout``: bearer token, validation, and a removal that takes effect at once."""

import json

import pytest

from indexer.build import build_index
from search_api.app import create_app

from ..backends import BACKENDS, build_config
from .conftest import DUPLICATE, corpus_rows, error_of

TOKEN = "s3cret-token-for-tests-only"


# `starscope ingest` names a source tree without a git remote after its folder: no slash.
FOLDER_ROWS = [dict(content="def decode_json_text(s):\n    return s\n", repo="json", path="decode.py", lang="Python"),
               dict(content="def json_owner_tool():\n    return 1\n", repo="json/tools", path="t.py", lang="Python")]


@pytest.fixture(params=BACKENDS)
def admin_client(request, tmp_path):
    """Its own index: opting out changes it."""
    shard = tmp_path / "corpus.jsonl"
    shard.write_text("".join(json.dumps(row) + "\n" for row in corpus_rows() + FOLDER_ROWS))
    build_index([shard], tmp_path / "index", config=build_config(request.param, request), progress=False)
    return create_app({"INDEX_DIR": str(tmp_path / "index"), "TESTING": True, "ADMIN_TOKEN": TOKEN}).test_client()


def bearer(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def test_optout_needs_the_token(admin_client):
    body = {"repo": "math/fib", "reason": "author asked"}
    r = admin_client.post("/api/admin/optout", json=body)
    error_of(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    error_of(admin_client.post("/api/admin/optout", json=body, headers=bearer("wrong-token-xxxxxxxx")),
             401, "unauthorized")
    error_of(admin_client.post("/api/admin/optout", json=body, headers={"Authorization": TOKEN}),
             401, "unauthorized")
    assert admin_client.get("/api/search?q=fibonacci").get_json()["total"] == 1


def test_optout_removes_a_repository_and_keeps_shared_content(admin_client):
    r = admin_client.post("/api/admin/optout", json={"repo": "math/fib", "reason": "author asked"},
                          headers=bearer())
    assert r.status_code == 200 and r.get_json() == {"removed": 1, "repo": "math/fib", "owner": None, "seq": 1,
                                                     "contents_removed": 1, "already": False}
    assert admin_client.get("/api/search?q=fibonacci").get_json()["total"] == 0
    listed = admin_client.get("/api/repos?q=math").get_json()
    assert listed["repos"] == [] and [(o["repo"], o["seq"]) for o in listed["opted_out"]] == [("math/fib", 1)]
    r = admin_client.post("/api/admin/optout", json={"owner": "beta", "reason": "owner asked"}, headers=bearer())
    assert r.get_json()["removed"] == 1
    hit = admin_client.get("/api/search", query_string={"q": DUPLICATE, "exact": 1}).get_json()["hits"][0]
    assert hit["sources_count"] == 2 and hit["repo"] != "beta/two"


def test_a_repository_named_after_its_folder_is_opted_out_exactly_and_once(admin_client):
    """A name without a slash is a repository of its own (json), distinct from its owner (json,
    which also has json/tools); repeating the opt-out answers the entry that did it."""
    first = admin_client.post("/api/admin/optout", json={"repo": "json", "reason": "author asked"}, headers=bearer())
    assert first.status_code == 200 and first.get_json() == {
        "removed": 1, "repo": "json", "owner": None, "seq": 1, "contents_removed": 1, "already": False}
    listed = admin_client.get("/api/repos?q=json").get_json()
    assert [r["repo"] for r in listed["repos"]] == ["json/tools"] and listed["opted_out"][0]["repo"] == "json"
    again = admin_client.post("/api/admin/optout", json={"repo": "JSON", "reason": "asked again"}, headers=bearer())
    assert again.status_code == 200 and again.get_json() == {**first.get_json(), "already": True}
    owner = admin_client.post("/api/admin/optout", json={"owner": "json", "reason": "all"}, headers=bearer()).get_json()
    assert owner["removed"] == 1 and owner["seq"] == 2 and not owner["already"]  # json/tools
    assert admin_client.get("/api/repos?q=json").get_json()["repos"] == []


@pytest.mark.parametrize("body, parameter, message", [
    ({"repo": "math/fib"}, "reason", ""),
    ({"reason": "x"}, "body", "exactly one"),
    ({"repo": "a/b", "owner": "a", "reason": "x"}, "body", "exactly one"),
    ({"repo": " ", "reason": "x"}, "repo", "starscope repos"),
    ({"repo": "a\tb", "reason": "x"}, "repo", "control character U+0009"),
    ({"owner": "a/b", "reason": "x"}, "owner", "give it as the repo"),
    ({"repo": "a/b", "reason": "x", "force": True}, "force", ""),
])
def test_optout_bodies_are_validated(admin_client, body, parameter, message):
    err = error_of(admin_client.post("/api/admin/optout", json=body, headers=bearer()), 400, "invalid_parameter")
    assert err["details"]["parameter"] == parameter and message in err["message"]


def test_without_a_token_configured_admin_is_off(client):
    error_of(client.post("/api/admin/optout", json={"repo": "math/fib", "reason": "x"}, headers=bearer()),
             403, "admin_disabled")


def test_a_short_token_is_refused_at_start(index_dir):
    with pytest.raises(ValueError, match="ADMIN_TOKEN"):
        create_app({"INDEX_DIR": str(index_dir), "ADMIN_TOKEN": "short"})


def test_authors_ask_for_removal_and_the_operator_lists_the_requests(admin_client):
    r = admin_client.post("/api/optout/requests", json={"repo": "widgets/w1", "contact": "me@example.org",
                                                        "reason": "I wrote these"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["repo"] == "widgets/w1" and body["indexed_documents"] == 5 and body["status"] == "pending"
    assert admin_client.get("/api/search?q=widget").get_json()["total"] == 25  # nothing removed yet
    owner = admin_client.post("/api/optout/requests", json={"owner": "nobody-here", "contact": "x@y.z",
                                                            "reason": "just in case"}).get_json()
    assert owner["indexed_documents"] == 0
    error_of(admin_client.get("/api/admin/optout/requests"), 401, "unauthorized")
    listed = admin_client.get("/api/admin/optout/requests", headers=bearer()).get_json()
    assert [(q["id"], q.get("repo"), q.get("owner"), q["contact"]) for q in listed["requests"]] == [
        (body["id"], "widgets/w1", None, "me@example.org"), (owner["id"], None, "nobody-here", "x@y.z")]
    assert listed["bad_lines"] == 0


def test_an_author_asks_for_a_repository_named_after_its_folder(admin_client):
    """The dataset page's "ask to remove" next to json: accepted, counting json's files alone
    (not its owner's json/tools); a name not indexed (yet) is recorded too."""
    r = admin_client.post("/api/optout/requests", json={"repo": "json", "contact": "me@example.org", "reason": "mine"})
    assert r.status_code == 201 and r.get_json()["repo"] == "json" and r.get_json()["indexed_documents"] == 1
    owner = admin_client.post("/api/optout/requests", json={"owner": "json", "contact": "c", "reason": "r"}).get_json()
    assert owner["indexed_documents"] == 2
    later = admin_client.post("/api/optout/requests", json={"repo": "Group/Sub/Név tree", "contact": "c",
                                                            "reason": "before the rebuild"}).get_json()
    assert later["repo"] == "Group/Sub/Név tree" and later["indexed_documents"] == 0
    listed = admin_client.get("/api/admin/optout/requests", headers=bearer()).get_json()["requests"]
    assert [q.get("repo") or q.get("owner") for q in listed] == ["json", "json", "Group/Sub/Név tree"]


@pytest.mark.parametrize("body", [
    {"repo": "a/b", "contact": "me@example.org"},
    {"repo": "a/b", "owner": "a", "contact": "c", "reason": "r"},
    {"repo": "", "contact": "c", "reason": "r"},
    {"owner": "a/b", "contact": "c", "reason": "r"},
    {"repo": "a\nforged log line", "contact": "c", "reason": "r"},
    {"repo": "x" * 1001, "contact": "c", "reason": "r"},
    {"repo": "a/b", "contact": " ", "reason": "r"},
    {"repo": "a/b", "contact": "c", "reason": "r" * 2001},
])
def test_bad_removal_requests_are_refused(admin_client, body):
    error_of(admin_client.post("/api/optout/requests", json=body), 400, "invalid_parameter")


def test_an_optout_on_an_unwritable_disk_is_a_503_that_says_to_send_it_again(admin_client, monkeypatch):

    served = admin_client.application.extensions["starscope"].current
    real_session = served.store.session

    def full_disk(**kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(served.store, "session", full_disk)
    body = {"repo": "math/fib", "reason": "author asked"}
    error = error_of(admin_client.post("/api/admin/optout", json=body, headers=bearer()), 503, "index_unwritable")
    assert "No space left on device" in error["message"] and "again" in error["message"]
    monkeypatch.setattr(served.store, "session", real_session)
    assert admin_client.post("/api/admin/optout", json=body, headers=bearer()).status_code == 200
    assert admin_client.get("/api/search?q=fibonacci").get_json()["total"] == 0
