"""Rebuilding beside the served index and switching the link to it: opt-outs and requests made
meanwhile carried over, the old directory refusing writes, and nothing lost to a race."""

import json
import threading

import pytest

from indexer.build import build_index
from indexer.cli import main as indexer_main
from indexer.index_dir import IndexDir
from indexer.live import SwitchError, switch
from indexer.manifest import ManifestError
from indexer.optout import OptoutLedger, opt_out
from indexer.optout_requests import OptoutRequests
from indexer.query import parse_query
from indexer.stores import open_index
from indexer.superseded import IndexSuperseded, superseded_by

from ..backends import BACKENDS, build_config, cli_store_args
from ..search_api.conftest import corpus_rows

FIB = ("def fibonacci_numbers_up_to(limit):\n    a, b = 0, 1\n    while a < limit:\n"
       "        yield a\n        a, b = b, a + b\n")


def write_shard(path, extra=()):
    rows = corpus_rows() + [dict(content=FIB, repo="math/fib", path="gen.py", licenses=["MIT"], lang="Python"),
                            *extra]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(params=BACKENDS)
def served(request, tmp_path):
    """``tmp/index`` -> ``tmp/index-1``, a finished index, plus a rebuild's inputs and config."""
    shard = write_shard(tmp_path / "a.jsonl")
    build_index([shard], tmp_path / "index-1", config=build_config(request.param, request), progress=False)
    link = tmp_path / "index"
    assert switch(link, tmp_path / "index-1")["from"] is None  # the first switch makes the link
    return link, shard, lambda: build_config(request.param, request)


def count(index_dir, q):
    return open_index(index_dir).search(parse_query(q)).total


def test_a_rebuild_beside_the_served_index_takes_every_optout_and_request_with_it(served, tmp_path):
    link, shard, new_config = served
    old = link.resolve()
    opt_out(old, open_index(old), repo="math/fib", reason="asked before the rebuild", who="test")

    manifest = build_index([shard], tmp_path / "index-2", config=new_config(), progress=False, optouts_from=link)
    new = (tmp_path / "index-2").resolve()
    assert manifest["counts"]["skipped_opted_out"] == 2  # never ingested, not ingested then removed
    assert count(new, "fibonacci_numbers_up_to") == 0
    carried = OptoutLedger(new).entries()
    assert carried[0]["repo"] == "math/fib" and carried[0]["chunks_removed"] == 0
    assert carried[0]["carried_from"]["dir"] == str(old) and carried[0]["carried_from"]["who"] == "test"
    membership = IndexDir(new).membership()
    assert membership.optouts_pending() == 0  # the filter never held the code
    assert not membership.test(FIB).member

    # While the rebuild ran, the live index took another opt-out and an author's request.
    opt_out(old, open_index(old), owner="beta", reason="asked during the rebuild", who="test")
    request_id = OptoutRequests(old).add(repo="gamma/three", contact="g@example.org", reason="mine")["id"]
    assert count(new, "repo:beta/two") == 1

    done = switch(link, new)
    assert done == {"link": str(link), "from": str(old), "to": str(new), "optouts_carried": [2],
                    "requests_carried": 1}
    assert link.resolve() == new and superseded_by(old) == new
    assert count(link, "repo:beta/two") == 0  # beta's source went at the switch
    assert [e.get("repo") or e.get("owner") for e in OptoutLedger(new).entries()] == ["math/fib", "beta"]
    assert [r["id"] for r in OptoutRequests(new).list()] == [request_id]

    # The old directory refuses writes and names its successor; nothing is written there.
    with pytest.raises(IndexSuperseded) as refused:
        opt_out(old, open_index(old), repo="web/loops", reason="too late", who="test")
    assert refused.value.successor == new and count(old, "repo:web/loops") == 1
    with pytest.raises(IndexSuperseded):
        OptoutRequests(old).add(owner="web", contact="w@example.org", reason="mine")
    assert len(OptoutLedger(old).entries()) == 2 and len(OptoutRequests(old).list()) == 1

    # Switching back carries what the newer one took since, and the newer one is superseded.
    opt_out(new, open_index(new), repo="web/loops", reason="after the switch", who="test")
    back = switch(link, old)
    assert back["optouts_carried"] == [3] and back["requests_carried"] == 0
    assert superseded_by(old) is None and superseded_by(new) == old and count(link, "repo:web/loops") == 0


