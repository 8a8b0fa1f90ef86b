"""The store protocol, run against both backends (tantivy; Elasticsearch with the `es` mark)."""

import json
import random

import numpy as np
import pytest

from indexer import analysis
from indexer.document import Document
from indexer.query import Filters, parse_query
from indexer.search_plan import chunk_keys
from indexer.store import Page, PageOutOfRange
from indexer.store import StoreFormatError
from indexer.tantivy_store import TantivyStore
from membership.chunks import document_chunk_hashes
from membership.minhash import MinHashConfig
from membership.sketch import SketchConfig

from ..backends import BACKENDS, new_store



def all_hits(store, query, size=100):
    """Every hit of a query, page by page, as shas."""
    first = store.search(query, page=Page(1, size))
    shas = [h.document.sha for h in first.hits]
    for n in range(2, first.pages + 1):
        shas += [h.document.sha for h in store.search(query, page=Page(n, size)).hits]
    assert len(shas) == first.total
    return first.total, shas


def contents_by_sha(docs):
    return {d.sha: d.content for d in docs}


def test_exact_search_equals_brute_force_on_real_code(real_store):
    store, docs = real_store
    contents = contents_by_sha(docs)
    rng = random.Random(42)
    literals = ["i++", "a.b", "):", "==", " = ", "self.", "__init__(self", "\n    def ", "\t", "{}", "@"]
    for _ in range(60):
        text = rng.choice(docs).content
        start = rng.randrange(len(text) - 50)
        literals.append(text[start:start + rng.randint(2, 40)])
    for literal in literals:
        total, shas = all_hits(store, parse_query(literal, exact=True))
        expected = {sha for sha, c in contents.items() if literal in c}
        assert total == len(expected), literal
        assert set(shas) == expected and len(shas) == len(set(shas)), literal


@pytest.mark.slow
def test_keyword_search_equals_brute_force(real_store):
    store, docs = real_store
    contents = contents_by_sha(docs)
    for word in ["self", "parser", "Error", "get", "raise", "xml", "encoding", "zzzznothere"]:
        total, shas = all_hits(store, parse_query(word))
        w = word.lower()
        expected = {sha for sha, c in contents.items()
                    if w in analysis.words(c) or w in analysis.parts(c)}
        assert (total, set(shas)) == (len(expected), expected), word


def test_identifier_pieces_and_whole_identifiers_are_findable(empty_store):
    store = empty_store
    long_name = "a_really_long_identifier_" * 4
    with store.session() as s:
        s.add([Document.create(repo="o/r", path="x.py", content=f"def fooBar_baz():\n    {long_name} = 1\n")])
    for q in ["fooBar_baz", "foo", "bar", "baz", "FOOBAR_BAZ", long_name, "identifier"]:
        assert store.search(parse_query(q)).total == 1, q
    assert store.search(parse_query("foob")).total == 0


def test_pieces_of_camel_words_find_them_and_rank_below_whole_words(empty_store):
    store = empty_store
    with store.session() as s:
        s.add([Document.create(repo="o/r", path="a.py", content="x = getBarBaz(HTTPServer)\n"),
               Document.create(repo="o/r", path="b.py", content="bar = foo_bar\n"),
               Document.create(repo="o/r", path="c.py", content="BazBar = 1\n")])
    paths = lambda q: [h.document.primary.path for h in store.search(parse_query(q)).hits]
    assert paths("bar")[0] == "b.py" and sorted(paths("bar")) == ["a.py", "b.py", "c.py"]
    assert paths("barBaz") == ["a.py"]
    assert sorted(paths("fooBar")) == ["b.py"]  # its pieces as a phrase: foo_bar
    assert paths("server") == ["a.py"] and paths("http") == ["a.py"]
    assert paths("getbar") == []  # pieces, not arbitrary substrings


def test_camel_words_of_a_new_commit_are_found(empty_store):
    store = empty_store
    with store.session() as s:
        s.add([Document.create(repo="o/r", path="a.py", content="fooBar = 1\n")])
    assert store.search(parse_query("bar")).total == 1
    with store.session() as s:
        s.add([Document.create(repo="o/r", path="b.py", content="quxBar = 2\n")])
    assert store.search(parse_query("bar")).total == 2


def test_a_literal_edge_inside_an_over_long_word_is_found(empty_store):
    store = empty_store
    blob = "QUJD" * 100  # a 400-character word: not in the dictionary
    with store.session() as s:
        s.add([Document.create(repo="o/r", path="a.py", content=f"data = '{blob}'\n"),
               Document.create(repo="o/r", path="b.py", content="QUJDQUJD = 1\n")])
    result = store.search(parse_query("QUJDQUJDQUJD", exact=True))
    assert [h.document.primary.path for h in result.hits] == ["a.py"]
    assert store.search(parse_query(f"'{blob[:50]}", exact=True)).total == 1


