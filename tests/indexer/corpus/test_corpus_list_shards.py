"""Finding corpus files: explicit files, recursive directories, deterministic order."""

from __future__ import annotations

import collections

import pytest

from indexer.corpus import SUPPORTED_SUFFIXES, CorpusError, iter_documents, list_shards


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_directories_are_walked_recursively_and_sorted(tmp_path):
    names = ["b/2.parquet", "a/1.jsonl.gz", "a/deep/3.ndjson", "c.json.gz", "z.jsonl"]
    for name in reversed(names):
        touch(tmp_path / "corpus" / name)
    touch(tmp_path / "corpus" / "README.md")
    touch(tmp_path / "corpus" / ".data-00000.parquet.tmp")  # a writer's unfinished shard
    touch(tmp_path / "corpus" / ".cache" / "x.parquet")

    found = list_shards([tmp_path / "corpus"])

    assert [path.relative_to(tmp_path / "corpus").as_posix() for path in found] == sorted(names)


def test_files_are_taken_as_given_and_duplicates_collapse(tmp_path):
    shard = touch(tmp_path / "one.PARQUET")
    assert list_shards([str(shard), shard, tmp_path]) == [shard]


def test_unsupported_explicit_file_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match=r"notes\.txt: unsupported file type"):
        list_shards([touch(tmp_path / "notes.txt")])


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match=r"nowhere: no such file or directory"):
        list_shards([tmp_path / "nowhere"])


def test_nothing_found_is_an_error(tmp_path):
    touch(tmp_path / "only.txt")
    with pytest.raises(CorpusError, match="no corpus files found"):
        list_shards([tmp_path])


def test_iter_documents_refuses_unsupported_suffix(tmp_path):
    with pytest.raises(CorpusError, match=r"x\.csv: unsupported"):
        iter_documents(touch(tmp_path / "x.csv"), stats=collections.Counter())


def test_supported_suffixes_cover_parquet_and_json_lines():
    assert {".parquet", ".jsonl", ".jsonl.gz", ".json.gz", ".ndjson"} <= set(SUPPORTED_SUFFIXES)
