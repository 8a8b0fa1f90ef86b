"""The Stack-format shard writer: rollover, atomic shards, refusal to mix outputs, verify()."""

from __future__ import annotations

import collections

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from indexer.corpus import CorpusError, iter_documents, list_shards
from indexer.corpus.stack_parquet import (STACK_SCHEMA, StackShardWriter, shard_paths,
                                          verify)
from indexer.document import Document


def make_documents(count: int) -> list[Document]:
    return [Document.create(repo=f"owner/repo{index % 3}", path=f"pkg/m{index}.py",
                            content=f"value_{index} = {index}\n" * (index + 1),
                            licenses=("MIT", "Apache-2.0") if index % 2 else (),
                            lang="python", stars=index)
            for index in range(count)]


def test_documents_round_trip_through_shards(tmp_path):
    documents = make_documents(7)
    with StackShardWriter(tmp_path / "out") as writer:
        for document in documents:
            writer.write(document)

    shards = list_shards([tmp_path / "out"])
    assert [shard.name for shard in shards] == ["data-00000.parquet"]
    read_back = [doc for shard in shards
                 for doc in iter_documents(shard, stats=collections.Counter())]
    assert read_back == documents
    assert pq.read_schema(shards[0]).names == STACK_SCHEMA.names


def test_shards_roll_over_at_shard_bytes(tmp_path):
    documents = make_documents(10)
    with StackShardWriter(tmp_path / "out", shard_bytes=200) as writer:
        for document in documents:
            writer.write(document)

    shards = shard_paths(tmp_path / "out")
    assert len(shards) == len(writer.finished_shards) > 2
    summaries = [verify(shard) for shard in shards]
    assert sum(summary.rows for summary in summaries) == 10
    assert sum(summary.content_bytes for summary in summaries) == writer.bytes_written
    # Every shard but the last reached the limit; none holds more than the limit plus one doc.
    largest_document = max(document.size for document in documents)
    assert all(200 <= summary.content_bytes < 200 + largest_document
               for summary in summaries[:-1])
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        shard.name for shard in shards]  # no temporary files left


def test_an_error_discards_the_unfinished_shard_and_propagates(tmp_path):
    documents = make_documents(6)
    with pytest.raises(KeyboardInterrupt):
        with StackShardWriter(tmp_path / "out", shard_bytes=120) as writer:
            for document in documents[:5]:
                writer.write(document)
            raise KeyboardInterrupt

    finished = shard_paths(tmp_path / "out")
    assert finished == writer.finished_shards and finished
    assert all(verify(shard).rows >= 1 for shard in finished)
    # no half-written shard; the marker says the finished ones are not a whole corpus
    assert [path.name for path in (tmp_path / "out").iterdir() if path.name.startswith(".")] == [
        ".ingest-incomplete"]
    with pytest.raises(CorpusError, match="did not finish"):
        list_shards([tmp_path / "out"])


def test_a_shard_that_cannot_be_finished_is_discarded_and_a_rerun_starts_over(tmp_path):
    """An error while the last shard is finished (here a path no parquet string can hold) leaves
    no temporary file, and the same writer run again clears what the failed run left."""
    bad = Document.create(repo="owner/repo", path="bad\udcff.py", content="x = 1\n", lang="python")
    with pytest.raises(UnicodeEncodeError):
        with StackShardWriter(tmp_path / "out", shard_bytes=200) as writer:
            for document in make_documents(6) + [bad]:
                writer.write(document)
    assert writer.finished_shards
    assert not [path for path in (tmp_path / "out").iterdir() if path.name.endswith(".tmp")]

    with StackShardWriter(tmp_path / "out", shard_bytes=200) as writer:
        for document in make_documents(6):
            writer.write(document)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        shard.name for shard in writer.finished_shards]
    assert [d for shard in list_shards([tmp_path / "out"])
            for d in iter_documents(shard, stats=collections.Counter())] == make_documents(6)


def test_refuses_a_non_empty_output_directory(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "data-00000.parquet").write_bytes(b"old")
    with pytest.raises(CorpusError, match=r"out: output directory is not empty"):
        with StackShardWriter(tmp_path / "out"):
            pass


def test_no_documents_means_no_shards(tmp_path):
    with StackShardWriter(tmp_path / "out") as writer:
        pass
    assert writer.finished_shards == [] and list((tmp_path / "out").iterdir()) == []


def test_verify_rejects_a_foreign_schema(tmp_path):
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"content": ["x"], "repo": ["r"]}), path)
    with pytest.raises(CorpusError, match=r"other\.parquet: schema differs"):
        verify(path)


def test_verify_catches_content_that_does_not_match_its_hexsha(tmp_path):
    (document,) = make_documents(1)
    row = {"hexsha": "0" * 40, "size": document.size, "ext": "py", "lang": "python",
           "max_stars_repo_path": document.path, "max_stars_repo_name": document.repo,
           "max_stars_repo_licenses": ["MIT"], "max_stars_count": 0,
           "content": document.content, "id": document.id}
    path = tmp_path / "data-00000.parquet"
    pq.write_table(pa.Table.from_pylist([row], schema=STACK_SCHEMA), path)
    with pytest.raises(CorpusError, match=r"row 1 \(owner/repo0/pkg/m0\.py\) size or hexsha"):
        verify(path)


def test_verify_rejects_a_truncated_shard(tmp_path):
    with StackShardWriter(tmp_path / "out") as writer:
        for document in make_documents(3):
            writer.write(document)
    (shard,) = writer.finished_shards
    shard.write_bytes(shard.read_bytes()[:-40])
    with pytest.raises(CorpusError, match="data-00000.parquet: not a readable parquet shard"):
        verify(shard)
