"""Corpus text served by the API has emails, IP addresses and keys redacted (on by default);
every range in an answer points into the redacted text."""

import json

import pytest

from indexer.build import build_index
from indexer.document import content_sha
from search_api.app import create_app

from ..backends import BACKENDS, build_config

LEAKY = ('"""Sync client. Maintainer: Jane Doe <jane.doe@corp-mail.de>"""\n'
         'API_TOKEN = "9fA3kL0qZ7xB2mN8Qw"\n'
         'def connect(host="34.102.136.180"):\n'
         '    return open_connection(host, token=API_TOKEN)  # connect once\n')

PLAIN = "def connect():\n    return 1  # connect plainly\n"


@pytest.fixture(scope="module", params=BACKENDS)
def index(request, tmp_path_factory):
    base = tmp_path_factory.mktemp("pii")
    rows = [dict(content=LEAKY, repo="corp/sync", path="client.py", licenses=["MIT"], lang="Python"),
            dict(content=PLAIN, repo="plain/x", path="x.py",
                 licenses=["MIT"], lang="Python")]
    (base / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_index([base / "c.jsonl"], base / "index", config=build_config(request.param, request), progress=False)
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


def test_documents_are_redacted_with_placeholders_and_ranges_on_the_new_text(index):
    sha = content_sha(LEAKY)
    body = client(index).get(f"/api/documents/{sha}?q=connect&syntax=1").get_json()
    content = body["content"]
    assert body["pii"]["redacted"] == {"EMAIL": 1, "KEY": 1, "IP_ADDRESS": 1}
    assert "<EMAIL>" in content and "<KEY>" in content and "<IP_ADDRESS>" in content
    assert content.count("\n") == LEAKY.count("\n")
    assert [content[a:b] for a, b in body["matches"]["ranges"]] == ["connect", "connect"]
    assert all(0 <= s < e <= len(content) for s, e, _ in body["syntax"]["tokens"])
    assert [content[s:e] for s, e, _ in body["pii"]["placeholders"]] == ["<EMAIL>", "<KEY>", "<IP_ADDRESS>"]
    assert [kind for _, _, kind in body["pii"]["placeholders"]] == ["EMAIL", "KEY", "IP_ADDRESS"]
    assert body["size"] == len(content.encode()) and set(body["pii"]) == {"redacted", "placeholders"}


def test_redaction_can_be_turned_off(index):
    body = client(index, REDACT_PII=False).get(f"/api/documents/{content_sha(LEAKY)}").get_json()
    assert body["content"] == LEAKY and "pii" not in body
    clean = client(index).get(f"/api/documents/{content_sha(PLAIN)}").get_json()
    assert clean["content"] == PLAIN and "pii" not in clean


def test_exact_search_reads_nothing_back_from_redacted_text(index):
    """Extending a known prefix one character at a time, as an attacker would, learns nothing:
    an exact match overlapping PII counts nowhere, while the rest of the file still matches."""
    c = client(index)

    def total(q):
        return c.get("/api/search", query_string={"q": q, "exact": "1"}).get_json()["total"]

    for secret, known in (("9fA3kL0qZ7xB2mN8Qw", 'API_TOKEN = "'), ("jane.doe@corp-mail.de", "Doe <"),
                          ("34.102.136.180", 'host="')):
        assert total(known) == 1  # the text around it is found
        for n in range(1, len(secret) + 1):
            assert total(known + secret[:n]) == 0, secret[:n]
            assert n < 4 or total(secret[:n]) == 0, secret[:n]
    body = c.get("/api/search", query_string={"q": "connect", "exact": "1"}).get_json()
    hit = next(h for h in body["hits"] if h["repo"] == "corp/sync")
    assert hit["match_count"] == 3 and body["total"] == 2
    raw = client(index, REDACT_PII=False)
    assert raw.get("/api/search", query_string={"q": "9fA3kL0q", "exact": "1"}).get_json()["total"] == 1


def test_document_matches_skip_redacted_text(index):
    sha = content_sha(LEAKY)
    c = client(index)
    doc = c.get(f"/api/documents/{sha}", query_string={"q": "34.102", "exact": "1"}).get_json()
    assert doc["matches"]["count"] == 0 and doc["matches"]["snippets"] == []
    doc = c.get(f"/api/documents/{sha}", query_string={"q": '"', "exact": "1"}).get_json()
    assert [set(doc["content"][a:b]) for a, b in doc["matches"]["ranges"]] == [{'"'}] * 6  # quotes around placeholders
    raw = client(index, REDACT_PII=False).get(f"/api/documents/{sha}", query_string={"q": "34.102", "exact": "1"})
    assert raw.get_json()["matches"]["count"] == 1


# -- names, links and lengths ------------------------------------------------------------------
AWS = "AKIAZ7Q4WTNVHK2L5RXD"
TAIL = ("def rotate(client, region):\n    session = client.session(region=region, retries=5)\n"
        "    return session.rotate_credentials(force=True)  # rotated nightly by cron\n")
SHORT, LONG = "9fA3kL0qZ7xB2mN8Qw", "Zq81mXr4Tn0pLk7Wv2Hs9Cd5Jf3Bg6Ya"


@pytest.fixture(scope="module", params=BACKENDS)
def named(request, tmp_path_factory):
    """Two files alike but for the length of their secret, under names that hold PII."""
    base = tmp_path_factory.mktemp("pii-names")
    rows = [dict(content=f'API_TOKEN = "{SHORT}"\n' + TAIL, repo="ops/deploy-34.102.136.180",
                 path=f"secrets/{AWS}.py", licenses=["MIT"], lang="Python", stars=3),
            dict(content=f'API_TOKEN = "{LONG}"\n' + TAIL, repo="jane.doe@corp-mail.de/tools",
                 path="rotate.py", licenses=["MIT"], lang="Python", stars=2),
            dict(content="def rotate_plain():\n    return 0\n", repo="plain/project", path="x.py",
                 licenses=["MIT"], lang="Python", stars=1)]
    (base / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_index([base / "c.jsonl"], base / "index", config=build_config(request.param, request), progress=False)
    return base / "index"


def answers(c) -> dict:
    """Every answer that carries corpus names, as text."""
    shas = [content_sha(f'API_TOKEN = "{v}"\n' + TAIL) for v in (SHORT, LONG)]
    out = {"search": c.get("/api/search?q=rotate"), "exact": c.get("/api/search?q=rotate(&exact=1"),
           "repos": c.get("/api/repos?q=ops"), "owners": c.get("/api/repos?q=jane"),
           "attribution": c.post("/api/attribution", json={"text": TAIL}),
           "overlap": c.post("/overlap", json={"document": TAIL}),
           "batch": c.post("/api/attribution/batch", data=json.dumps({"text": TAIL}) + "\n",
                           content_type="application/x-ndjson")}
    for i, sha in enumerate(shas):
        out[f"document {i}"] = c.get(f"/api/documents/{sha}")
        out[f"page {i}"] = c.get(f"/doc/{sha}")
    assert all(r.status_code == 200 for r in out.values()), {k: r.status_code for k, r in out.items()}
    return {k: r.get_data(as_text=True) for k, r in out.items()}


def test_names_paths_and_links_are_redacted_in_every_answer(named):
    for where, text in answers(client(named)).items():
        for secret in (AWS, "34.102.136.180", "jane.doe", "corp-mail", SHORT, LONG):
            assert secret not in text, (where, secret)
    c = client(named)
    hits = {h["path"]: h for h in c.get("/api/search?q=rotate").get_json()["hits"]}
    assert hits["secrets/<KEY>.py"]["repo"] == "ops/deploy-<IP_ADDRESS>" and hits["secrets/<KEY>.py"]["url"] is None
    assert hits["rotate.py"]["repo"] == "<EMAIL>/tools" and hits["rotate.py"]["url"] is None
    assert hits["x.py"]["url"] == "https://github.com/plain/project/blob/HEAD/x.py"
    (span,) = c.post("/api/attribution", json={"text": TAIL}).get_json()["spans"]
    assert {(s["repo"], s["path"], s["url"]) for s in span["sources"]} == {
        ("ops/deploy-<IP_ADDRESS>", "secrets/<KEY>.py", None), ("<EMAIL>/tools", "rotate.py", None)}
    raw = answers(client(named, REDACT_PII=False))
    assert AWS in raw["search"] and "jane.doe@corp-mail.de" in raw["owners"]


def test_repos_are_listed_redacted_unless_the_prefix_reaches_into_their_pii(named):
    c = client(named)

    def names(q):
        body = c.get("/api/repos", query_string={"q": q}).get_json()
        return [r["repo"] for r in body["repos"]] + [o["owner"] for o in body["owners"]]

    assert names("ops") == ["ops/deploy-<IP_ADDRESS>", "ops"]
    assert names("ops/deploy-") == ["ops/deploy-<IP_ADDRESS>"]
    for n in range(1, len("34.102.136.180") + 1):  # extending the prefix finds nothing
        assert names("ops/deploy-" + "34.102.136.180"[:n]) == []
    assert names("j") == [] and names("jane.doe@corp-mail.de") == []
    assert names("ops/deploy-34") == [] and client(named, REDACT_PII=False).get(
        "/api/repos?q=ops/deploy-34").get_json()["repos"][0]["repo"] == "ops/deploy-34.102.136.180"


def test_no_answer_tells_how_long_a_redacted_value_was(named):
    """The two files differ only in their secret's length (18 and 32 characters): as served,
    nothing about them differs but their ids and names."""
    c = client(named)
    docs = [c.get(f"/api/documents/{content_sha(f'API_TOKEN = {chr(34)}{v}{chr(34)}' + chr(10) + TAIL)}")
            .get_json() for v in (SHORT, LONG)]
    for d in docs:
        for key in ("id", "repo", "path", "url", "sources", "stars"):
            d.pop(key)
    assert docs[0] == docs[1] and docs[0]["pii"]["placeholders"] == [[13, 18, "KEY"]]
    (span,) = c.post("/api/attribution", json={"text": TAIL}).get_json()["spans"]
    starts = {(s["start"], s["end"]) for s in span["sources"]}
    assert len(span["sources"]) == 2 and len(starts) == 1
    (start, end), = starts
    assert docs[0]["content"][start:end] == TAIL.rstrip("\n")
    (raw_span,) = client(named, REDACT_PII=False).post("/api/attribution", json={"text": TAIL}).get_json()["spans"]
    assert len({(s["start"], s["end"]) for s in raw_span["sources"]}) == 2


def test_keyword_search_reads_nothing_back_from_redacted_text(index):
    """An address word by word, a key piece by piece (its camel-case pieces), with a filter
    that singles the file out: nothing is found that only the redacted values hold."""
    def total(c, q):
        return c.get("/api/search", query_string={"q": q}).get_json()["total"]

    c, raw = client(index), client(index, REDACT_PII=False)
    for q in ("34.102", "34.102.136 repo:corp/sync", "136.180", "jane.doe@corp", "corp.mail.de",
              "9fA3k", "9fA3kL0q", "L0qZ7x", "Qw"):
        assert total(c, q) == 0, q
        assert total(raw, q) == 1, q
    assert total(c, "jane doe repo:corp/sync") == 1  # the name in clear beside the address
