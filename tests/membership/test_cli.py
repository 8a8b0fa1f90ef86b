import json
import shutil
import subprocess
import sys

from membership.sketch import bloom_path
from search_api.cli import main

from .test_bloom import rewrite_header


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_attribute_json_follows_the_contract(corpus, tmp_path, capsys):
    index, docs = corpus
    f = tmp_path / "gen.py"
    f.write_text("import os\n" + docs[5].content[:1500] + "\nprint('done')\n")
    code, out, _ = run(capsys, "attribute", str(index), "--text-file", str(f), "--json")
    assert code == 0
    result = json.loads(out)
    span = max(result["spans"], key=lambda s: s["end"] - s["start"])
    assert {"start", "end", "text", "common", "count", "sources"} <= span.keys()
    assert {"repo", "path", "licenses", "start_line", "end_line"} <= span["sources"][0].keys()
    assert span["sources"][0]["path"] == docs[5].path


def test_membership_reads_standard_input_and_exact_confirms(corpus):
    index, docs = corpus
    done = subprocess.run([sys.executable, "-m", "search_api", "membership", str(index), "-", "--exact", "--json"],
                          input=docs[2].content[:800].encode(), capture_output=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["member"] and result["exact"] and result["fraction"] > 0.9


def test_bad_input_exits_1_with_one_clear_line(corpus, tmp_path, capsys):
    index, _ = corpus
    binary = tmp_path / "bin.dat"
    binary.write_bytes(b"\x00\xff\xfe" * 40)
    code, _, err = run(capsys, "attribute", str(index), "--text-file", str(binary))
    assert code == 1 and "not UTF-8" in err and "0xff" in err
    big = tmp_path / "big.txt"
    big.write_text("x" * 2001)
    code, _, err = run(capsys, "membership", str(index), "--text-file", str(big), "--max-chars", "2000")
    assert code == 1 and "2,000" in err
    code, _, err = run(capsys, "attribute", str(index))
    assert code == 1 and "--text-file" in err
    code, _, err = run(capsys, "membership", str(tmp_path), "--text-file", str(big))
    assert code == 1 and "starscope" in err


def test_jsonl_streams_one_record_per_line_with_errors_in_place(corpus, tmp_path, capsys):
    index, docs = corpus
    src = tmp_path / "gens.jsonl"
    src.write_text("\n".join([json.dumps({"id": "a", "text": docs[1].content[:700]}),
                              json.dumps({"id": "b", "text": "tiny"}), "{not json",
                              json.dumps({"id": "c", "output": "no text field"}),
                              json.dumps({"id": "d", "text": docs[3].content[:700]})]) + "\n")
    out = tmp_path / "results.jsonl"
    code, _, err = run(capsys, "attribute", str(index), "--jsonl", str(src), "--out", str(out))
    # some lines failed: the pipeline hears it (status 1), with how many, which, and where
    assert code == 1
    assert "3 of 5 line(s) could not be attributed (line(s) 2, 3, 4)" in err and str(out) in err
    assert "--allow-failures" in err and len(err.strip().splitlines()) == 1
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["id"] == "a" and records[0]["result"]["spans"]
    assert records[1]["error"]["code"] == "text_too_short"
    assert records[2]["error"]["code"] == "invalid_json"
    assert records[3]["error"]["code"] == "invalid_record"
    assert records[4]["result"]["coverage"] > 0.9
    allowed = tmp_path / "allowed.jsonl"
    code, _, err = run(capsys, "attribute", str(index), "--jsonl", str(src), "--out", str(allowed),
                       "--allow-failures")
    assert code == 0 and "warning: 3 of 5 line(s)" in err and allowed.read_text() == out.read_text()


def test_a_batch_where_every_line_fails_exits_1(corpus, tmp_path, capsys):
    index, _ = corpus
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps({"text": "tiny"}) + "\n" + json.dumps({"text": ""}) + "\n")
    code, out, err = run(capsys, "attribute", str(index), "--jsonl", str(src))
    assert code == 1 and "2 of 2 line(s)" in err and "standard output" in err
    assert [json.loads(line)["error"]["code"] for line in out.splitlines()] == ["text_too_short", "empty_text"]


