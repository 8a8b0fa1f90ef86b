"""Exact search for the redacted view (``SearchQuery.redacted``, what the API asks while it
redacts PII) answers as a search of the redacted text would: an occurrence that overlaps an
email address, IP address or key does not count, in the total, the hits or their ranges, so
extending a known prefix one character at a time learns nothing. Without ``redacted`` (the CLI,
a server run with redaction off) the stored text is searched as it is."""

import random
import re
import string

import pytest

from indexer.document import Document
from indexer.pii import PLACEHOLDERS, PiiScan, find_pii, redact
from indexer.query import parse_query
from indexer.snippets import keyword_occurrences, match_ranges
from indexer.store import Page

KEY = "AKIAZ7Q4WTNVHK2L5RXD"
EMAIL = "jane.doe@corp-mail.de"
SECRET_FILE = (f'"""Sync client. Maintainer: Jane Doe <{EMAIL}>"""\n'
               f'AWS_ACCESS_KEY_ID = "{KEY}"\n'
               'def connect(host="34.102.136.180"):\n'
               '    return open_connection(host)  # AKIA is how AWS key ids start\n')
# The same literals outside PII elsewhere, so a redacted search still finds something.
PLAIN_FILE = 'PREFIX = "AKIAZ7"  # jane.doe is a name, corp-mail.de a domain\nhost = "34.102"\n'


def documents() -> list[Document]:
    return [Document.create(repo="corp/sync", path="client.py", content=SECRET_FILE, lang="python"),
            Document.create(repo="plain/x", path="x.py", content=PLAIN_FILE, lang="python")]


def grep_redacted(contents, literal: str) -> dict[str, int]:
    """Ground truth: each content's occurrences of ``literal`` in its redacted text, counted
    left to right in the stretches between placeholders."""
    out = {}
    for content in contents:
        red = redact(content)
        bounds = [0] + [x for _, _, ns, ne in red.spans for x in (ns, ne)] + [len(red.text)]
        n = sum(red.text[a:b].count(literal) for a, b in zip(bounds[::2], bounds[1::2]))
        if n:
            out[content] = n
    return out


@pytest.fixture()
def store(empty_store):
    with empty_store.session() as s:
        s.add(documents())
    return empty_store


def totals(store, literal, **kw):
    return store.search(parse_query(literal, exact=True, **kw), page=Page(1, 100)).total


def test_extending_a_prefix_of_a_redacted_key_or_email_finds_nothing(store):
    for secret in (KEY, EMAIL):
        start = len("AKIAZ7" if secret == KEY else "jane.doe") + 1  # past what PLAIN_FILE holds
        for n in range(start, len(secret) + 1):
            assert totals(store, secret[:n], redacted=True) == 0, secret[:n]
            assert totals(store, secret[:n]) == 1  # the stored text, as the CLI searches it
    assert totals(store, f'"{KEY}"', redacted=True) == 0
    assert totals(store, 'AWS_ACCESS_KEY_ID = "AK', redacted=True) == 0  # a literal reaching into a key
    assert totals(store, "136.180", redacted=True) == 0 and totals(store, "136.180") == 1


def test_a_document_matching_outside_pii_too_counts_only_those_matches(store):
    result = store.search(parse_query("AKIA", exact=True, redacted=True))
    assert result.total == 2
    hit = next(h for h in result.hits if h.document.primary.repo == "corp/sync")
    assert hit.match_count == 1
    (snip,) = hit.snippets
    assert snip.line == 4 and [snip.text[a:b] for a, b in snip.ranges] == ["AKIA"]
    raw = store.search(parse_query("AKIA", exact=True))
    assert {h.document.primary.repo: h.match_count for h in raw.hits}["corp/sync"] == 2
    # "AKIAZ7" and "jane.doe" lie outside PII in the plain file only
    for literal in ("AKIAZ7", "jane.doe"):
        (hit,) = store.search(parse_query(literal, exact=True, redacted=True)).hits
        assert hit.document.primary.repo == "plain/x"
        assert store.search(parse_query(literal, exact=True)).total == 2


def test_keyword_matches_inside_pii_are_never_highlighted(store):
    q = parse_query("jane", redacted=True)
    hits = {h.document.primary.repo: h for h in store.search(q).hits}
    assert {repo: [h.document.content[a:b] for a, b in match_ranges(h.document.content, q)]
            for repo, h in hits.items()} == {"corp/sync": ["Jane"], "plain/x": ["jane"]}
    assert hits["corp/sync"].match_count == 1
    raw = {h.document.primary.repo: h for h in store.search(parse_query("jane")).hits}
    assert raw["corp/sync"].match_count == 2


