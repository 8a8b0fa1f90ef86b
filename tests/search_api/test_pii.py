"""Corpus text served by the API has emails, IP addresses and keys redacted (on by default);
every range in an answer points into the redacted text."""

import json

import pytest

from indexer.build import build_index
from indexer.document import content_sha
from search_api.app import create_app

LEAKY = ('"""Sync client. Maintainer: Jane Doe <jane.doe@corp-mail.de>"""\n'
         'API_TOKEN = "9fA3kL0qZ7xB2mN8Qw"\n'
         'def connect(host="34.102.136.180"):\n'
         '    return open_connection(host, token=API_TOKEN)  # connect once\n')

PLAIN = "def connect():\n    return 1  # connect plainly\n"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    base = tmp_path_factory.mktemp("pii")
    rows = [dict(content=LEAKY, repo="corp/sync", path="client.py", licenses=["MIT"], lang="Python"),
            dict(content=PLAIN, repo="plain/x", path="x.py",
                 licenses=["MIT"], lang="Python")]
    (base / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_index([base / "c.jsonl"], base / "index", progress=False)
    return base / "index"


def client(index, **config):
    return create_app({"INDEX_DIR": str(index), "TESTING": True, **config}).test_client()


def test_search_snippets_are_redacted_and_still_highlight_the_match(index):
    body = client(index).get("/api/search?q=connect+token").get_json()
    hit = next(h for h in body["hits"] if h["repo"] == "corp/sync")
    texts = "\n".join(s["text"] for s in hit["snippets"])
    assert '"<IP_ADDRESS>"' in texts and '"<KEY>"' in texts
    assert "jane.doe" not in json.dumps(body) and "34.102" not in json.dumps(body) and "9fA3kL0q" not in json.dumps(body)
    for s in hit["snippets"]:
        for a, b in s["ranges"]:
            assert s["text"][a:b].lower() in ("connect", "token", "<ip_address>", "<key>")


def test_documents_are_redacted_with_a_map_and_ranges_on_the_new_text(index):
    sha = content_sha(LEAKY)
    body = client(index).get(f"/api/documents/{sha}?q=connect&syntax=1").get_json()
    content = body["content"]
    assert body["pii"]["redacted"] == {"EMAIL": 1, "KEY": 1, "IP_ADDRESS": 1}
    assert "<EMAIL>" in content and "<KEY>" in content and "<IP_ADDRESS>" in content
    assert content.count("\n") == LEAKY.count("\n")
    assert [content[a:b] for a, b in body["matches"]["ranges"]] == ["connect", "connect"]
    assert all(0 <= s < e <= len(content) for s, e, _ in body["syntax"]["tokens"])
    old_s, old_e, new_s, new_e = body["pii"]["map"][0]
    assert LEAKY[old_s:old_e] == "jane.doe@corp-mail.de" and content[new_s:new_e] == "<EMAIL>"


def test_redaction_can_be_turned_off(index):
    body = client(index, REDACT_PII=False).get(f"/api/documents/{content_sha(LEAKY)}").get_json()
    assert body["content"] == LEAKY and "pii" not in body
    clean = client(index).get(f"/api/documents/{content_sha(PLAIN)}").get_json()
    assert clean["content"] == PLAIN and "pii" not in clean
