"""Opt-out that takes effect: removal in one operation, the ledger, membership that does not
report removed code, the filter rebuilt without it, and re-ingest that never brings it back."""

import json

import numpy as np
import pytest

from indexer.build import build_index
from indexer.cli import main as indexer_main
from indexer.optout import OptoutLedger, OptoutLedgerError, opt_out, rebuild_filter
from indexer.query import parse_query
from indexer.stores import open_index
from membership.attribution import MembershipIndex

from ..backends import BACKENDS, build_config
from ..search_api.conftest import DUPLICATE, corpus_rows

FIB = ("def fibonacci_numbers_up_to(limit):\n    a, b = 0, 1\n    while a < limit:\n"
       "        yield a\n        a, b = b, a + b\n")


def rows():
    return corpus_rows() + [dict(content=FIB, repo="math/fib", path="gen.py", licenses=["MIT"], lang="Python")]


@pytest.fixture(params=BACKENDS)
def index(request, tmp_path):
    shard = tmp_path / "a.jsonl"
    shard.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    config = build_config(request.param, request)
    build_index([shard], tmp_path / "index", config=config, progress=False)
    return tmp_path / "index", config, request


def total(store, q):
    return store.search(parse_query(q)).total


def test_an_optout_removes_records_and_hides_the_code_from_membership(index):
    path, _, _ = index
    store = open_index(path)
    assert MembershipIndex.open(path, store=store).test(FIB).member
    entry = opt_out(path, store, repo="math/fib", reason="the author asked", who="test")
    assert entry["seq"] == 1 and entry["removed"] == 2 and entry["contents_removed"] == 2
    assert entry["chunks_removed"] > 0 and entry["who"] == "test"
    assert total(store, "fibonacci") == 0
    membership = MembershipIndex.open(path, store=store)
    result = membership.test(FIB)
    # the filter still holds the chunks; the hits are checked in the store, which has none
    assert not result.member and result.exact and result.filter["optouts_pending"] == 1
    assert not membership.attribute(FIB).spans

    shared = opt_out(path, store, owner="beta", reason="owner asked", who="test")
    assert shared["removed"] == 1 and shared["contents_removed"] == 0  # alpha and gamma keep it
    assert membership.test(DUPLICATE).member
    assert [e["seq"] for e in OptoutLedger(path).entries()] == [1, 2]
    assert OptoutLedger(path).verify() == {"entries": 2, "missing_chunk_files": [], "damaged_lines": []}


def test_rebuilding_the_filter_drops_removed_chunks_and_keeps_shared_ones(index):
    path, _, _ = index
    store = open_index(path)
    before = MembershipIndex.open(path, store=store).bloom.items
    opt_out(path, store, repo="math/fib", reason="asked", who="test")
    opt_out(path, store, owner="beta", reason="asked", who="test")
    sketch = rebuild_filter(path, store)
    assert sketch["ledger_seq"] == 2 and sketch["dropped"] > 0 and sketch["items"] == before - sketch["dropped"]
    membership = MembershipIndex.open(path, store=store)
    assert membership.optouts_pending() == 0
    fib = membership.test(FIB)
    assert not fib.member and not fib.exact  # the filter alone now says no
    assert membership.test(DUPLICATE).member  # other sources still hold it


def test_reingest_honours_the_ledger(index):
    path, config, _ = index
    store = open_index(path)
    opt_out(path, store, repo="math/fib", reason="asked", who="test")
    opt_out(path, store, owner="widgets", reason="asked", who="test")
    again = path.parent / "b.jsonl"  # the same code arriving in a new shard
    again.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    manifest = build_index([path.parent / "a.jsonl", again], path, config=config, progress=False)
    store = open_index(path)
    assert total(store, "fibonacci") == 0 and total(store, "widget") == 0
    assert manifest["counts"]["skipped_opted_out"] == 2 + 25


def test_the_cli_adds_lists_and_rebuilds(index, capsys):
    path, _, _ = index  # an Elasticsearch index is found through the directory's pointer file
    assert indexer_main(["optout", "add", str(path), "--repo", "math/fib", "--reason", "asked", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["contents_removed"] == 2
    assert indexer_main(["optout", "list", str(path), "--json"]) == 0
    assert [e["repo"] for e in json.loads(capsys.readouterr().out)["optouts"]] == ["math/fib"]
    assert indexer_main(["rebuild-filter", str(path)]) == 0
    assert "opt-outs up to 1" in capsys.readouterr().out


def test_a_line_a_crash_cut_short_is_no_entry_and_later_appends_still_read(tmp_path):
    ledger = OptoutLedger(tmp_path)
    with ledger.locked() as append:
        append({"repo": "a/b"}, np.zeros(0, np.uint64))
    with open(ledger.path, "a") as f:
        f.write('{"seq": 2, "repo": "c/')  # a crash mid-append
    assert [e["seq"] for e in ledger.entries()] == [1]
    with ledger.locked() as append:
        entry = append({"repo": "e/f"}, np.zeros(0, np.uint64))  # ends the cut line, goes on
    assert entry["seq"] == 2 and [e["repo"] for e in ledger.entries()] == ["a/b", "e/f"]
    assert ledger.verify() == {"entries": 2, "missing_chunk_files": [], "damaged_lines": [3]}
    ledger.path.write_text('{"format": "starscope-optout-ledger", "version": 2}\n')
    with pytest.raises(OptoutLedgerError, match="version 2"):
        ledger.entries()
    ledger.path.write_text('{"format": "something-else"}\n')
    with pytest.raises(OptoutLedgerError, match="not an opt-out ledger"):
        ledger.entries()


class FullDisk:
    """The store, except that its writes fail as on a full disk."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)

    def session(self, **kw):
        raise OSError(28, "No space left on device")


def test_an_optout_cut_off_before_its_deletion_is_recorded_pending_and_finished_by_a_rerun(index):
    """The ledger entry is written ahead of the deletion: a failure in between never leaves code
    removed without a record, and the removal is finished by sending the opt-out again (or by
    a switch carrying it)."""
    from indexer.optout import carry_optouts

    path, _, _ = index
    store = open_index(path)
    with pytest.raises(OSError):
        opt_out(path, FullDisk(store), repo="math/fib", reason="asked", who="test")
    (entry,) = OptoutLedger(path).entries()
    assert entry["repo"] == "math/fib" and entry["contents_removed"] == 2 and entry["chunks_removed"] > 0
    assert total(store, "fibonacci") == 2  # recorded, not yet carried out
    membership = MembershipIndex.open(path, store=store)
    assert membership.optouts_pending() == 1 and membership.test(FIB).member  # true: the store has it

    # carrying it into another index whose ledger has it but whose store still holds the code
    # (the same cut-off, there) finishes the removal instead of skipping it
    assert [e["seq"] for e in carry_optouts(path, path, store, who="test")] == [2]
    assert total(store, "fibonacci") == 0 and not MembershipIndex.open(path, store=store).test(FIB).member
    assert carry_optouts(path, path, store, who="test") == []