GH = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def test_keywords_found_only_inside_pii_find_nothing(empty_store):
    """Word by word along an IP or email address, piece by piece along a token's camel word:
    keyword search for the redacted view finds nothing the redacted text does not hold."""
    with empty_store.session() as s:
        s.add(documents() + [Document.create(repo="corp/ci", path="ci.py", content=f'TOKEN = "{GH}"\nrun(TOKEN)\n')])

    def total(text, **kw):
        return empty_store.search(parse_query(text, **kw)).total

    for text in ("136", "34.102.136", "136.180", "jane.doe@corp", "doe@corp", "ghp", "a1B2c3",
                 "a1B2c3D4e5", "B2c3D4e5", "r8", "34.102.136.180 repo:corp/sync"):
        assert total(text, redacted=True) == 0, text
        assert total(text) >= 1, text
    assert total("34.102", redacted=True) == 1  # the plain file's "34.102"
    assert total("jane.doe", redacted=True) == 2  # "Jane Doe" is the phrase too, outside the address
    assert total("doe", redacted=True) == 2  # "Jane Doe" outside the address
    assert total("token run", redacted=True) == 1  # TOKEN is a name, the value is the key
    hits = empty_store.search(parse_query('"connection" host', redacted=True)).hits
    assert [h.document.primary.repo for h in hits] == ["corp/sync"]


def test_redacted_keyword_results_page_through_exactly(empty_store):
    docs = [Document.create(repo=f"o/r{i}", path="f.py", content=(
        f"alpha = {i}\n" if i % 2 else f"# mail alpha@corp-mail{i}.de\nbeta = {i}\n")) for i in range(21)]
    with empty_store.session() as s:
        s.add(docs)
    q = parse_query("alpha", redacted=True)
    first = empty_store.search(q, page=Page(1, 4))
    assert first.total == 10 and empty_store.search(parse_query("alpha"), page=Page(1, 4)).total == 21
    seen = [h.document.sha for n in range(1, first.pages + 1) for h in empty_store.search(q, page=Page(n, 4)).hits]
    assert len(seen) == len(set(seen)) == 10
    assert all(h.match_count == 1 for n in (1, 2, 3) for h in empty_store.search(q, page=Page(n, 4)).hits)


