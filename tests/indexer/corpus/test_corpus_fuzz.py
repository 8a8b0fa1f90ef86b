"""Every corpus reader against malformed input (hypothesis): each file either yields documents
with text content or fails with a CorpusError naming it; nothing else escapes, nothing hangs."""

from __future__ import annotations

import collections
import gzip
import io
import json

import pyarrow as pa
import pytest
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.corpus import CorpusError, iter_documents
from indexer.corpus.ingest import ingest_trees

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)
rows = st.dictionaries(st.sampled_from(["content", "text", "repo", "max_stars_repo_name", "path", "licenses",
                                        "lang", "stars", "max_stars_count", "id"]), json_values, max_size=6)
lines = st.lists(st.one_of(rows.map(lambda r: json.dumps(r).encode()), st.binary(max_size=40),
                           st.just(b'{"content": "def f():\\n    return 1\\n", "repo": "a/b", "path": "f.py"}')),
                 max_size=12)


def read(path) -> list:
    """The documents, or the CorpusError; any other exception fails the test."""
    try:
        docs = list(iter_documents(path, stats=collections.Counter()))
    except CorpusError as e:
        assert str(path) in str(e)
        return []
    assert all(isinstance(d.content, str) and isinstance(d.repo, str) for d in docs)
    return docs


@pytest.mark.slow
@SETTINGS
@given(lines=lines, gz=st.booleans(), cut=st.integers(0, 400))
def test_jsonl_lines_of_any_shape(tmp_path_factory, lines, gz, cut):
    data = b"\n".join(lines) + b"\n"
    path = tmp_path_factory.mktemp("j") / ("c.jsonl.gz" if gz else "c.jsonl")
    if gz:
        blob = gzip.compress(data)
        path.write_bytes(blob[:max(len(blob) - cut, 0)] if cut % 3 == 0 else blob)  # sometimes truncated
    else:
        path.write_bytes(data)
    read(path)


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_files_that_are_not_what_their_name_says(tmp_path_factory, raw):
    base = tmp_path_factory.mktemp("raw")
    for name in ("c.parquet", "c.jsonl.gz", "c.jsonl"):
        (base / name).write_bytes(raw)
        read(base / name)


@SETTINGS
@given(columns=st.dictionaries(st.sampled_from(["content", "max_stars_repo_name", "max_stars_repo_path", "licenses",
                                                 "lang", "max_stars_count", "size", "other"]),
                               st.sampled_from(["str", "int", "float", "list", "null", "binary"]), min_size=1, max_size=6),
       n=st.integers(0, 5))
def test_parquet_with_columns_of_the_wrong_type(tmp_path_factory, columns, n):
    make = {"str": lambda i: f"x{i}\n" * 3, "int": lambda i: i, "float": lambda i: i / 3, "list": lambda i: [f"l{i}"],
            "null": lambda i: None, "binary": lambda i: bytes([i % 256]) * 5}
    table = pa.table({name: [make[kind](i) for i in range(n)] for name, kind in columns.items()})
    path = tmp_path_factory.mktemp("p") / "c.parquet"
    buf = io.BytesIO()
    pq.write_table(table, buf)
    path.write_bytes(buf.getvalue())
    read(path)


@SETTINGS
@given(files=st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
                                     min_size=1, max_size=12).filter(lambda s: s not in (".", "..")),
                             st.binary(max_size=200), max_size=6))
def test_source_trees_with_odd_names_and_bytes(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("tree") / "repo"
    root.mkdir()
    for name, data in files.items():
        try:
            (root / name).write_bytes(data)
        except OSError:  # a name this filesystem refuses is not the reader's problem
            continue
    out = tmp_path_factory.mktemp("out")
    ingest_trees([root], out)
    for shard in sorted(out.glob("*.parquet")):
        read(shard)
