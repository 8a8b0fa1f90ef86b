"""What only the Elasticsearch store has: its mapping, its server and the faults of talking to
one. The protocol itself is tested on both stores in test_store.py."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.document import Document
from indexer.es_config import ElasticsearchConfig
from indexer.es_store import ElasticsearchStore, es_client
from indexer.query import parse_query
from indexer.store import Page, StoreFormatError, StoreUnavailable

from ..backends import build_config, cli_store_args, es_config
from ..es_proxy import FaultyProxy
from .conftest import real_documents
from .test_build import snapshot, write_jsonl_shards

pytestmark = pytest.mark.es


def small_docs(n: int, tag: str = "x"):
    return [Document.create(repo=f"o{i % 3}/r{i % 5}", path=f"{tag}{i}.py",
                            content=f"def {tag}_func_{i}(value):\n    return value * {i}  # common_word\n")
            for i in range(n)]


def write_shard(path: Path, docs) -> Path:
    path.write_text("".join(json.dumps({"content": d.content, "repo": d.repo, "path": d.path}) + "\n"
                            for d in docs))
    return path


def test_the_store_is_found_again_through_its_pointer_file(request, tmp_path):
    config = es_config(request)
    store = ElasticsearchStore(tmp_path, config=config, create=True)
    with store.session() as s:
        s.add(small_docs(3))
    pointer = json.loads((tmp_path / "store" / "elasticsearch.json").read_text())
    assert pointer["index"] == config.index and pointer["url"] == config.url
    assert "password" not in json.dumps(pointer).lower() and "api_key" not in json.dumps(pointer).lower()
    again = ElasticsearchStore(tmp_path)
    assert again.name == config.index and again.stats().documents == 3


@pytest.mark.parametrize("env, header", [
    ({"ELASTICSEARCH_API_KEY": "a2V5OnNlY3JldA=="}, "ApiKey a2V5OnNlY3JldA=="),
    ({"ELASTICSEARCH_USERNAME": "indexer", "ELASTICSEARCH_PASSWORD": "pw"}, "Basic aW5kZXhlcjpwdw=="),
])
def test_credentials_come_from_the_environment_and_reach_the_server(request, tmp_path, monkeypatch,
                                                                      env, header):
    config = es_config(request)
    proxy = FaultyProxy(config.url)
    request.addfinalizer(proxy.close)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    store = ElasticsearchStore(tmp_path, config=replace(config, url=proxy.url), create=True)
    store.stats()
    assert proxy.headers and all(h.get("authorization") == header for h in proxy.headers)
    assert "pw" not in (tmp_path / "store" / "elasticsearch.json").read_text()


def test_a_missing_index_is_a_clear_error(request, tmp_path):
    config = es_config(request)
    with pytest.raises(StoreFormatError, match=f"no index '{config.index}'.*starscope index"):
        ElasticsearchStore(tmp_path, config=config)


def test_a_mapping_from_another_version_is_refused_naming_the_mismatch(request, tmp_path):
    config = es_config(request)
    store = ElasticsearchStore(tmp_path, config=config, create=True)
    meta = store.describe()
    store._es.indices.put_mapping(index=config.index, meta={**meta, "version": 99})
    with pytest.raises(StoreFormatError, match=r"'version': \(99, 1\).*Rebuild"):
        ElasticsearchStore(tmp_path, config=config)
    store._es.indices.put_mapping(index=config.index, meta={})
    with pytest.raises(StoreFormatError):
        ElasticsearchStore(tmp_path, config=config)


def test_an_index_that_is_not_ours_is_refused(request, tmp_path):
    config = es_config(request)
    es_client(config).indices.create(index=config.index, mappings={"properties": {"title": {"type": "text"}}})
    with pytest.raises(StoreFormatError, match="not a StarScope store"):
        ElasticsearchStore(tmp_path, config=config)


def test_a_server_that_is_down_at_start_is_named(tmp_path):
    config = ElasticsearchConfig(url="http://127.0.0.1:9", index="starscope-nowhere", request_timeout=5)
    with pytest.raises(StoreUnavailable, match=r"http://127\.0\.0\.1:9 .*make es-up"):
        ElasticsearchStore(tmp_path, config=config, create=True)


def test_pages_past_the_result_window_come_through_search_after(request, tmp_path):
    # The server enforces index.max_result_window (set to 20 here), so a page that from/size
    # cannot reach proves the search_after path; a literal query pages through a point in time.
    config = es_config(request, result_window=20)
    store = ElasticsearchStore(tmp_path, config=config, create=True)
    with store.session() as s:
        s.add(small_docs(57))
    for q in (parse_query("common_word"), parse_query("value *", exact=True)):
        seen = []
        for n in range(1, 7):
            result = store.search(q, page=Page(n, 10))
            assert result.total == 57
            seen += [h.document.sha for h in result.hits]
        assert len(seen) == len(set(seen)) == 57
    stars = store.search(parse_query("common_word"), page=Page(3, 10), sort="stars")
    assert len(stars.hits) == 10


def test_many_terms_are_counted_and_fetched_in_batches(request, tmp_path):
    store = ElasticsearchStore(tmp_path, config=es_config(request), create=True)
    docs = small_docs(30)
    with store.session() as s:
        s.add(docs)
    shas = [d.sha for d in docs] + [f"{i:040x}" for i in range(2000)]  # over RANKED_TERMS, COUNT_BATCH
    counts = store.term_doc_counts("sha", shas)
    assert sum(counts.values()) == 30 and len(counts) == len(shas)
    assert {d.sha for d in store.docs_with_terms("sha", shas, limit=100)} == {d.sha for d in docs}


def test_a_build_loads_without_refreshes_or_replicas_then_restores_them(request, tmp_path):
    config = build_config("elasticsearch", request)
    config = replace(config, es=replace(config.es, replicas=1, refresh_interval="2s"))
    shard = write_shard(tmp_path / "a.jsonl", small_docs(10))
    seen = {}
    real_loading = ElasticsearchStore.loading

    def spying_session(self, **kw):
        settings = self._es.indices.get_settings(index=self.name)[self.name]["settings"]["index"]
        seen.update(refresh=settings["refresh_interval"], replicas=settings["number_of_replicas"])
        return real_session(self, **kw)

    real_session = ElasticsearchStore.session
    ElasticsearchStore.session = spying_session
    try:
        manifest = build_index([shard], tmp_path / "index", config=config, progress=False)
    finally:
        ElasticsearchStore.session = real_session
    assert seen == {"refresh": "-1", "replicas": "0"}
    after = es_client(config.es).indices.get_settings(index=config.es.index)[config.es.index]["settings"]["index"]
    assert (after["refresh_interval"], after["number_of_replicas"]) == ("2s", "1")
    assert manifest["store"]["elasticsearch"] == {"url": config.es.url, "index": config.es.index}
    assert real_loading is ElasticsearchStore.loading


def test_bulk_rejections_are_retried_and_counted_never_dropped(request, tmp_path):
    config = build_config("elasticsearch", request, batch_docs=10)
    proxy = FaultyProxy(config.es.url)
    request.addfinalizer(proxy.close)
    proxy.reject_bulks = 3
    es = replace(config.es, url=proxy.url, bulk_docs=10, initial_backoff=0.01, max_backoff=0.05)
    shard = write_shard(tmp_path / "a.jsonl", small_docs(40))
    manifest = build_index([shard], tmp_path / "index", config=replace(config, es=es), progress=False)
    assert proxy.rejected_items == 30  # three bulks of ten, all refused once
    assert manifest["counts"]["store_bulk_retried"] == 30
    assert manifest["counts"]["documents"] == 40


def test_a_document_refused_for_good_stops_the_build_naming_it(request, tmp_path):
    from indexer.store import StoreWriteError

    config = build_config("elasticsearch", request, batch_docs=10)
    proxy = FaultyProxy(config.es.url)
    request.addfinalizer(proxy.close)
    proxy.reject_bulks = 100
    es = replace(config.es, url=proxy.url, max_retries=2, initial_backoff=0.01, max_backoff=0.02)
    shard = write_shard(tmp_path / "a.jsonl", [Document.create(repo="o/r", path="a.py", content="refused = 1\n")])
    with pytest.raises(StoreWriteError, match=r"a\.jsonl.*refused 1 documents after 2 retries.*429"):
        build_index([shard], tmp_path / "index", config=replace(config, es=es), progress=False)


@pytest.fixture(scope="module")
def shards_and_reference(tmp_path_factory):
    """The build tests' corpus and the snapshot of its uninterrupted (tantivy) build."""
    root = tmp_path_factory.mktemp("lost")
    rows = write_jsonl_shards(root / "shards", real_documents(), per_shard=15)
    build_index([root / "shards"], root / "reference", progress=False)
    return root / "shards", rows, snapshot(root / "reference", rows), root / "reference"