def test_phrase_of_a_dotted_word(empty_store):
    store = empty_store
    with store.session() as s:
        s.add([Document.create(repo="o/r", path="a.py", content="import os.path\n"),
               Document.create(repo="o/r", path="b.py", content="path = os\n")])
    assert store.search(parse_query("os.path")).total == 1


def test_exact_duplicates_are_stored_once_with_every_source(real_store):
    store, docs = real_store
    rec = store.get(docs[0].sha)
    assert {s.repo for s in rec.sources} == {docs[0].repo, "mirror/copy"}
    assert rec.primary.repo == "mirror/copy"  # most stars
    assert rec.licenses == tuple(sorted({*docs[0].licenses, "GPL-3.0-only"}))
    assert store.stats().documents == len({d.sha for d in docs})
    assert store.stats().sources == len(docs)


@pytest.mark.parametrize("terms", [1024, 2])
def test_contents_finds_every_stored_sha_and_only_those(real_store, terms, monkeypatch):
    # terms=2: more shas than that are looked up as a term set, fewer one by one (tantivy)
    from indexer import tantivy_store

    monkeypatch.setattr(tantivy_store, "_SHA_TERMS", terms)
    store, docs = real_store
    shas = sorted({d.sha for d in docs})
    wanted = shas[::3] + ["0" * 40, "f" * 40]
    for some in (wanted[:1], wanted[:2], wanted):
        found = store.contents(some)
        assert sorted(found) == sorted(sha for sha in some if sha in shas)
        assert all(found[sha].sha == sha and found[sha].content for sha in found)
    assert store.contents([]) == {}


def test_filters(real_store):
    store, docs = real_store
    q = parse_query("def", filters=Filters(license="mit"))
    mit = {d.sha for d in docs if "MIT" in d.licenses and "def" in analysis.words(d.content)}
    assert set(all_hits(store, q)[1]) == mit
    repo = docs[5].repo
    got = set(all_hits(store, parse_query("def", filters=Filters(repo=repo)))[1])
    assert got == {d.sha for d in docs if d.repo == repo and "def" in analysis.words(d.content)}
    owner = repo.split("/")[0]
    got = set(all_hits(store, parse_query("def", filters=Filters(repo=owner)))[1])
    assert got == {d.sha for d in docs if d.repo.startswith(owner + "/") and "def" in analysis.words(d.content)}
    assert store.search(parse_query("script", filters=Filters(lang="HTML"))).total == 1


def test_sort_by_stars(real_store):
    store, _ = real_store
    hits = store.search(parse_query("def"), sort="stars", page=Page(1, 50)).hits
    stars = [h.document.stars for h in hits]
    assert stars == sorted(stars, reverse=True) and stars[0] == 1000


