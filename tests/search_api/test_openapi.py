"""``/openapi.json`` and ``/api/stats``: the API describes itself, from the models it validates with."""

import json

from indexer.build import build_index
from indexer.index_dir import IndexDir
from indexer.optout import opt_out, rebuild_filter
from membership.sketch import read_meta
from search_api import models
from search_api.app import create_app

from .conftest import corpus_rows


def test_the_document_lists_every_api_route(app, client):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    declared = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule == "/overlap":
            path = rule.rule.replace("<sha>", "{sha}")
            routed |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed == declared
    for path, method in [("/api/search", "get"), ("/api/attribution", "post"), ("/overlap", "post"),
                         ("/api/admin/optout", "post"), ("/api/stats", "get")]:
        assert path in doc["paths"] and method in doc["paths"][path]
    optout = doc["paths"]["/api/admin/optout"]["post"]
    assert optout["security"] == [{"bearer": []}] and "401" in optout["responses"]
    search = doc["paths"]["/api/search"]["get"]
    size = next(p for p in search["parameters"] if p["name"] == "size")
    assert size["schema"]["maximum"] == 100 and size["in"] == "query"
    assert doc["paths"]["/api/attribution"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AttributionRequest"}
    for name in ("AttributionResponse", "ErrorResponse", "SearchResponse", "OverlapResponse"):
        assert name in doc["components"]["schemas"]
    for name in ("AttributionResponse", "OverlapResponse"):  # what a cut answer says is documented
        props = doc["components"]["schemas"][name]["properties"]
        assert {"truncated", "limits"} <= props.keys() and "unverified" not in props
        assert "never silently partial" in props["truncated"]["description"] or name == "OverlapResponse"
        assert props["limits"]["$ref"].endswith("AttributionLimitsModel")
    limits = doc["components"]["schemas"]["AttributionLimitsModel"]["properties"]
    assert all(field["description"] for field in limits.values())


def test_stats_describe_the_store_and_the_filter(client, index_dir):
    body = client.get("/api/stats").get_json()
    models.StatsResponse.model_validate(body)
    assert body["documents"] == 31 and body["sources"] == 33
    assert body["membership"]["fpr"] == 0.001 and {"fpr_theoretical", "fpr_measured", "items"} <= body["membership"].keys()
    assert body["store"]["format"].startswith("starscope-") and body["model"] is None


def test_stats_describe_the_filter_being_served_after_a_rebuild(tmp_path):
    """The manifest records the filter a build made; ``rebuild-filter`` replaces it (after an
    opt-out, say), and a server started afterwards describes the one it serves."""
    shard = tmp_path / "corpus.jsonl"
    shard.write_text("".join(json.dumps(row) + "\n" for row in corpus_rows()), encoding="utf-8")
    build_index([shard], tmp_path / "index", progress=False)
    index = IndexDir(tmp_path / "index")
    opt_out(index.path, index.store, repo="widgets/w1", reason="asked", who="test")
    rebuild_filter(index.path, index.store)
    body = create_app({"INDEX_DIR": str(index.path), "TESTING": True}).test_client().get("/api/stats").get_json()
    assert body["membership"]["ledger_seq"] == 1 and body["membership"]["items"] == read_meta(index.path)["items"]
    assert index.manifest["configs"]["membership"]["ledger_seq"] == 0  # the build's record
