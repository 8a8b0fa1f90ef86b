import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.stores import open_index
from indexer.manifest import read_manifest
from indexer.query import parse_query
from indexer.shard_log import ShardLog
from indexer.store import Page
from membership.chunks import normalize
from membership.sequences import open_spans, read_spans_meta

from ..backends import BACKENDS, build_config, cli_store_args
from .conftest import real_documents

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_jsonl_shards(root: Path, docs, per_shard: int) -> list:
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"content": d.content, "repo": d.repo, "path": d.path, "licenses": list(d.licenses),
             "lang": d.lang, "stars": d.stars} for d in docs]
    # every 10th document appears again in a later shard: an exact duplicate across shards
    rows += [dict(r, repo="mirror/" + r["repo"].split("/")[1]) for r in rows[::10]]
    for i in range(0, len(rows), per_shard):
        with open(root / f"part-{i // per_shard:04d}.jsonl", "w") as f:
            for r in rows[i:i + per_shard]:
                f.write(json.dumps(r) + "\n")
    return rows


def snapshot(index_dir: Path, rows) -> dict:
    """Everything a user could observe: counts, every stored record, and search results."""
    store = open_index(index_dir)
    shas = sorted({d.sha for d in real_documents()})
    records = {r.sha: sorted((s.repo, s.path) for s in r.sources)
               for r in store.docs_with_terms("sha", shas, limit=len(shas) + 1)}
    # Ties in score may come back in another order after a resume (segments differ), so compare
    # each query's complete result set and total, not the order of equal-scored hits.
    searches = {}
    for q in ["def", "import os", "self parser", '"return None"']:
        first = store.search(parse_query(q), page=Page(1, 100))
        shas = {h.document.sha for h in first.hits}
        for n in range(2, first.pages + 1):
            shas |= {h.document.sha for h in store.search(parse_query(q), page=Page(n, 100)).hits}
        searches[q] = (first.total, sorted(shas))
    stats = store.stats()
    counts = read_manifest(index_dir)["counts"]
    bloom = hashlib.sha256((index_dir / "membership" / "bloom.bin").read_bytes()).hexdigest()
    spans = hashlib.sha256((index_dir / "membership" / "spans.chunksa").read_bytes()).hexdigest()
    return {"records": records, "searches": searches, "documents": stats.documents,
            "sources": stats.sources, "docs_read": counts["docs_read"], "bytes": counts["bytes_read"],
            "bloom": bloom, "spans": spans}  # the same bits


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    rows = write_jsonl_shards(root / "shards", real_documents(), per_shard=15)
    reference = tmp_path_factory.mktemp("reference")
    build_index([root / "shards"], reference, progress=False)
    return root / "shards", rows, snapshot(reference, rows)


def test_build_counts_and_dedups(corpus):
    shards, rows, ref = corpus
    assert ref["docs_read"] == len(rows)
    assert ref["sources"] == len(rows)
    assert ref["documents"] == len({r["content"] for r in rows})
    assert all(ref["searches"].values())