def test_pages_partition_the_results_and_past_the_end_is_an_error(real_store):
    store, _ = real_store
    q = parse_query("import")
    total, shas = all_hits(store, q, size=7)
    assert total > 14
    with pytest.raises(PageOutOfRange):
        store.search(q, page=Page(total // 7 + 2, 7))
    assert store.search(parse_query("zzzznothere")).total == 0  # an empty result is not an error


def test_hits_carry_metadata_and_every_matching_line(real_store):
    store, docs = real_store
    hit = store.search(parse_query('"def "'), page=Page(1, 1)).hits[0]
    content = hit.document.content
    assert hit.match_count == content.count("def ")
    lines = content.split("\n")
    for snip in hit.snippets:
        s, e = snip.ranges[0]
        assert lines[snip.line - 1][snip.column + s:snip.column + e] == "def "
    j = hit.to_json()
    assert {"id", "repo", "path", "licenses", "lang", "stars", "url", "snippets"} <= j.keys()


def test_markup_in_the_corpus_is_data(real_store):
    store, _ = real_store
    hit = store.search(parse_query("<script>", exact=True)).hits[0]
    assert hit.snippets[0].text.startswith("<script>alert")


def test_adding_the_same_documents_again_changes_nothing(empty_store):
    docs = [Document.create(repo="o/r", path=f"{i}.py", content=f"x = {i}\n") for i in range(5)]
    store = empty_store
    with store.session() as s:
        s.add(docs)
    with store.session() as s:
        s.add(docs)
        s.add(docs[:2])
    assert s.counts == {"unchanged": 7}
    assert store.stats().documents == 5 and store.stats().sources == 5


def test_a_failed_session_rolls_back(empty_store):
    store = empty_store
    with pytest.raises(RuntimeError):
        with store.session() as s:
            s.add([Document.create(repo="o/r", path="a.py", content="lost = 1\n")])
            raise RuntimeError("boom")
    assert store.stats().documents == 0


def test_delete_removes_a_repository_but_keeps_shared_content(empty_store):
    shared = "shared = 1\n"
    store = empty_store
    with store.session() as s:
        s.add([Document.create(repo="gone/a", path="x.py", content=shared),
               Document.create(repo="kept/b", path="x.py", content=shared),
               Document.create(repo="gone/a", path="y.py", content="only_here = 2\n")])
        assert s.delete(owner="gone") == 2
    assert store.search(parse_query("only_here")).total == 0
    rec = store.search(parse_query("shared")).hits[0].document
    assert [src.repo for src in rec.sources] == ["kept/b"]
    assert store.search(parse_query("shared", filters=Filters(repo="gone"))).total == 0


def test_a_repository_without_a_slash_is_its_own_and_counted_live(empty_store):
    """`json` (a source tree named after its folder) and `json/tools` share the owner json: the
    repo term tells them apart, deleting one leaves the other, and the live count drops at once."""
    store = empty_store
    with store.session() as s:
        s.add([Document.create(repo="json", path="a.py", content="a = 1\n"),
               Document.create(repo="json/tools", path="b.py", content="b = 2\n")])
    assert (store.count_docs_with_terms("repo", ["json"]), store.count_docs_with_terms("owner", ["json"])) == (1, 2)
    with store.session() as s:
        assert s.delete(repo="json") == 1
    assert (store.count_docs_with_terms("repo", ["json"]), store.count_docs_with_terms("owner", ["json"])) == (0, 1)
    assert [name for name, _ in store.repos("json")] == ["json/tools"]


def test_docs_with_terms_and_repos(real_store):
    store, docs = real_store
    got = store.docs_with_terms("sha", [docs[1].sha, docs[2].sha, "0" * 40])
    assert {d.sha for d in got} == {docs[1].sha, docs[2].sha}
    with pytest.raises(ValueError):
        store.docs_with_terms("content", ["x"])
    repos = dict(store.repos("owner1/"))
    assert repos and all(name.startswith("owner1/") for name in repos)
    assert sum(repos.values()) == len({d.sha for d in docs if d.repo.startswith("owner1/")})


def test_chunk_lookups_take_integer_hashes_and_agree_with_the_contents(real_store):
    # The ground truth is the contents' own chunk hashes and their keys (the high 32 bits that the
    # 16-hex-digit terms of the old string path also gave); noise hashes have the high bit set.
    store, docs = real_store
    contents = {d.sha: d.content for d in docs}
    hashes = dict(zip(contents, document_chunk_hashes(list(contents.values()))))
    keys = {sha: set(chunk_keys(h).tolist()) for sha, h in hashes.items()}
    rng = random.Random(11)
    held = np.concatenate([rng.choice(list(hashes.values()))[:rng.randint(1, 30)] for _ in range(8)])
    noise = np.array([rng.getrandbits(63) | 1 << 63 for _ in range(5)], dtype=np.uint64)
    query = np.concatenate([held, noise, held[:4]])  # repeated hashes are answered where they are
    assert store.chunk_doc_counts(query).tolist() == [sum(k in ks for ks in keys.values())
                                                      for k in chunk_keys(query).tolist()]
    holders = {sha for sha, ks in keys.items() if ks & set(chunk_keys(query).tolist())}
    got = store.contents_with_chunks(query, limit=1000)
    assert sorted(d.sha for d in got) == sorted(holders) and store.count_contents_with_chunks(query) == len(holders)
    # ranked: a content holding every queried chunk comes before one holding a few of them
    full = hashes[docs[5].sha]
    assert store.contents_with_chunks(full, limit=1)[0].sha == docs[5].sha
    assert len(store.contents_with_chunks(query, limit=3)) == 3
    assert store.contents_with_chunks(noise, limit=10) == [] and store.count_contents_with_chunks(noise) == 0
    assert store.chunk_doc_counts(np.zeros(0, np.uint64)).tolist() == []
    assert store.contents_with_chunks(np.zeros(0, np.uint64), limit=10) == []
    with pytest.raises(ValueError, match="contents_with_chunks"):
        store.docs_with_terms("chunk", [f"{int(full[0]):016x}"])


def test_count_docs_with_terms_counts_every_live_holder_past_any_limit(empty_store):
    """What a docs_with_terms limit leaves out is counted exactly (attribution says so)."""
    store = empty_store
    docs = [Document.create(repo=f"own{i % 2}/r", path=f"{i}.py", content=f"x = {i}\n") for i in range(7)]
    with store.session() as s:
        s.add(docs)
    owners = ["own0", "own1", "nobody"]
    assert len(store.docs_with_terms("owner", owners, limit=3)) == 3
    assert store.count_docs_with_terms("owner", owners) == 7
    assert store.count_docs_with_terms("owner", ["own1"]) == 3
    assert store.count_docs_with_terms("owner", []) == 0
    with store.session() as s:
        assert s.delete(owner="own0") == 4
    assert store.count_docs_with_terms("owner", owners) == 3  # deleted documents are not counted
    with pytest.raises(ValueError):
        store.count_docs_with_terms("content", ["x"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_store_describes_its_sketch_and_location_through_the_protocol(backend, tmp_path, request):
    store = new_store(backend, tmp_path / "default", request)
    assert store.sketch_config() == SketchConfig()
    assert store.sketch_config().to_json() == {k: store.describe()[k] for k in ("chunks", "minhash")}
    bigcode = new_store(backend, tmp_path / "bigcode", request, minhash=MinHashConfig.bigcode())
    assert bigcode.sketch_config() == SketchConfig(minhash=MinHashConfig.bigcode())
    assert new_store(backend, tmp_path / "search-only", request, sketch=False).sketch_config() is None
    if backend == "tantivy":
        assert store.location() == {}  # the store is inside the index directory
    else:
        assert store.location() == {"elasticsearch": {"url": store.config.url, "index": store.config.index}}


def test_opening_a_directory_without_a_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreFormatError, match="starscope index"):
        TantivyStore(tmp_path)
    TantivyStore(tmp_path, create=True)
    meta = tmp_path / "store" / "starscope-store.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "version": 99}))
    with pytest.raises(StoreFormatError, match="Rebuild"):
        TantivyStore(tmp_path)


def test_paging_a_literal_reuses_its_verification_until_the_next_commit(empty_store):
    store = empty_store
    with store.session() as s:
        s.add([Document.create(repo="o/r", path=f"{i}.py", content=f"x{i} = y[0]\n") for i in range(25)])
    q = parse_query("[0]", exact=True)
    first = store.search(q, page=Page(1, 10))
    assert store.planner.cached_rankings() == 1 and first.total == 25
    shas = {h.document.sha for n in (1, 2, 3) for h in store.search(q, page=Page(n, 10)).hits}
    assert len(shas) == 25 and store.planner.cached_rankings() == 1
    with store.session() as s:
        s.add([Document.create(repo="o/r", path="new.py", content="z = w[0]\n")])
    assert store.search(q, page=Page(1, 10)).total == 26  # a new commit is never served stale


def test_a_match_deep_inside_a_multi_megabyte_file_is_shown(empty_store):
    store = empty_store
    filler = "".join(f"row_{i} = {i}\n" for i in range(250_000))  # ~3.4 MB
    with store.session() as s:
        s.add([Document.create(repo="o/r", path="big.py", content=filler + "needle_at_the_end = 1\n")])
    hit = store.search(parse_query("needle_at_the_end")).hits[0]
    assert hit.snippets[0].line == 250_001 and hit.snippets[0].text == "needle_at_the_end = 1"
    exact = store.search(parse_query("needle_at_the_end = 1", exact=True)).hits[0]
    assert exact.match_count == 1 and exact.snippets[0].line == 250_001


def test_an_open_tantivy_store_keeps_answering_after_its_directory_is_deleted(tmp_path):
    """A server finishes the requests it began on an index it switched away from, even when the
    operator has already deleted that directory."""
    import shutil

    from .conftest import real_documents

    docs = real_documents(20)
    store = TantivyStore(tmp_path / "old", create=True)
    with store.session() as s:
        s.add(docs)
    before = store.search(parse_query("def"), page=Page(1, 5))
    shutil.rmtree(tmp_path / "old")
    after = store.search(parse_query("def"), page=Page(1, 5))
    assert after.total == before.total > 0
    assert [h.document.sha for h in after.hits] == [h.document.sha for h in before.hits]
    assert store.get(docs[3].sha).content == docs[3].content


def test_a_second_handle_sees_each_commit_of_the_first_at_once(tmp_path):
    """Another process's commits are seen by the next read (the reader reloads when tantivy's
    meta.json changed), and reads in between keep answering the same."""
    writer = TantivyStore(tmp_path / "index", create=True)
    reader = TantivyStore(tmp_path / "index")
    docs = [Document.create(repo="o/r", path=f"{i}.py", content=f"value_{i} = {i}\n") for i in range(3)]
    for i, doc in enumerate(docs):
        assert reader.stats().documents == i and reader.get(doc.sha) is None
        with writer.session() as s:
            s.add([doc])
        assert reader.get(doc.sha).content == doc.content and reader.stats().documents == i + 1
    with writer.session() as s:
        s.delete(repo="o/r")
    assert reader.stats().documents == 0 and reader.get(docs[0].sha) is None
