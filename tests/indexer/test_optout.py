"""Opt-out that takes effect: removal in one operation, the ledger, membership that does not
report removed code, the filter rebuilt without it, and re-ingest that never brings it back."""

import json

import numpy as np
import pytest

from indexer.build import build_index
from indexer.document import content_sha
from indexer.cli import main as indexer_main
from indexer.index_dir import IndexDir
from indexer.optout import OptoutLedger, OptoutLedgerError, opt_out, rebuild_filter
from indexer.query import parse_query
from indexer.stores import open_index
from membership.sequences import open_spans
from membership.sketch import read_meta

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
    assert IndexDir(path, store=store).membership().test(FIB).member
    entry = opt_out(path, store, repo="math/fib", reason="the author asked", who="test")
    assert entry["seq"] == 1 and entry["removed"] == 2 and entry["contents_removed"] == 2
    assert entry["chunks_removed"] > 0 and entry["who"] == "test"
    assert total(store, "fibonacci") == 0
    membership = IndexDir(path, store=store).membership()
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
    before = IndexDir(path, store=store).membership().bloom.items
    opt_out(path, store, repo="math/fib", reason="asked", who="test")
    opt_out(path, store, owner="beta", reason="asked", who="test")
    sketch = rebuild_filter(path, store)
    assert sketch["ledger_seq"] == 2 and sketch["dropped"] > 0 and sketch["items"] == before - sketch["dropped"]
    membership = IndexDir(path, store=store).membership()
    assert membership.optouts_pending() == 0
    fib = membership.test(FIB)
    assert not fib.member and not fib.exact  # the filter alone now says no
    assert membership.test(DUPLICATE).member  # other sources still hold it
    # the span index keeps only what the store still holds, each content with its live sources
    sa = open_spans(path)
    shas = sa.shas(range(sa.docs))
    live = {r.sha: r for r in store.docs_with_terms("sha", shas, limit=len(shas) + 1)}
    assert sketch["spans"]["ledger_seq"] == 2 and sorted(shas) == sorted(live)
    assert sa.docs == store.stats().documents and content_sha(FIB) not in shas
    assert sa.doc_sources.tolist() == [len(live[s].sources) for s in shas]


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


# Names of every shape an index holds: a tree ingested without a git remote is named after its
# folder (no slash), an owner of that name may have repositories too, GitLab groups nest, and
# folder names have spaces, accents and capitals.
NAMED = {"json": "def decode_json_document(text):\n    return parse_value(text, 0)\n",
         "json/decoder": "def decode_json_stream(stream):\n    return [line for line in stream]\n",
         "group/sub/name": "def nested_group_project():\n    return 'gitlab subgroups nest'\n",
         "My Tree é": "def folder_with_spaces():\n    return 'accents and capitals'\n"}


@pytest.fixture(params=BACKENDS)
def named_index(request, tmp_path):
    shard = tmp_path / "named.jsonl"
    shard.write_text("".join(json.dumps(dict(content=text, repo=repo, path="m.py", lang="Python")) + "\n"
                             for repo, text in NAMED.items()))
    config = build_config(request.param, request)
    build_index([shard], tmp_path / "index", config=config, progress=False)
    return tmp_path / "index", config, shard


def indexed_repos(store):
    return {name for name, _ in store.repos("", limit=100)}


def test_every_name_the_index_holds_can_be_opted_out_and_the_repo_form_removes_exactly_it(named_index):
    path, config, shard = named_index
    store = open_index(path)
    assert indexed_repos(store) == {name.lower() for name in NAMED}  # the store matches lowercased
    entry = opt_out(path, store, repo="json", reason="asked", who="test")
    assert entry["repo"] == "json" and entry["removed"] == 1
    assert indexed_repos(store) == {"json/decoder", "group/sub/name", "my tree é"}  # not json's owner
    for name in ("group/sub/name", "MY TREE É"):  # as the author typed it: kept so, matched as the store does
        assert opt_out(path, store, repo=name, reason="asked", who="test")["removed"] == 1
    assert indexed_repos(store) == {"json/decoder"}
    assert [e["repo"] for e in OptoutLedger(path).entries()] == ["json", "group/sub/name", "MY TREE É"]

    # the same code arriving again: a build skips exactly the opted-out repositories
    again = shard.with_name("again.jsonl")
    again.write_text(shard.read_text())
    manifest = build_index([shard, again], path, config=config, progress=False)
    assert manifest["counts"]["skipped_opted_out"] == 3 and indexed_repos(open_index(path)) == {"json/decoder"}

    owner = opt_out(path, store, owner="json", reason="all of it", who="test")  # json/* and json itself
    assert owner["removed"] == 1 and indexed_repos(store) == set()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_source_tree_named_after_its_folder_is_opted_out_by_that_name(tmp_path, capsys, request, backend):
    """The issue's walk-through: `ingest ~/src/json ~/src/email`, `index`, `optout add --repo json`."""
    src = tmp_path / "src"
    for name in ("json", "email"):
        (src / name).mkdir(parents=True)
        (src / name / f"{name}_tools.py").write_text(f"def {name}_helper():\n    return '{name}'\n")
    assert indexer_main(["ingest", str(src / "json"), str(src / "email"), "--out", str(tmp_path / "shards")]) == 0
    build_index([tmp_path / "shards"], tmp_path / "index", config=build_config(backend, request), progress=False)
    capsys.readouterr()
    assert indexer_main(["optout", "add", str(tmp_path / "index"), "--repo", "json", "--reason", "x"]) == 0
    assert "removed json: 1 contents" in capsys.readouterr().out
    store = open_index(tmp_path / "index")
    assert total(store, "json_helper") == 0 and total(store, "email_helper") == 1