def test_the_span_index_holds_every_stored_content_with_its_sources_ranked_by_stars(corpus, tmp_path):
    shards, rows, _ = corpus
    build_index([shards], tmp_path, progress=False)
    sa = open_spans(tmp_path)
    store = open_index(tmp_path)
    shas = sa.shas(range(sa.docs))
    records = {r.sha: r for r in store.docs_with_terms("sha", shas, limit=len(shas) + 1)}
    assert sorted(shas) == sorted(records) and sa.docs == store.stats().documents
    assert sa.doc_sources.tolist() == [len(records[s].sources) for s in shas]
    assert sum(sa.doc_sources.tolist()) == len(rows)  # the cross-shard duplicates' sources too
    licenses = Counter(json.dumps(list(s.licenses)) for r in records.values() for s in r.sources)
    assert sa.doc_label_counts(range(sa.docs)) == dict(licenses)
    ranked = [records[shas[d]].primary for d in sa.by_rank.tolist()]
    assert ranked == sorted(ranked, key=lambda p: (-p.stars, p.repo, p.path))
    for d in (0, sa.docs // 2, sa.docs - 1):  # each chunk's raw offset, the text unread
        content = records[shas[d]].content
        start, end = int(sa.doc_starts[d]), int(sa.doc_starts[d + 1]) - 1
        norm = normalize(content)
        assert sa.offsets[start:end].tolist() == norm.raw_starts[:50 * (end - start):50].tolist()
        assert int(sa.offsets[end]) == len(content)


def test_a_rerun_upgrades_an_index_built_before_the_sequence_log(corpus, tmp_path):
    """Shards indexed without a sequence log (an older StarScope) have no span index; rerunning
    the same command reads them again, stores nothing, and builds the span index a fresh build
    would have."""
    shards, rows, ref = corpus
    build_index([shards], tmp_path, progress=False)
    membership = tmp_path / "membership"
    for old in (membership / "sequences", membership / "spans.chunksa", membership / "spans.json"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    store_before = {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("*") if p.is_file()}
    build_index(shards.glob("part-000[0-2].jsonl"), tmp_path, progress=False)  # not every shard
    assert read_spans_meta(tmp_path)["missing_shards"] > 0 and not (membership / "spans.chunksa").exists()
    build_index([shards], tmp_path, progress=False)
    assert snapshot(tmp_path, rows) == ref
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("*") if p.is_file()} == store_before


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_rerun_skips_finished_shards_and_changes_nothing(corpus, tmp_path, backend, request):
    shards, rows, ref = corpus
    config = build_config(backend, request)
    build_index([shards], tmp_path, config=config, progress=False)
    before = {p.name: p.read_text() for p in (tmp_path / "shards").iterdir()}
    build_index([shards], tmp_path, config=config, progress=False)
    assert {p.name: p.read_text() for p in (tmp_path / "shards").iterdir()} == before
    assert snapshot(tmp_path, rows) == ref


class Crash(Exception):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fail_after_docs", [1, 17, 40, 95])
def test_a_build_that_dies_mid_shard_resumes_exactly(corpus, tmp_path, monkeypatch, fail_after_docs,
                                                     backend, request):
    """Fail inside a shard after some batches were committed, then rerun."""
    import indexer.build as build

    shards, rows, ref = corpus
    real_iter = build.iter_documents
    seen = {"n": 0}

    def failing_iter(*args, **kwargs):
        for doc in real_iter(*args, **kwargs):
            seen["n"] += 1
            if seen["n"] == fail_after_docs:
                raise Crash()
            yield doc

    monkeypatch.setattr(build, "iter_documents", failing_iter)
    config = build_config(backend, request, batch_docs=4, commit_bytes=1)  # a commit after every batch
    with pytest.raises(Crash):
        build_index([shards], tmp_path, config=config, progress=False)
    monkeypatch.setattr(build, "iter_documents", real_iter)
    build_index([shards], tmp_path, config=config, progress=False)
    assert snapshot(tmp_path, rows) == ref


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_build_that_dies_between_commit_and_marker_resumes_exactly(corpus, tmp_path, monkeypatch,
                                                                     backend, request):
    shards, rows, ref = corpus
    config = build_config(backend, request)
    real_mark = ShardLog.mark_done
    calls = {"n": 0}

    def failing_mark(self, key, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash()
        return real_mark(self, key, **kw)

    monkeypatch.setattr(ShardLog, "mark_done", failing_mark)
    with pytest.raises(Crash):
        build_index([shards], tmp_path, config=config, progress=False)
    monkeypatch.setattr(ShardLog, "mark_done", real_mark)
    build_index([shards], tmp_path, config=config, progress=False)
    assert snapshot(tmp_path, rows) == ref


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5])
def test_a_build_killed_with_sigkill_resumes_exactly(corpus, tmp_path, delay, backend, request):
    shards, rows, ref = corpus
    cmd = [sys.executable, "-m", "indexer", "index", str(shards), "--out", str(tmp_path), "--no-progress",
           *cli_store_args(build_config(backend, request))]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert snapshot(tmp_path, rows) == ref


