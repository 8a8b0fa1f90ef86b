"""Reading Stack-like parquet shards: real schemas, streaming, overrides and broken files."""

from __future__ import annotations

import collections
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from indexer.corpus import CorpusError, FieldMap, iter_documents
from indexer.document import source_id


def read_all(path, **kwargs):
    stats = collections.Counter()
    return list(iter_documents(path, stats=stats, **kwargs)), stats


def test_stack_v1_columns_are_detected(stack_v1_shard, builders):
    documents, stats = read_all(stack_v1_shard)

    assert [(doc.repo, doc.path) for doc in documents] == [("octo/calc", "calc/add.py"),
                                                           ("octo/cmain", "src/main.c")]
    calc, cmain = documents
    assert calc.licenses == ("MIT",)
    assert cmain.licenses == ("Apache-2.0", "MIT")  # "mit" normalized, order kept
    assert (calc.lang, cmain.lang) == ("python", "c")  # The Stack's "Python" lowercased
    assert (calc.stars, cmain.stars) == (12, 0)  # a null max_stars_count is 0 stars
    assert calc.id == builders.git_blob_sha(calc.content)  # The Stack's hexsha column
    assert calc.sha == builders.git_blob_sha(calc.content)
    assert stats["docs_read"] == 2
    assert stats["skipped_empty"] == 2  # one empty string, one null
    assert stats["bytes_read"] == sum(len(doc.content.encode()) for doc in documents)


def test_starcoderdata_columns_without_licenses_or_language(starcoderdata_shard):
    documents, stats = read_all(starcoderdata_shard)

    assert [doc.id for doc in documents] == ["0", "1", "2"]
    assert all(doc.licenses == ("unknown",) for doc in documents)
    assert [doc.lang for doc in documents] == ["python", "typescript", ""]  # from the extension
    assert [doc.stars for doc in documents] == [5, 0, 0]
    assert documents[0].content.startswith("<gh_stars>")  # content is never rewritten
    assert stats["docs_read"] == 3


def test_reads_only_needed_columns_one_batch_at_a_time(tmp_path, monkeypatch, builders):
    rows = [builders.stack_v1_row(content=f"x = {index}\n", repo="o/r", path=f"m{index}.py")
            for index in range(10)]
    shard = builders.write_parquet(tmp_path / "s.parquet", rows, builders.STACK_V1_SCHEMA,
                                   row_group_size=4)
    calls, batches_pulled = [], []
    original = pq.ParquetFile.iter_batches

    def spying_iter_batches(self, *args, **kwargs):
        calls.append(kwargs)
        for batch in original(self, *args, **kwargs):
            batches_pulled.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spying_iter_batches)
    stream = iter_documents(shard, stats=collections.Counter(), batch_rows=3)
    first = next(stream)

    assert first.path == "m0.py"
    assert batches_pulled == [3]  # lazy: nothing beyond the first batch was decoded
    assert calls[0]["batch_size"] == 3
    assert set(calls[0]["columns"]) == {"content", "max_stars_repo_name", "max_stars_repo_path",
                                        "max_stars_repo_licenses", "lang", "max_stars_count",
                                        "hexsha"}
    assert [doc.path for doc in stream] == [f"m{index}.py" for index in range(1, 10)]
    assert sum(batches_pulled) == 10


def test_field_map_overrides_auto_detection(tmp_path, builders):
    schema = pa.schema([("code", pa.string()), ("repository", pa.string()),
                        ("filename", pa.string()), ("spdx", pa.string()),
                        ("max_stars_repo_name", pa.string()), ("max_stars_repo_path", pa.string())])
    rows = [{"code": "fn main() {}\n", "repository": "rust/hello", "filename": "src/main.rs",
             "spdx": "MIT OR Apache-2.0", "max_stars_repo_name": "decoy/repo",
             "max_stars_repo_path": "decoy.py"}]
    shard = builders.write_parquet(tmp_path / "custom.parquet", rows, schema)

    (document,), _ = read_all(shard, fields=FieldMap(text="code", repo="repository",
                                                     path="filename", licenses="spdx"))

    assert (document.repo, document.path, document.lang) == ("rust/hello", "src/main.rs", "rust")
    assert document.licenses == ("MIT", "Apache-2.0")
    assert document.id == source_id("rust/hello", "src/main.rs")


def test_fallback_repo_columns_are_used(tmp_path, builders):
    schema = pa.schema([("content", pa.string()), ("repo_name", pa.string()),
                        ("path", pa.string()), ("license", pa.string()), ("language", pa.string()),
                        ("stars", pa.float64())])
    rows = [{"content": "SELECT 1;\n", "repo_name": "db/q", "path": "q.sql",
             "license": "apache 2.0", "language": "SQL", "stars": 7.0}]
    (document,), _ = read_all(builders.write_parquet(tmp_path / "gh.parquet", rows, schema))
    assert (document.repo, document.path, document.licenses, document.lang, document.stars) == (
        "db/q", "q.sql", ("Apache-2.0",), "sql", 7)