def test_a_repeated_optout_adds_no_entry_and_answers_the_one_that_did_it(index, capsys):
    path, _, _ = index
    store = open_index(path)
    first = opt_out(path, store, repo="math/fib", reason="the author asked", who="test")
    again = opt_out(path, store, repo="Math/Fib", reason="asked twice", who="test")
    assert again == {**first, "already": True}
    owner = opt_out(path, store, owner="widgets", reason="asked", who="test")
    assert opt_out(path, store, repo="widgets/w1", reason="asked", who="test") == {**owner, "already": True}
    assert [e["seq"] for e in OptoutLedger(path).entries()] == [1, 2]

    assert indexer_main(["optout", "add", str(path), "--repo", "math/fib", "--reason", "x", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {**first, "already": True}
    assert indexer_main(["optout", "add", str(path), "--owner", "widgets", "--reason", "x"]) == 0
    assert "widgets is already removed: ledger entry 2" in capsys.readouterr().out
    assert len(OptoutLedger(path).entries()) == 2

    # never in the index: recorded once (a rebuild will skip it), then a repeat is answered
    absent = opt_out(path, store, repo="json", reason="ahead of the next build", who="test")
    assert absent["removed"] == 0 and absent["seq"] == 3
    assert opt_out(path, store, repo="json", reason="again", who="test")["already"]
    assert len(OptoutLedger(path).entries()) == 3


def test_the_cli_adds_lists_and_rebuilds(index, capsys):
    path, _, _ = index  # an Elasticsearch index is found through the directory's pointer file
    assert indexer_main(["optout", "add", str(path), "--repo", "math/fib", "--reason", "asked", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["contents_removed"] == 2
    assert indexer_main(["optout", "list", str(path), "--json"]) == 0
    assert [e["repo"] for e in json.loads(capsys.readouterr().out)["optouts"]] == ["math/fib"]
    assert indexer_main(["rebuild-filter", str(path)]) == 0
    assert "opt-outs up to 1" in capsys.readouterr().out
    # stats describe the filter as rebuilt (the manifest's copy is the build's)
    assert indexer_main(["stats", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["membership"]
    rebuilt = {k: v for k, v in read_meta(path).items() if k != "shards"}
    assert shown == rebuilt and shown["ledger_seq"] == 1
    assert shown["items"] < json.loads((path / "manifest.json").read_text())["configs"]["membership"]["items"]


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
    membership = IndexDir(path, store=store).membership()
    assert membership.optouts_pending() == 1 and membership.test(FIB).member  # true: the store has it

    # carrying it into another index whose ledger has it but whose store still holds the code
    # (the same cut-off, there) finishes the removal instead of skipping it
    assert [e["seq"] for e in carry_optouts(path, path, store, who="test")] == [2]
    assert total(store, "fibonacci") == 0 and not IndexDir(path, store=store).membership().test(FIB).member
    assert carry_optouts(path, path, store, who="test") == []


def test_repeating_an_optout_whose_deletion_was_cut_off_finishes_it(index):
    """A repeat adds nothing only once nothing of it is left: one whose first run recorded the
    entry but never deleted (a full disk) is carried out, under an entry of its own."""
    path, _, _ = index
    store = open_index(path)
    with pytest.raises(OSError):
        opt_out(path, FullDisk(store), repo="math/fib", reason="asked", who="test")
    assert total(store, "fibonacci") == 2
    finished = opt_out(path, store, repo="math/fib", reason="asked", who="test")
    assert finished["seq"] == 2 and not finished.get("already") and finished["removed"] == 2
    assert total(store, "fibonacci") == 0
    assert opt_out(path, store, repo="math/fib", reason="asked", who="test") == {**finished, "already": True}
    assert [e["seq"] for e in OptoutLedger(path).entries()] == [1, 2]
