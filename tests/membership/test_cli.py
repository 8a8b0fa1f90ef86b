import json
import subprocess
import sys

from search_api.cli import main


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
    assert code == 0 and "3 line(s)" in err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["id"] == "a" and records[0]["result"]["spans"]
    assert records[1]["error"]["code"] == "text_too_short"
    assert records[2]["error"]["code"] == "invalid_json"
    assert records[3]["error"]["code"] == "invalid_record"
    assert records[4]["result"]["coverage"] > 0.9
