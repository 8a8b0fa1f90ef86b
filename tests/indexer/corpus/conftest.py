"""Tiny real corpus files in the layouts of The Stack and StarCoderData."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

STACK_V1_SCHEMA = pa.schema([
    ("hexsha", pa.string()), ("size", pa.int64()), ("ext", pa.string()), ("lang", pa.string()),
    ("max_stars_repo_path", pa.string()), ("max_stars_repo_name", pa.string()),
    ("max_stars_repo_head_hexsha", pa.string()),
    ("max_stars_repo_licenses", pa.list_(pa.string())), ("max_stars_count", pa.int64()),
    ("max_stars_repo_stars_event_min_datetime", pa.string()),
    ("max_stars_repo_stars_event_max_datetime", pa.string()),
    ("max_issues_repo_path", pa.string()), ("max_issues_repo_name", pa.string()),
    ("max_issues_repo_head_hexsha", pa.string()),
    ("max_issues_repo_licenses", pa.list_(pa.string())), ("max_issues_count", pa.int64()),
    ("max_issues_repo_issues_event_min_datetime", pa.string()),
    ("max_issues_repo_issues_event_max_datetime", pa.string()),
    ("max_forks_repo_path", pa.string()), ("max_forks_repo_name", pa.string()),
    ("max_forks_repo_head_hexsha", pa.string()),
    ("max_forks_repo_licenses", pa.list_(pa.string())), ("max_forks_count", pa.int64()),
    ("max_forks_repo_forks_event_min_datetime", pa.string()),
    ("max_forks_repo_forks_event_max_datetime", pa.string()),
    ("content", pa.string()), ("avg_line_length", pa.float64()),
    ("max_line_length", pa.int64()), ("alphanum_fraction", pa.float64()),
])
"""The column layout of The Stack v1 (bigcode/the-stack) parquet shards."""

STARCODERDATA_SCHEMA = pa.schema([
    ("max_stars_repo_path", pa.string()), ("max_stars_repo_name", pa.string()),
    ("max_stars_count", pa.int64()), ("id", pa.string()), ("content", pa.string()),
])
"""The column layout of bigcode/starcoderdata parquet shards."""


def git_blob_sha(content: str) -> str:
    data = content.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def stack_v1_row(*, content, repo, path, licenses=("MIT",), stars=None, lang="Python") -> dict:
    """One row with every Stack v1 column filled the way the dataset fills it."""
    sha = git_blob_sha(content) if content is not None else None
    lines = (content or "").split("\n")
    return {
        "hexsha": sha, "size": len((content or "").encode()), "ext": path.rsplit(".", 1)[-1],
        "lang": lang, "max_stars_repo_path": path, "max_stars_repo_name": repo,
        "max_stars_repo_head_hexsha": "0" * 40, "max_stars_repo_licenses": list(licenses),
        "max_stars_count": stars, "max_stars_repo_stars_event_min_datetime": None,
        "max_stars_repo_stars_event_max_datetime": None,
        "max_issues_repo_path": path, "max_issues_repo_name": "issues/" + repo,
        "max_issues_repo_head_hexsha": "1" * 40, "max_issues_repo_licenses": ["GPL-3.0-only"],
        "max_issues_count": 3, "max_issues_repo_issues_event_min_datetime": None,
        "max_issues_repo_issues_event_max_datetime": None,
        "max_forks_repo_path": path, "max_forks_repo_name": "forks/" + repo,
        "max_forks_repo_head_hexsha": "2" * 40, "max_forks_repo_licenses": ["GPL-3.0-only"],
        "max_forks_count": 1, "max_forks_repo_forks_event_min_datetime": None,
        "max_forks_repo_forks_event_max_datetime": None,
        "content": content, "avg_line_length": sum(map(len, lines)) / len(lines),
        "max_line_length": max(map(len, lines)), "alphanum_fraction": 0.5,
    }


def write_parquet(path: Path, rows: list[dict], schema: pa.Schema, *,
                  row_group_size: int | None = None) -> Path:
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


@pytest.fixture
def stack_v1_shard(tmp_path: Path) -> Path:
    """A Stack v1 shard of four rows: two files, a null-star file and an empty one."""
    rows = [
        stack_v1_row(content="def add(a, b):\n    return a + b\n", repo="octo/calc",
                     path="calc/add.py", licenses=["MIT"], stars=12),
        stack_v1_row(content="int main(void) { return 0; }\n", repo="octo/cmain",
                     path="src/main.c", licenses=["Apache-2.0", "mit"], stars=None, lang="C"),
        stack_v1_row(content="", repo="octo/empty", path="empty.py"),
        stack_v1_row(content=None, repo="octo/null", path="null.py"),
    ]
    return write_parquet(tmp_path / "the-stack-00000.parquet", rows, STACK_V1_SCHEMA)


@pytest.fixture
def starcoderdata_shard(tmp_path: Path) -> Path:
    rows = [
        {"max_stars_repo_path": "pkg/util.py", "max_stars_repo_name": "alice/pkg",
         "max_stars_count": 5, "id": "0", "content": "<gh_stars>1-10\nimport os\n"},
        {"max_stars_repo_path": "web/app.ts", "max_stars_repo_name": "bob/web",
         "max_stars_count": None, "id": "1", "content": "export const x = 1;\n"},
        {"max_stars_repo_path": "notes.unknownext", "max_stars_repo_name": "bob/web",
         "max_stars_count": 0, "id": "2", "content": "plain words\n"},
    ]
    return write_parquet(tmp_path / "train-00000-of-00001.parquet", rows, STARCODERDATA_SCHEMA)


@pytest.fixture
def builders() -> SimpleNamespace:
    """The builders above, for tests that need their own rows (tests never import conftest)."""
    return SimpleNamespace(STACK_V1_SCHEMA=STACK_V1_SCHEMA,
                           STARCODERDATA_SCHEMA=STARCODERDATA_SCHEMA, git_blob_sha=git_blob_sha,
                           stack_v1_row=stack_v1_row, write_parquet=write_parquet)