@pytest.mark.parametrize("die_after_bulks", [1, 4])
def test_a_server_lost_mid_build_stops_naming_the_shard_and_the_rerun_resumes(
        request, tmp_path, shards_and_reference, die_after_bulks):
    shards, rows, reference, _ = shards_and_reference
    config = build_config("elasticsearch", request, batch_docs=4, commit_bytes=1)
    proxy = FaultyProxy(config.es.url)
    request.addfinalizer(proxy.close)
    proxy.die_after_bulks = die_after_bulks
    lost = replace(config, es=replace(config.es, url=proxy.url, bulk_docs=4, request_timeout=10))
    with pytest.raises(StoreUnavailable, match=rf"shard .*part-\d+\.jsonl: cannot reach Elasticsearch at "
                                               rf"{proxy.url}.*Rerun"):
        build_index([shards], tmp_path, config=lost, progress=False)
    assert proxy.bulks > die_after_bulks
    build_index([shards], tmp_path, config=config, progress=False)  # the server, directly
    assert snapshot(tmp_path, rows) == reference


def test_a_build_whose_server_is_stopped_resumes_after_restart(request, tmp_path, shards_and_reference):
    """The real thing: the server itself is stopped mid-build (SIGTERM, as an operator or an
    OOM killer would), then started again; needs the server `make test-es` manages."""
    import os
    import subprocess
    import sys
    import time

    control = os.environ.get("STARSCOPE_ES_CONTROL")
    if not control:
        message = "the server is not managed by `make test-es` (ELASTICSEARCH_URL was given)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    shards, rows, reference, _ = shards_and_reference
    config = build_config("elasticsearch", request)
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "indexer", "index", str(shards), "--out", str(tmp_path), "--no-progress",
           *cli_store_args(config)]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((tmp_path / "shards").glob("*"))) < 2 and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        subprocess.run([control, "down"], check=True, capture_output=True)
        err = proc.communicate(timeout=300)[1]
    finally:
        subprocess.run([control, "up"], check=True, capture_output=True)
    assert proc.returncode == 1, err
    assert "shard " in err and f"cannot reach Elasticsearch at {config.es.url}" in err and "Rerun" in err
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert snapshot(tmp_path, rows) == reference