def test_a_switch_refuses_what_it_cannot_serve(served, tmp_path):
    link, _, _ = served
    with pytest.raises(SwitchError, match="already points"):
        switch(link, link.resolve())
    with pytest.raises(ManifestError, match="not a StarScope index"):
        switch(link, tmp_path)  # not an index (or a build still running: the manifest comes last)
    with pytest.raises(SwitchError, match="is a directory, not a link"):
        switch(link.resolve(), link.resolve())
    assert link.resolve() == (tmp_path / "index-1").resolve()


@pytest.mark.es
def test_two_directories_on_one_elasticsearch_index_are_not_switched_between(tmp_path, request):
    shard = write_shard(tmp_path / "a.jsonl")
    config = build_config("elasticsearch", request)
    build_index([shard], tmp_path / "one", config=config, progress=False)
    build_index([shard], tmp_path / "two", config=config, progress=False)
    switch(tmp_path / "live", tmp_path / "one")
    with pytest.raises(SwitchError, match="same Elasticsearch index"):
        switch(tmp_path / "live", tmp_path / "two")


def test_optouts_racing_a_switch_are_carried_out_once_each_on_the_new_index(tmp_path, request):
    """Opt-outs sent to the old directory while a switch runs: each lands before the switch
    (and is carried) or is refused after it (and is retried on the new); none is lost."""
    shard = write_shard(tmp_path / "a.jsonl")
    for name in ("index-1", "index-2"):
        build_index([shard], tmp_path / name, config=build_config("tantivy", request), progress=False)
    link = tmp_path / "index"
    switch(link, tmp_path / "index-1")
    old, new = (tmp_path / "index-1").resolve(), (tmp_path / "index-2").resolve()
    targets = [f"widgets/w{i}" for i in range(5)] + ["math/fib", "web/loops", "tools/paths"]
    landed, retried, errors = [], [], []

    def writer(repos):
        for repo in repos:
            try:
                opt_out(old, open_index(old), repo=repo, reason="race", who="writer")
                landed.append(repo)
            except IndexSuperseded as e:
                opt_out(e.successor, open_index(e.successor), repo=repo, reason="race", who="writer")
                retried.append(repo)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

    threads = [threading.Thread(target=writer, args=(targets[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    switch(link, new)
    for t in threads:
        t.join()
    assert not errors
    assert sorted(landed + retried) == sorted(targets)
    got = [e["repo"] for e in OptoutLedger(new).entries()]
    assert sorted(got) == sorted(targets)  # every one, once
    assert all(count(new, f'repo:{r}') == 0 for r in targets)


def test_the_cli_rebuilds_beside_and_switches(served, tmp_path, capsys):
    link, shard, new_config = served
    old = link.resolve()
    assert indexer_main(["optout", "add", str(link), "--repo", "math/fib", "--reason", "asked"]) == 0
    assert "ledger entry 1" in capsys.readouterr().out
    config = new_config()
    assert indexer_main(["index", str(shard), "--out", str(tmp_path / "index-2"), "--optouts-from", str(link),
                         *cli_store_args(config)]) == 0
    assert json.loads(capsys.readouterr().out)["skipped_opted_out"] == 2
    assert indexer_main(["switch", str(link), str(tmp_path / "index-2"), "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["from"] == str(old) and done["optouts_carried"] == []
    assert indexer_main(["optout", "add", str(old), "--repo", "web/loops", "--reason", "late"]) == 1
    assert "was replaced by" in capsys.readouterr().err
    assert count(link, "repo:math/fib") == 0 and count(link, "repo:web/loops") == 1
