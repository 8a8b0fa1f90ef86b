from indexer.query import parse_query
from indexer.snippets import MAX_LINE_CHARS, line_snippets, match_ranges


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
