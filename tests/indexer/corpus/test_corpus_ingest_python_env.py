"""Ingesting the running interpreter's stdlib and installed packages under a byte cap."""

from __future__ import annotations

import collections
import importlib.metadata
from pathlib import Path

import pytest

from indexer.corpus import ingest_python_env, iter_documents, list_shards
from indexer.corpus.ingest import CandidateFile, RepositoryFiles, _fair_share_within_cap
from indexer.corpus.stack_parquet import verify

# A fair share of ~40 KB per repository (the stdlib and each installed distribution), so the
# assertions below hold however many packages the environment happens to have.
CAP = 40_000 * (1 + len(list(importlib.metadata.distributions())))


@pytest.fixture(scope="module")
def two_ingests(tmp_path_factory) -> tuple[Path, Path, collections.Counter]:
    first = tmp_path_factory.mktemp("env") / "first"
    second = tmp_path_factory.mktemp("env") / "second"
    stats = ingest_python_env(first, max_total_bytes=CAP, shard_bytes=150_000)
    ingest_python_env(second, max_total_bytes=CAP, shard_bytes=150_000)
    return first, second, stats


def test_same_environment_gives_identical_shards(two_ingests):
    first, second, _ = two_ingests
    first_shards, second_shards = list_shards([first]), list_shards([second])
    assert [path.name for path in first_shards] == [path.name for path in second_shards]
    assert len(first_shards) > 1
    for one, other in zip(first_shards, second_shards):
        assert one.read_bytes() == other.read_bytes()


def test_stdlib_and_packages_are_included_within_the_cap(two_ingests):
    first, _, stats = two_ingests
    documents = [document for shard in list_shards([first])
                 for document in iter_documents(shard, stats=collections.Counter())]
    by_repo = collections.defaultdict(list)
    for document in documents:
        by_repo[document.repo].append(document)

    cpython = by_repo["python/cpython"]
    assert cpython and all(doc.licenses == ("PSF-2.0",) for doc in cpython)
    assert all(doc.path.startswith(("Lib/", "Include/")) for doc in cpython)
    assert not any("site-packages" in doc.path for doc in cpython)
    assert "pyarrow" in by_repo and "pytest" in by_repo  # installed in every StarScope env
    assert by_repo["pytest"][0].licenses == ("MIT",)
    assert all(doc.lang and doc.stars == 0 for doc in documents)
    assert sum(doc.size for doc in documents) == stats["bytes_written"] <= CAP
    assert stats["docs_written"] == len(documents)
    assert stats["repos_written"] == len(by_repo) >= 10  # the cap is shared, not eaten by one
    assert stats["skipped_over_cap"] > 0
    assert all(verify(shard).rows > 0 for shard in list_shards([first]))


def candidate(root: Path, name: str, size: int) -> CandidateFile:
    path = root / name
    path.write_text("x" * (size - 1) + "\n")
    return CandidateFile(path=name, location=path, lang="python", size=size)


def test_fair_share_splits_the_cap_between_repositories(tmp_path):
    big = RepositoryFiles(repo="big", licenses=("MIT",),
                          files=[candidate(tmp_path, f"big{index}.py", 300) for index in range(20)])
    small = RepositoryFiles(repo="small", licenses=("MIT",),
                            files=[candidate(tmp_path, f"small{index}.py", 100)
                                   for index in range(3)])
    stats = collections.Counter()

    chosen = list(_fair_share_within_cap([big, small], max_total_bytes=1000,
                                          max_file_bytes=10_000, stats=stats))

    assert collections.Counter(doc.repo for doc in chosen) == {"big": 2, "small": 3}
    assert sum(doc.size for doc in chosen) == 900
    assert stats["skipped_over_cap"] == 18
    again = list(_fair_share_within_cap([big, small], max_total_bytes=1000,
                                         max_file_bytes=10_000, stats=collections.Counter()))
    assert [doc.path for doc in again] == [doc.path for doc in chosen]


def test_fair_share_skips_files_over_the_limits_without_reading_them(tmp_path):
    files = [candidate(tmp_path, "huge.py", 5000), candidate(tmp_path, "a.py", 400),
             candidate(tmp_path, "b.py", 700)]  # whichever comes first leaves no room for the other
    (tmp_path / "huge.py").unlink()  # reading it would count skipped_unreadable
    repository = RepositoryFiles(repo="r", licenses=("MIT",), files=files)
    stats = collections.Counter()

    chosen = list(_fair_share_within_cap([repository], max_total_bytes=1000,
                                         max_file_bytes=1000, stats=stats))

    assert len(chosen) == 1 and chosen[0].path in {"a.py", "b.py"}
    assert stats == {"skipped_too_large": 1, "skipped_over_cap": 1}
