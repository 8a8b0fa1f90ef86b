"""The index-reading commands every API endpoint has a twin of: get, repos, stats, optout add."""

import json

import pytest

from indexer.build import build_index
from search_api.cli import main

CODE = "def twin_of_the_api(x):\n    return x * 2  # the same everywhere\n"


@pytest.fixture()
def index(tmp_path):
    shard = tmp_path / "a.jsonl"
    rows = [{"content": CODE, "repo": "alpha/one", "path": "a.py", "licenses": ["MIT"]},
            {"content": CODE, "repo": "beta/two", "path": "b.py", "licenses": ["GPL-3.0-only"]},
            {"content": "only_here = 1\n", "repo": "alpha/one", "path": "c.py"}]
    shard.write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_index([shard], tmp_path / "index", progress=False)
    return tmp_path / "index"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_get_prints_the_document_and_its_sources(index, capsys):
    from indexer.document import content_sha

    sha = content_sha(CODE)
    code, out, _ = run(capsys, "get", index, sha, "--json")
    body = json.loads(out)
    assert code == 0 and body["content"] == CODE and {s["repo"] for s in body["sources"]} == {"alpha/one", "beta/two"}
    code, out, _ = run(capsys, "get", index, sha.upper())
    assert code == 0 and out.endswith(CODE) and "# beta/two/b.py" in out
    assert run(capsys, "get", index, "0" * 40)[0] == 1
    code, _, err = run(capsys, "get", index, "nothex")
    assert code == 1 and "40 hexadecimal digits" in err


def test_repos_and_stats(index, capsys):
    code, out, _ = run(capsys, "repos", index, "alp", "--json")
    assert code == 0 and json.loads(out) == {"repos": [{"repo": "alpha/one", "documents": 2}],
                                             "owners": [{"owner": "alpha", "documents": 2}], "opted_out": []}
    code, out, _ = run(capsys, "stats", index, "--json")
    body = json.loads(out)
    assert (body["documents"], body["sources"]) == (2, 3) and body["membership"]["items"] > 0
    assert "2 documents (3 sources" in run(capsys, "stats", index)[1]


def test_optout_add_removes_at_once(index, capsys):
    code, out, _ = run(capsys, "optout", "add", index, "--repo", "alpha/one", "--reason", "asked", "--json")
    entry = json.loads(out)
    assert code == 0 and (entry["removed"], entry["repo"], entry["seq"]) == (2, "alpha/one", 1)
    listed = json.loads(run(capsys, "repos", index, "--json")[1])
    assert listed["repos"] == [{"repo": "beta/two", "documents": 1}]
    assert [(o["repo"], o["seq"]) for o in listed["opted_out"]] == [("alpha/one", 1)]
    code, _, err = run(capsys, "optout", "add", index, "--owner", "alpha/one", "--reason", "x")
    assert code == 1 and "give it as the repo" in err
    with pytest.raises(SystemExit):
        main(["optout", "add", str(index), "--repo", "a/b", "--owner", "a", "--reason", "x"])
