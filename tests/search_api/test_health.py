"""``/api/health`` and ``/api/repos``."""

from indexer.manifest import read_manifest

from .conftest import error_of


def test_health_reports_documents_and_the_manifest(client, index_dir):
    body = client.get("/api/health").get_json()
    manifest = read_manifest(index_dir)
    assert body["status"] == "ok"
    assert body["documents"] == 5 + 1 + 25  # the duplicate is one document
    assert body["index"]["counts"] == manifest["counts"]
    assert body["index"]["counts"]["sources"] == 5 + 3 + 25
    assert body["index"]["corpus_fingerprint"] == manifest["corpus_fingerprint"]
    assert body["index"]["updated"] == manifest["updated"]
    assert body["index"]["backend"] == manifest["store"]["backend"] in ("tantivy", "elasticsearch")


def test_repos_by_prefix_with_document_counts(client):
    body = client.get("/api/repos?q=widgets/").get_json()
    assert body["repos"] == [{"repo": f"widgets/w{i}", "documents": 5} for i in range(5)]
    assert client.get("/api/repos?q=WIDGETS/W3").get_json()["repos"] == [{"repo": "widgets/w3", "documents": 5}]
    everything = client.get("/api/repos").get_json()["repos"]
    assert {"repo": "beta/two", "documents": 1} in everything
    assert client.get("/api/repos?q=zzz").get_json() == {"repos": [], "owners": [], "opted_out": []}


def test_owners_are_listed_beside_repositories(client):
    body = client.get("/api/repos?q=widg").get_json()
    assert body["owners"] == [{"owner": "widgets", "documents": 25}]
    assert len(client.get("/api/repos?q=widgets/&limit=2").get_json()["repos"]) == 2
    error_of(client.get("/api/repos?limit=0"), 400, "invalid_parameter")


def test_repos_rejects_unknown_parameters(client):
    error_of(client.get("/api/repos?prefix=w"), 400, "invalid_parameter")