def test_a_truncated_answer_warns_in_text_and_carries_its_limits_in_json(crowd, tmp_path, capsys):
    """Eight edited copies share near-duplicate bands with the file: with room for five, the
    answer is truncated and says by what; its verbatim spans are whole either way."""
    index, _, original = crowd
    f = tmp_path / "gen.py"
    f.write_text(original.content)
    code, out, _ = run(capsys, "attribute", str(index), "--text-file", str(f), "--max-candidates", "5")
    warning = [line for line in out.splitlines() if line.startswith("warning: truncated answer")]
    assert code == 0 and len(warning) == 1
    assert "files share a near-duplicate band and 5 were scored (--max-candidates)" in warning[0]
    code, out, _ = run(capsys, "attribute", str(index), "--text-file", str(f), "--max-candidates", "5", "--json")
    result = json.loads(out)
    assert result["truncated"] is True and "unverified" not in result
    assert result["limits"]["max_candidates"] == 5 and result["limits"]["near_duplicate_candidates_available"] >= 8
    code, out, _ = run(capsys, "attribute", str(index), "--text-file", str(f), "--json")
    assert json.loads(out)["spans"] == result["spans"]  # the verbatim part is never cut
    code, out, _ = run(capsys, "attribute", str(index), "--text-file", str(f))
    assert code == 0 and "warning" not in out
    code, _, err = run(capsys, "attribute", str(index), "--text-file", str(f), "--max-candidates", "0")
    assert code == 1 and "--max-candidates" in err


def test_a_batch_counts_its_truncated_answers_without_failing(crowd, tmp_path, capsys):
    """A truncated answer is a result that says what limit cut it, not a failure: the batch
    says how many there were and still exits 0."""
    index, docs, original = crowd
    src = tmp_path / "gens.jsonl"
    src.write_text(json.dumps({"id": 1, "text": original.content}) + "\n"
                   + json.dumps({"id": 2, "text": docs[0].content}) + "\n")
    out = tmp_path / "results.jsonl"
    code, _, err = run(capsys, "attribute", str(index), "--jsonl", str(src), "--out", str(out),
                       "--max-candidates", "5")
    assert code == 0 and "1 of 2 answer(s) truncated" in err and "(line(s) 1)" in err and str(out) in err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["result"]["truncated"] for r in records] == [True, False]
    assert records[0]["result"]["limits"]["near_duplicate_candidates_available"] > 5


def test_near_dups_says_when_its_candidates_were_cut(crowd, tmp_path, capsys):
    index, _, original = crowd
    f = tmp_path / "orig.py"
    f.write_text(original.content)
    code, out, _ = run(capsys, "near-dups", str(index), str(f), "--max-candidates", "3")
    assert code == 0 and "warning: truncated answer" in out and "3 were scored" in out
    code, out, _ = run(capsys, "near-dups", str(index), str(f), "--max-candidates", "3", "--json")
    assert json.loads(out)["truncated"] is True
    code, out, _ = run(capsys, "near-dups", str(index), str(f))
    assert code == 0 and "warning" not in out


def test_an_older_filter_exits_1_naming_the_rebuild_and_rebuild_filter_upgrades_it(corpus, tmp_path, capsys):
    index, docs = corpus
    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    rewrite_header(bloom_path(copy), format_version=1)  # as an older StarScope wrote it
    text = tmp_path / "q.py"
    text.write_text(docs[2].content[:800])
    for command in ("membership", "attribute"):
        code, out, err = run(capsys, command, str(copy), "--text-file", str(text))
        assert code == 1 and not out
        assert err.startswith("starscope: error: ") and err.count("\n") == 1  # one line, no traceback
        assert "format version 1" in err and f"`starscope rebuild-filter {copy}`" in err
    code, out, _ = run(capsys, "rebuild-filter", str(copy), "--json")
    assert code == 0 and json.loads(out)["dropped"] == 0
    code, out, _ = run(capsys, "membership", str(copy), "--text-file", str(text), "--json")
    assert code == 0 and json.loads(out)["member"]
