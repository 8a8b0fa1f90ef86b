"""An Elasticsearch-backed index whose server goes away: the API answers 503 in its JSON shape."""

import json
from dataclasses import replace

import pytest

from indexer.build import build_index
from search_api.app import create_app

from ..backends import build_config
from ..es_proxy import FaultyProxy

pytestmark = pytest.mark.es


def test_a_lost_server_is_a_503_that_names_it_in_the_log_only(request, tmp_path, caplog):
    config = build_config("elasticsearch", request)
    shard = tmp_path / "a.jsonl"
    shard.write_text(json.dumps({"content": "def served():\n    return 1\n", "repo": "o/r", "path": "a.py"}) + "\n")
    build_index([shard], tmp_path / "index", config=config, progress=False)
    proxy = FaultyProxy(config.es.url)
    app = create_app({"INDEX_DIR": str(tmp_path / "index"), "TESTING": True,
                      "ELASTICSEARCH": replace(config.es, url=proxy.url, request_timeout=5)})
    client = app.test_client()
    assert client.get("/api/search?q=served").get_json()["total"] == 1
    proxy.close()
    r = client.get("/api/search?q=served")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    error = r.get_json()["error"]
    assert error["code"] == "store_unavailable" and error["message"]
    # the cluster's address is the operator's: in the log, not in the answer
    assert proxy.url not in r.get_data(as_text=True)
    assert any(proxy.url in record.getMessage() for record in caplog.records)

def test_a_server_lost_mid_batch_fails_the_lines_after_not_the_batch(request, tmp_path):
    """Each line's failure is that line's record; the stream goes on to the last line."""
    config = build_config("elasticsearch", request)
    text = "def served_by_the_store(n):\n    return [i * n for i in range(n)]  # listed\n"
    shard = tmp_path / "a.jsonl"
    shard.write_text(json.dumps({"content": text, "repo": "o/r", "path": "a.py"}) + "\n")
    build_index([shard], tmp_path / "index", config=config, progress=False)
    proxy = FaultyProxy(config.es.url)
    app = create_app({"INDEX_DIR": str(tmp_path / "index"), "TESTING": True,
                      "ELASTICSEARCH": replace(config.es, url=proxy.url, request_timeout=5)})
    body = "".join(json.dumps({"id": i, "text": "# mine\n" + text}) + "\n" for i in range(3))
    r = app.test_client().post("/api/attribution/batch", data=body, content_type="application/x-ndjson",
                               buffered=False)
    chunks = iter(r.response)
    first = json.loads(next(chunks))
    proxy.close()
    rest = [json.loads(chunk) for chunk in chunks]
    assert first["result"]["spans"][0]["sources"][0]["repo"] == "o/r"
    assert [(rec["line"], rec["error"]["code"]) for rec in rest] == [(2, "store_unavailable"), (3, "store_unavailable")]
    assert proxy.url not in rest[0]["error"]["message"]
