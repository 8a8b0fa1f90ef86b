"""The server follows the served link to a rebuilt index while it answers: no failed request,
every lookup of a request on one index, writes that lost the race carried out on the new one."""

import json
import threading
import time
import urllib.request

import pytest

from indexer.build import build_index
from indexer.live import switch
from indexer.manifest import read_manifest
from indexer.optout import OptoutLedger
from indexer.optout_requests import OptoutRequests
from search_api.app import create_app

from ..backends import BACKENDS, build_config
from .conftest import corpus_rows, live_server

TOKEN = "s3cret-token-for-tests-only"
NEW = dict(content="def zebra_crossing_signal(light):\n    return light == 'green'\n", repo="roads/zebra",
           path="zebra.py", licenses=["MIT"], lang="Python", stars=3)


def build(tmp_path, name, request, backend, extra=()):
    shard = tmp_path / f"{name}.jsonl"
    shard.write_text("".join(json.dumps(r) + "\n" for r in corpus_rows() + list(extra)))
    build_index([shard], tmp_path / name, config=build_config(backend, request), progress=False)
    return (tmp_path / name).resolve()


def serving(client) -> str:
    """The corpus fingerprint of the index the app answers from (health names no directory)."""
    return client.get("/api/health").get_json()["index"]["corpus_fingerprint"]


def fingerprint(index_dir) -> str:
    return read_manifest(index_dir)["corpus_fingerprint"]


def wait_for(predicate, seconds=15.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "the server did not follow the link in time"
        time.sleep(0.05)


@pytest.fixture(params=BACKENDS)
def linked(request, tmp_path):
    """``index`` -> ``index-1``; ``index-2`` holds one more file (and, on Elasticsearch, its own
    cluster index)."""
    old = build(tmp_path, "index-1", request, request.param)
    new = build(tmp_path, "index-2", request, request.param, extra=[NEW])
    link = tmp_path / "index"
    switch(link, old)
    app = create_app({"INDEX_DIR": str(link), "TESTING": True, "ADMIN_TOKEN": TOKEN})
    return link, old, new, app


def zebras(client) -> int:
    response = client.get("/api/search", query_string={"q": "zebra_crossing_signal"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["total"]


def test_the_app_follows_the_link_while_answering(linked):
    link, old, new, app = linked
    client = app.test_client()
    assert serving(client) == fingerprint(old) and zebras(client) == 0
    statuses, stop = [], threading.Event()

    def load():
        c = app.test_client()
        while not stop.is_set():
            for path in ("/api/search?q=widget", "/api/repos?q=w", "/api/health"):
                statuses.append(c.get(path).status_code)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    switch(link, new)
    wait_for(lambda: serving(client) == fingerprint(new))
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert statuses and set(statuses) == {200}
    health = client.get("/api/health").get_json()
    assert health["switched_at"] and health["switch_error"] is None
    assert zebras(client) == 1


def test_an_optout_sent_to_the_old_index_after_a_switch_lands_on_the_new(linked):
    link, old, new, app = linked
    app.extensions["starscope"].CHECK_SECONDS = 3600  # the worker would not look at the link again
    client = app.test_client()
    assert serving(client) == fingerprint(old)
    switch(link, new)
    response = client.post("/api/admin/optout", json={"repo": "roads/zebra", "reason": "asked"},
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["removed"] == 1  # only the new index has the repository
    assert [e["repo"] for e in OptoutLedger(new).entries()] == ["roads/zebra"] and not OptoutLedger(old).entries()
    assert serving(client) == fingerprint(new) and zebras(client) == 0
    # an author's request, too, is recorded where the operator will look
    response = client.post("/api/optout/requests", json={"owner": "widgets", "contact": "w@example.org",
                                                         "reason": "mine"})
    assert response.status_code == 201 and len(OptoutRequests(new).list()) == 1


def test_a_target_that_cannot_be_opened_leaves_the_old_index_served_and_says_why(tmp_path, request):
    old = build(tmp_path, "index-1", request, "tantivy")
    link = tmp_path / "index"
    switch(link, old)
    app = create_app({"INDEX_DIR": str(link), "TESTING": True, "ADMIN_TOKEN": TOKEN})
    live = app.extensions["starscope"]
    live.CHECK_SECONDS = 0.0
    broken = tmp_path / "broken"
    (broken / "store").mkdir(parents=True)
    (broken / "manifest.json").write_text((old / "manifest.json").read_text())  # a manifest, no store
    link.unlink()
    link.symlink_to(broken)
    client = app.test_client()
    wait_for(lambda: client.get("/api/health").get_json()["switch_error"] is not None)
    health = client.get("/api/health").get_json()
    assert serving(client) == fingerprint(old) and str(tmp_path) not in json.dumps(health)
    assert health["switch_error"]["message"] and health["switch_error"]["at"]
    assert client.get("/api/search?q=widget").status_code == 200
    status = client.get("/api/admin/status", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert status["index_dir"] == str(old) and status["link"] == str(link)
    assert status["switch_error"]["target"] == str(broken) and "store" in status["switch_error"]["message"]


@pytest.mark.slow
def test_a_running_server_answers_through_a_rebuild_and_a_switch(tmp_path, request):
    """``starscope serve`` (two worker processes) under load while a new index is built beside
    the served one and switched to: every request answered, both workers on the new index."""
    old = build(tmp_path, "index-1", request, "tantivy")
    link = tmp_path / "index"
    switch(link, old)
    with live_server([link, "--workers", "2", "--threads", "2", "--rate-limit", "off", "--search-rate-limit", "off",
                      "--no-access-log"],
                     tmp_path / "serve.log") as base:
        failures, answered, stop = [], [], threading.Event()

        def load():
            while not stop.is_set():
                for path in ("/api/search?q=widget", "/api/search?q=zebra_crossing_signal", "/api/health"):
                    try:
                        with urllib.request.urlopen(base + path, timeout=30) as r:
                            answered.append(r.status)
                    except Exception as e:  # noqa: BLE001 - every failure is one to report
                        failures.append(f"{path}: {e}")

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        new = build(tmp_path, "index-2", request, "tantivy", extra=[NEW])  # the rebuild, under load
        switch(link, new)

        def followed():  # a run of answers from both workers, all from the new directory
            served = [json.load(urllib.request.urlopen(base + "/api/health", timeout=30))["index"]
                      ["corpus_fingerprint"] for _ in range(12)]
            return set(served) == {fingerprint(new)}

        wait_for(followed)
        stop.set()
        for t in threads:
            t.join()
        assert not failures and len(answered) > 50
        found = json.load(urllib.request.urlopen(base + "/api/search?q=zebra_crossing_signal", timeout=30))
        assert found["total"] == 1