def test_two_writers_adding_sources_to_one_content_both_land(request, tmp_path):
    store = ElasticsearchStore(tmp_path, config=es_config(request), create=True)
    a = Document.create(repo="alice/x", path="a.py", content="shared_by_two = 1\n")
    b = Document.create(repo="bob/y", path="b.py", content="shared_by_two = 1\n")
    with store.session() as first, store.session() as second:
        first.add([a])
        second.add([b])  # neither sees the other's queued write
        first.commit()
    assert second.counts["conflicts_merged"] == 1
    assert {s.repo for s in store.get(a.sha).sources} == {"alice/x", "bob/y"}


def test_indexers_over_disjoint_shard_sets_share_one_index_then_merge(request, tmp_path, shards_and_reference):
    import subprocess
    import sys

    from indexer.merge import MergeError, merge_indexes

    shards, rows, reference, reference_dir = shards_and_reference
    config = build_config("elasticsearch", request)
    files = sorted(shards.glob("*.jsonl"))
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-m", "indexer", "index", *map(str, files[i::2]),
                               "--out", str(tmp_path / f"work{i}"), "--no-progress", *cli_store_args(config)],
                              cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        assert p.wait() == 0, p.stderr.read()
    manifest = merge_indexes(tmp_path / "index", [tmp_path / "work0", tmp_path / "work1"])
    assert len(manifest["shards"]) == len(files)
    assert snapshot(tmp_path / "index", rows) == reference
    bloom = Path("membership") / "bloom.bin"
    assert (tmp_path / "index" / bloom).read_bytes() == (reference_dir / bloom).read_bytes()
    build_index([files[0]], tmp_path / "tantivy", progress=False)
    with pytest.raises(MergeError, match="tantivy store"):
        merge_indexes(tmp_path / "index", [tmp_path / "tantivy"])


def test_more_terms_than_one_terms_query_holds_are_split(request, tmp_path):
    from indexer.es_store import TERMS_PER_QUERY, _terms_filter

    store = ElasticsearchStore(tmp_path, config=es_config(request), create=True)
    docs = small_docs(5)
    with store.session() as s:
        s.add(docs)
    many = [f"{i:040x}" for i in range(TERMS_PER_QUERY + 10)] + [docs[3].sha]
    assert len(_terms_filter("sha", many)["bool"]["should"]) == 2
    assert [d.sha for d in store.docs_with_terms("sha", many)] == [docs[3].sha]