def test_missing_text_column_names_the_file_and_its_columns(starcoderdata_shard):
    with pytest.raises(CorpusError) as error:
        read_all(starcoderdata_shard, fields=FieldMap(text="text"))
    message = str(error.value)
    assert str(starcoderdata_shard) in message
    assert "'text'" in message and "max_stars_repo_name" in message


def test_missing_repo_or_path_column_is_an_error(tmp_path, builders):
    shard = builders.write_parquet(tmp_path / "bare.parquet", [{"content": "x\n", "size": 2}],
                          pa.schema([("content", pa.string()), ("size", pa.int64())]))
    with pytest.raises(CorpusError, match=r"bare\.parquet: no repo or path column.*content, size"):
        read_all(shard)


def test_override_naming_an_absent_column_is_an_error(stack_v1_shard):
    with pytest.raises(CorpusError, match="FieldMap.stars='stargazers' is not a column"):
        read_all(stack_v1_shard, fields=FieldMap(stars="stargazers"))


def test_empty_shard_yields_nothing(tmp_path, builders):
    shard = builders.write_parquet(tmp_path / "empty.parquet", [],
                                   builders.STARCODERDATA_SCHEMA)
    documents, stats = read_all(shard)
    assert documents == [] and stats["docs_read"] == 0


@pytest.mark.parametrize("damage", ["zero_bytes", "not_parquet", "truncated"])
def test_unreadable_parquet_names_the_file(stack_v1_shard, damage):
    data = stack_v1_shard.read_bytes()
    broken = {"zero_bytes": b"", "not_parquet": b"id,content\n1,x\n" * 20,
              "truncated": data[: len(data) // 2]}[damage]
    stack_v1_shard.write_bytes(broken)
    with pytest.raises(CorpusError, match=f"{stack_v1_shard.name}: not a readable parquet"):
        read_all(stack_v1_shard)


def test_corruption_mid_file_raises_after_the_good_batches(tmp_path, builders):
    generator = random.Random(7)
    rows = [builders.stack_v1_row(content="".join(generator.choice("abcdefgh \n")
                                                  for _ in range(3000)),
                         repo="o/r", path=f"f{index}.py") for index in range(12)]
    shard = builders.write_parquet(tmp_path / "rot.parquet", rows, builders.STACK_V1_SCHEMA,
                                   row_group_size=4)
    chunk = pq.ParquetFile(shard).metadata.row_group(2).column(
        builders.STACK_V1_SCHEMA.get_field_index("content"))
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(shard.read_bytes())
    data[start:start + chunk.total_compressed_size] = b"\xff" * chunk.total_compressed_size
    shard.write_bytes(bytes(data))

    seen = []
    with pytest.raises(CorpusError, match=r"rot\.parquet: corrupt or truncated parquet after 8"):
        for document in iter_documents(shard, stats=collections.Counter(), batch_rows=4):
            seen.append(document.path)
    assert seen == [f"f{index}.py" for index in range(8)]


def test_invalid_utf8_cell_costs_only_its_row(tmp_path):
    raw = pa.array([b"ok = 1\n", b"\xff\xfe broken\n", b"fine = 2\n"], pa.binary())
    content = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())  # skips validation
    table = pa.table({"content": content, "max_stars_repo_name": ["o/r"] * 3,
                      "max_stars_repo_path": ["a.py", "b.py", "c.py"]})
    pq.write_table(table, tmp_path / "bytes.parquet")

    documents, stats = read_all(tmp_path / "bytes.parquet")
    assert [doc.path for doc in documents] == ["a.py", "c.py"]
    assert stats["skipped_non_utf8"] == 1


def test_null_repo_falls_back_to_the_file_name(tmp_path, builders):
    rows = [{"max_stars_repo_path": None, "max_stars_repo_name": None, "max_stars_count": 1,
             "id": None, "content": "a = 1\n"}]
    shard = builders.write_parquet(tmp_path / "nulls.parquet", rows,
                                   builders.STARCODERDATA_SCHEMA)
    (document,), stats = read_all(shard)
    assert (document.repo, document.path) == ("nulls.parquet", "row-1")
    assert stats["defaulted_source"] == 1


def test_batch_rows_must_be_positive(stack_v1_shard):
    with pytest.raises(ValueError, match="batch_rows"):
        read_all(stack_v1_shard, batch_rows=0)