@pytest.mark.slow
@pytest.mark.parametrize("where, code", [("chunk log", errno.ENOSPC), ("shard marker", errno.EROFS),
                                         ("manifest", errno.ENOSPC)])
def test_a_full_or_read_only_disk_is_a_clear_error_and_a_rerun_resumes(corpus, tmp_path, monkeypatch, capsys,
                                                                      where, code):
    """Disk full or read-only mid-build: the CLI names the shard, the cause and the fix, and once
    the disk is writable again the same command ends with exactly an uninterrupted build."""
    import indexer.build as build
    from indexer.cli import main
    from membership.sketch import ChunkLog

    shards, rows, ref = corpus
    target, name = {"chunk log": (ChunkLog, "write"), "shard marker": (ShardLog, "mark_done"),
                    "manifest": (build, "refresh_manifest")}[where]
    real = getattr(target, name)
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2 or where == "manifest":
            raise OSError(code, os.strerror(code), str(tmp_path / "membership"))
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)
    assert main(["index", str(shards), "--out", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert os.strerror(code) in err and "rerun the same command" in err.lower()
    monkeypatch.setattr(target, name, real)
    assert main(["index", str(shards), "--out", str(tmp_path), "--no-progress"]) == 0
    assert snapshot(tmp_path, rows) == ref


@pytest.fixture()
def small_disk(tmp_path):
    """A 1 MB tmpfs (a real disk that fills up), grown by calling the fixture's value."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True,
                          text=True) if os.geteuid() == 0 else None
    if made is None or made.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root and mount rights "
                    f"({made.stderr.strip() if made else 'not root'}); bench/fault_bench.py measures the same")
    yield mnt, lambda: subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_a_real_full_disk_is_a_clear_error_and_a_rerun_resumes(corpus, small_disk, capsys):
    """tantivy reports a full disk as a ValueError (or only as a dead writer); the build must
    still say which shard, the cause and the fix, and end exactly as an uninterrupted build."""
    from indexer.cli import main

    shards, rows, ref = corpus
    mnt, grow = small_disk
    assert main(["index", str(shards), "--out", str(mnt / "index"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "rerun the same command" in err.lower()
    grow()
    assert main(["index", str(shards), "--out", str(mnt / "index"), "--no-progress"]) == 0
    assert snapshot(mnt / "index", rows) == ref


def test_tantivy_write_failures_become_the_os_errors_behind_them(tmp_path):
    from indexer.tantivy_store import _disk_error

    full = _disk_error(ValueError("An IO error occurred: 'No space left on device (os error 28)'"), tmp_path)
    assert isinstance(full, OSError) and full.errno == errno.ENOSPC
    dead = ValueError("An error occurred in a thread: 'An index writer was killed.. (io::Error most likely)'")
    assert _disk_error(dead, tmp_path) is None  # the disk takes a probe: not a disk fault
    assert isinstance(_disk_error(dead, tmp_path / "gone"), FileNotFoundError)  # it does not
    assert _disk_error(ValueError("give exactly one of repo= or owner="), tmp_path) is None
    assert not list(tmp_path.iterdir())  # the probe is gone


def test_oversize_documents_are_skipped_and_counted(tmp_path):
    shard = tmp_path / "big.jsonl"
    one_line = "x = '" + "a" * (50 * 1024 * 1024) + "'"
    with open(shard, "w") as f:
        f.write(json.dumps({"content": one_line, "repo": "o/r", "path": "big.py"}) + "\n")
        f.write(json.dumps({"content": "small = 1\n", "repo": "o/r", "path": "small.py"}) + "\n")
    manifest = build_index([shard], tmp_path / "index", progress=False)
    assert manifest["counts"]["skipped_too_large"] == 1
    assert manifest["counts"]["documents"] == 1


def test_cli_names_the_bad_file(tmp_path):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    done = subprocess.run([sys.executable, "-m", "indexer", "index", str(bad), "--out", str(tmp_path / "i")],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 1
    assert "broken.parquet" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "indexer", "search", str(tmp_path), "x"],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 1 and "not a StarScope index" in done.stderr