def test_totals_page_through_exactly_and_equal_grep_over_the_redacted_text(empty_store):
    """Random literals cut around planted PII in many files: the redacted total is the number of
    documents grep finds in the redacted texts, the pages hold exactly those, and each hit's
    match count is grep's count."""
    rng = random.Random(5)
    contents = []
    for i in range(60):
        key = "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
        ip = f"{rng.randint(64, 200)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        mail = f"{rng.choice(['ann', 'bo', 'cy'])}.{rng.choice(['lee', 'ng'])}@mail{i % 3}.org"
        lines = [f"k{i} = '{key}'" if i % 2 else f"k{i} = '{key[:8]}'",  # half hold only a key's prefix
                 f"# contact {mail} from {ip}." if i % 3 else f"# contact {mail.split('@')[0]} at mail{i % 3}.org",
                 "value = compute(key, mail)  # AKIA, @mail0.org"]
        rng.shuffle(lines)
        contents.append("\n".join(lines) + "\n")
    with empty_store.session() as s:
        s.add([Document.create(repo=f"o/r{i}", path="f.py", content=c) for i, c in enumerate(contents)])
    literals = ["AKIA", "mail0.org", "@mail1", ".lee@", "ann", ". ", "' ", "k1 = 'AKIA"]
    for c in contents[:12]:
        i = rng.randrange(len(c) - 12)
        literals.append(c[i:i + rng.randint(3, 12)])
    for literal in literals:
        if "\n" in literal:
            continue
        want = grep_redacted(contents, literal)
        result = empty_store.search(parse_query(literal, exact=True, redacted=True), page=Page(1, 100))
        assert result.total == len(want), literal
        assert {h.document.content: h.match_count for h in result.hits} == want, literal
        if want:
            size = 7
            paged = [h.document.sha for n in range(1, -(-result.total // size) + 1)
                     for h in empty_store.search(parse_query(literal, exact=True, redacted=True),
                                                 page=Page(n, size)).hits]
            assert len(paged) == len(set(paged)) == len(want), literal


@pytest.mark.parametrize("lines_only", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_the_line_by_line_scan_finds_what_a_whole_scan_finds(seed, lines_only):
    """PiiScan looks at the lines a range touches only (until so many that it scans the whole
    text); its answers must be find_pii's."""
    rng = random.Random(seed)
    pieces = ["jane.doe@corp-mail.de", "34.102.136.180", "34.102.136.180.", "2a03:2880:f12f:83:face:b00c:0:25de",
              KEY, 'password = "h7$Kq9!zLm2Pw"', "version 100.200.30.4", "10.0.0.1", "ghp_" + "a1B2c3D4e5" * 4,
              "2001:db8::1", "2606:4700::6810:84e5", "::ffff:34.102.136.180", "fe80::1", "std::vector", "[::-1]",
              "x = 1", "'quoted'", "@decorator", "foo@example.com", "\n", "\n", "\r\n", " ", "  # ", "::", "."]
    text = "".join(rng.choice(pieces) for _ in range(300))
    if seed == 3:  # a PEM key: the one finding that spans lines
        text += "\nk = '''-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----'''\n"
    whole = find_pii(text)
    assert whole
    scan = PiiScan(text)
    if lines_only:
        scan.WHOLE_SCAN_CHARS = len(text) + 1  # never switch to a whole scan
    for _ in range(2000):
        a = rng.randrange(len(text))
        b = min(len(text), a + rng.randint(1, 40))
        over = [f.end for f in whole if f.start < b and a < f.end]
        assert scan.overlap_end(a, b) == (max(over) if over else None), (a, b, text[a:b])


def test_the_line_by_line_scan_agrees_on_real_files_with_planted_pii():
    from .conftest import real_python_files

    rng = random.Random(11)
    for path in real_python_files(30):
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        for _ in range(3):
            lines.insert(rng.randrange(len(lines)), rng.choice([
                f"# by {EMAIL} (see 34.102.136.180.)", f"KEY = '{KEY}'", 'db_password = "h7$Kq9!zLm2Pw"']))
        text = "\n".join(lines)
        whole, scan, at = find_pii(text), PiiScan(text), 0
        scan.WHOLE_SCAN_CHARS = len(text) + 1  # line by line throughout
        for line in lines:
            end = at + max(len(line), 1)
            over = [f.end for f in whole if f.start < end and at < f.end]
            assert scan.overlap_end(at, end) == (max(over) if over else None), (path.name, line)
            at += len(line) + 1


def test_placeholders_are_not_searchable_text():
    """What a placeholder hides is not there, and neither is the placeholder: the redacted
    query finds the literal ``<KEY>`` only where the file itself has it."""
    content = f'k = "{KEY}"  # literally <KEY>\n'
    assert [content[a:b] for a, b in match_ranges(content, parse_query("<KEY>", exact=True, redacted=True))] == ["<KEY>"]
    assert re.escape(PLACEHOLDERS["KEY"]) in re.escape(redact(content).text)


@pytest.mark.parametrize("prefix", ["", "# İstanbul\n"])  # İ lowercases to two characters
def test_keyword_occurrences_are_phrases_and_camel_pieces(prefix):
    content = prefix + "a = fooBar(foo_bar, foobar) + Foo.bar + xfoo_bar  # foo  bar; getFooBAr\n"

    def found(text):
        (kw,) = parse_query(text).keywords
        return sorted(set(content[s:e] for s, e in keyword_occurrences(content, kw)))

    # a phrase of words whatever separates them, or the pieces of one camel word
    assert found("foo.bar") == ["Foo.bar", "foo  bar", "fooBar", "foo_bar"]
    assert found("fooBar") == ["Foo.bar", "foo  bar", "fooBar", "foo_bar", "foobar"]
    assert found("bar") == ["Bar", "bar"]  # never inside foobar, nor the B of BAr
    assert found("foobar") == ["fooBar", "foobar"]


def test_every_keyword_match_of_the_index_is_seen_where_it_lies(real_store):
    """The check of a redacted keyword query reads where the index matched each keyword
    (keyword_occurrences); on real code it must see every document the index returns, for
    identifiers, pieces of camel words and dotted names, so that no result is kept unchecked."""
    store, docs = real_store
    rng = random.Random(3)
    texts = [d.content for d in docs[:40]]
    words = sorted({w for t in texts for w in re.findall(r"[A-Za-z_][A-Za-z0-9_.]{2,30}", t)})
    queries = rng.sample(words, 80) + ["parseArgs", "Error", "os.path", "self.assert", "HTTPServer", "get_bar"]
    checked = 0
    for text in queries:
        q = parse_query(text)
        for h in store.search(q, page=Page(1, 100)).hits:
            for kw in q.keywords:
                assert next(keyword_occurrences(h.document.content, kw), None) is not None, (text, kw.text)
                checked += 1
    assert checked > 500
