from indexer.query import parse_query
from indexer.snippets import MAX_LINE_CHARS, _merge, line_snippets, match_ranges


def test_every_match_on_every_line_is_reported_with_line_numbers():
    content = "a = foo\nb = 1\nfoo(foo)\n"
    ranges = match_ranges(content, parse_query("foo"))
    snippets = line_snippets(content, ranges)
    assert [(s.line, s.ranges) for s in snippets] == [(1, ((4, 7),)), (3, ((0, 3), (4, 7)))]


def test_keyword_parts_highlight_inside_identifiers():
    content = "x = getFooBar()\n"
    ranges = match_ranges(content, parse_query("foo"))
    assert [content[s:e] for s, e in ranges] == ["Foo"]


def test_literal_ranges_are_case_sensitive_and_exact():
    content = "i++; I++; i ++\n"
    assert match_ranges(content, parse_query("i++", exact=True)) == [(0, 3)]


def test_long_lines_are_windowed_around_the_match():
    content = "x" * 5000 + "needle" + "y" * 5000
    (snip,) = line_snippets(content, match_ranges(content, parse_query("needle", exact=True)))
    assert len(snip.text) == MAX_LINE_CHARS
    s, e = snip.ranges[0]
    assert snip.text[s:e] == "needle" and content[snip.column + s:snip.column + e] == "needle"


def test_snippet_count_is_capped_but_ranges_are_all_counted():
    content = "hit\n" * 500
    ranges = match_ranges(content, parse_query("hit"))
    assert len(ranges) == 500
    assert len(line_snippets(content, ranges, limit=20)) == 20


def test_crlf_lines_drop_the_carriage_return_and_keep_ranges_inside_the_text():
    content = "a = foo\r\nfoo\r\n"
    snippets = line_snippets(content, match_ranges(content, parse_query("foo")))
    assert [(s.line, s.text, s.ranges) for s in snippets] == [(1, "a = foo", ((4, 7),)), (2, "foo", ((0, 3),))]


def brute_force_ranges(content, words, pieces):
    """Every whole word in ``words`` and every camel piece in ``pieces``, by tokenizing."""
    from indexer import analysis
    out = []
    for s, e, w in analysis.word_spans(content):
        if w in words:
            out.append((s, e))
            continue
        cuts = [s] + [i for i in range(s + 1, e) if analysis.is_part_boundary(content, i)] + [e]
        out += [(a, b) for a, b in zip(cuts, cuts[1:]) if content[a:b].lower() in pieces]
    return _merge(out)


def test_match_ranges_equal_a_tokenization_of_real_code():
    from .conftest import real_documents
    for query in ["self", "parse", "value error", "get", "name", "Error", "os.path", "init"]:
        q = parse_query(query)
        words = {w for k in q.keywords for w in k.words}
        pieces = {p for k in q.keywords for p in k.parts}
        for doc in real_documents(25):
            assert match_ranges(doc.content, q) == brute_force_ranges(doc.content, words, pieces), (query, doc.path)


def test_a_rejected_candidate_does_not_hide_an_overlapping_match():
    # "xX" at 0 is no piece; "Xx" at 1 is (x|Xx)
    assert match_ranges("xXx", parse_query("xx")) == [(1, 3)]
