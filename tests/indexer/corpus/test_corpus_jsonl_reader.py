"""Reading JSON-lines corpora: plain and gzip, bad lines counted, truncated gzip reported."""

from __future__ import annotations

import collections
import gzip
import json
import random

import pytest

from indexer.corpus import CorpusError, FieldMap, iter_documents


def write_lines(path, lines: list[bytes | str | dict]):
    encoded = []
    for line in lines:
        if isinstance(line, dict):
            line = json.dumps(line)
        encoded.append(line.encode() if isinstance(line, str) else line)
    data = b"\n".join(encoded) + b"\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as stream:
            stream.write(data)
    else:
        path.write_bytes(data)
    return path


def read_all(path, **kwargs):
    stats = collections.Counter()
    return list(iter_documents(path, stats=stats, **kwargs)), stats


STACK_LIKE_LINE = {"content": "print('hi')\n", "max_stars_repo_name": "octo/hello",
                   "max_stars_repo_path": "hello.py", "max_stars_repo_licenses": ["MIT"],
                   "max_stars_count": 3, "lang": "Python", "hexsha": "abc123"}


@pytest.mark.parametrize("name", ["data.jsonl", "data.jsonl.gz", "data.json.gz", "data.ndjson"])
def test_known_keys_are_detected_in_plain_and_gzip_files(tmp_path, name):
    path = write_lines(tmp_path / name, [STACK_LIKE_LINE])
    (document,), stats = read_all(path)
    assert (document.repo, document.path, document.licenses, document.stars, document.lang,
            document.id) == ("octo/hello", "hello.py", ("MIT",), 3, "python", "abc123")
    assert stats["docs_read"] == 1 and stats["bytes_read"] == len("print('hi')\n")


def test_bad_lines_are_skipped_and_counted(tmp_path):
    path = write_lines(tmp_path / "mixed.jsonl", [
        {"content": "one\n", "repo_name": "a/b", "path": "1.py"},
        b'{"content": "caf\xe9"}',                      # Latin-1, not UTF-8
        '{"content": "unterminated',                     # not JSON
        '["content", "a list, not an object"]',
        {"text": "the wrong key"},
        {"content": 42},
        {"content": None},
        {"content": ""},
        {"content": "lone \ud800 surrogate"},            # valid JSON, unusable text
        "",
        {"content": "two\n", "repo_name": "a/b", "path": "2.py"},
    ])
    documents, stats = read_all(path)
    assert [document.path for document in documents] == ["1.py", "2.py"]
    assert stats == collections.Counter(
        docs_read=2, bytes_read=8, skipped_non_utf8=2, skipped_bad_json=2, skipped_no_text=2,
        skipped_empty=2, skipped_blank_line=1)


def test_missing_repo_and_path_default_to_file_name_and_line(tmp_path):
    path = write_lines(tmp_path / "snippets.jsonl", [{"content": "a\n"}, {"content": "b\n"}])
    documents, _ = read_all(path)
    assert [(doc.repo, doc.path, doc.licenses) for doc in documents] == [
        ("snippets.jsonl", "L1", ("unknown",)), ("snippets.jsonl", "L2", ("unknown",))]


def test_field_map_names_text_and_metadata_keys(tmp_path):
    path = write_lines(tmp_path / "custom.jsonl", [
        {"code": "package main\n", "project": "go/hello", "file": "main.go",
         "license": "BSD-3-Clause", "max_stars_repo_name": "decoy/repo"}])
    (document,), _ = read_all(path, fields=FieldMap(text="code", repo="project", path="file"))
    assert (document.repo, document.path, document.lang, document.licenses) == (
        "go/hello", "main.go", "go", ("BSD-3-Clause",))


def test_string_license_expressions_are_split(tmp_path):
    path = write_lines(tmp_path / "x.jsonl", [{"content": "x\n", "licenses": "MIT OR Apache-2.0"}])
    (document,), _ = read_all(path)
    assert document.licenses == ("MIT", "Apache-2.0")


def test_truncated_gzip_raises_after_the_intact_lines(tmp_path):
    generator = random.Random(3)
    lines = [{"content": "".join(generator.choice("abcdefghijklmnop \n") for _ in range(400)),
              "path": f"{index}.py"} for index in range(400)]
    path = write_lines(tmp_path / "cut.jsonl.gz", lines)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])

    seen = []
    with pytest.raises(CorpusError, match=r"cut\.jsonl\.gz: compressed stream is truncated"):
        for document in iter_documents(path, stats=collections.Counter()):
            seen.append(document.path)
    assert 0 < len(seen) < 400
    assert seen == [f"{index}.py" for index in range(len(seen))]


def test_gzip_suffix_on_a_plain_file_names_the_file(tmp_path):
    path = tmp_path / "liar.jsonl.gz"
    path.write_bytes(b'{"content": "x"}\n')
    with pytest.raises(CorpusError, match=r"liar\.jsonl\.gz"):
        read_all(path)


def test_empty_file_yields_nothing(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert read_all(tmp_path / "empty.jsonl") == ([], collections.Counter())
