import random
from dataclasses import replace

import numpy as np
import pytest

from indexer.index_dir import IndexDir
from membership.attribution import AttributionConfig, AttributionInputError, TextTooLong, hit_spans
from membership.bloom import BloomFileError
from membership.chunks import normalize
from membership.sequences import text_path
from membership.sketch import SketchMissing, bloom_path

from .conftest import HEADER, MIT_HEADER, pieces_of


def plant(rng, source: str, filler: list[str], length: int) -> tuple[str, int, int]:
    """``source[a:a+length]`` between two pieces of held-out code; returns the query and the
    raw range of the planted text inside it."""
    a = rng.randrange(0, len(source) - length)
    left = rng.choice(filler)[:rng.randint(0, 400)]
    right = rng.choice(filler)[:rng.randint(0, 400)]
    query = left + "\n" + source[a:a + length] + "\n" + right
    return query, len(left) + 1, len(left) + 1 + length


def core(text: str, start: int, end: int) -> tuple[int, int]:
    """The planted range without the whitespace at its edges (spans never start or end on it)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def normalized_index(text: str, raw: int) -> int:
    return int(np.searchsorted(normalize(text).raw_starts, raw))


def extendable(q: str, qs: int, qe: int, s: str, ss: int, se: int) -> bool:
    """Whether a match q[qs:qe] == s[ss:se] (normalized) could grow by a non-space character."""
    def grows(i, j, step):
        while 0 <= i < len(q) and 0 <= j < len(s) and q[i] == s[j]:
            if not q[i].isspace():
                return True
            i, j = i + step, j + step
        return False
    return grows(qs - 1, ss - 1, -1) or grows(qe, se, 1)


def test_planted_spans_are_found_whole_verbatim_and_maximal(corpus, index, held_out):
    """Property: spans of 99-1500 characters from random documents, planted in held-out code,
    are always reported (recall), every reported span is verbatim in each listed source
    (precision), and no reported span can be extended (maximality)."""
    _, docs = corpus
    rng = random.Random(21)
    for trial in range(60):
        doc = rng.choice(docs)
        length = rng.randint(99, 1500)
        if len(doc.content) <= length + 1 or len(normalize(doc.content[:length]).text) < 99:
            continue
        query, a, b = plant(rng, doc.content, held_out, length)
        a, b = core(query, a, b)
        if len(normalize(query[a:b]).text) < 99:
            continue  # whitespace-heavy: fewer than 99 normalized characters planted
        result = index.attribute(query)
        covering = [s for s in result.spans if s.start <= a and b <= s.end]
        assert covering, (trial, doc.path, a, b, [(s.start, s.end) for s in result.spans])
        assert any((src.repo, src.path) == (doc.repo, doc.path) or
                   any(o["repo"] == doc.repo for o in src.also_in)
                   for s in covering for src in s.sources), trial
        nq = normalize(query).text
        for span in result.spans:
            piece = normalize(span.text).text
            qs = normalized_index(query, span.start)
            assert nq[qs:qs + len(piece)] == piece
            growable = []
            for src in span.sources:
                content = index.store.get(src.sha).content
                ns = normalize(content).text
                ss = normalized_index(content, src.start)
                assert ns[ss:ss + len(piece)] == piece, (trial, src.path)
                assert normalize(content[src.start:src.end]).text == piece
                growable.append(extendable(nq, qs, qs + len(piece), ns, ss, ss + len(piece)))
            # maximal: in its first source (others may hold a longer match, a span of its own)
            assert growable and not growable[0], trial


def spans_by_definition(offsets: list[int], width: int, stride: int):
    """Hit windows grouped one by one, as membership defines its spans: windows that overlap or
    touch join a span; a hit ``stride`` after another extends that one's chain."""
    chain: dict[int, int] = {}
    for i in offsets:
        chain[i] = chain.get(i - stride, 0) + 1
    spans, group = [], []
    for i in offsets + [None]:
        if group and (i is None or i > group[-1] + width):
            spans.append((group[0], group[-1] + width, len(group), max(chain[j] for j in group)))
            group = []
        if i is not None:
            group.append(i)
    return spans, max(chain.values(), default=0)


def test_hit_spans_group_and_chain_hits_as_defined():
    rng = np.random.default_rng(18)
    for trial in range(2000):
        n = int(rng.integers(1, 800))
        hit = rng.random(n) < rng.choice([0.005, 0.05, 0.3, 0.95])
        for _ in range(rng.integers(0, 4)):  # chains of chunks, as a copied passage gives
            start = rng.integers(0, n)
            hit[start::50][:rng.integers(1, 12)] = True
        offsets = np.flatnonzero(hit)
        for width, stride in ((50, 50), (20, 7), (8, 1)):
            assert hit_spans(offsets, width, stride) == spans_by_definition(offsets.tolist(), width, stride), trial


def test_a_reindented_crlf_copy_is_a_member_in_raw_coordinates(corpus, index, held_out):
    _, docs = corpus
    code = docs[7].content[500:1500]
    copy = code.replace("\n    ", "\r\n\t").replace("\n", "\r\n")
    query = held_out[0][:300] + "\n" + copy + "\n" + held_out[1][:300]
    a, b = core(query, 301, 301 + len(copy))
    for exact in (False, True):
        result = index.test(query, exact=exact)
        assert result.member
        # Covered; without exact a false positive of the filter that touches the copy may widen
        # its span by a window (it does with this filter's bits), so only the confirmed spans
        # are held inside it (below).
        covered = sum(max(0, min(s.end, b) - max(s.start, a)) for s in result.spans)
        assert covered >= (b - a) - 2 * 99
        assert result.longest_chain >= 500 and 0 < result.fraction < 1
    confirmed = index.test(query, exact=True)
    assert all(a - 2 <= s.start and s.end <= b + 2 for s in confirmed.spans)
    attributed = index.attribute(query)
    best = max(attributed.spans, key=lambda s: s.normalized_length)
    assert best.sources[0].path == docs[7].path and best.start_line > 1


def test_false_positive_rate_on_held_out_code_matches_the_filter(corpus, index, held_out):
    """Bloom hits that the store cannot confirm are false positives; over held-out code their
    rate must match the filter's theoretical rate (within 5 standard deviations)."""
    windows = false_hits = 0
    for text in held_out[:12]:
        bloom_only = index.test(text)
        confirmed = index.test(text, exact=True)
        windows += bloom_only.windows
        false_hits += bloom_only.hits - confirmed.hits
    p = index.filter_info["fpr_theoretical"]
    sigma = (windows * p * (1 - p)) ** 0.5
    assert windows > 50_000
    assert abs(false_hits - windows * p) <= 5 * sigma + 1, (false_hits, windows * p)


def test_exact_duplicates_list_every_source_and_their_licenses(corpus, index):
    _, docs = corpus
    result = index.attribute(docs[0].content[:2000])
    span = max(result.spans, key=lambda s: s.normalized_length)
    assert span.count == 2 and span.contents == 1 and not span.common
    (src,) = span.sources
    assert src.documents == 2
    repos = {src.repo} | {o["repo"] for o in src.also_in}
    assert repos == {docs[0].repo, "fork/copy"}
    assert span.licenses["copyleft"] and "GPL-3.0-only" in span.licenses["licenses"]
    assert result.licenses["copyleft"]


def test_boilerplate_is_common_and_reported_apart(index):
    query = HEADER + "\nclass Original:\n    '''code that is nowhere in the corpus at all'''\n"
    result = index.attribute(query)
    # (one stdlib file quotes the header's first lines too: that shorter span is its own)
    span = max(result.spans, key=lambda s: s.normalized_length)
    assert all(s.common for s in result.spans) and not result.truncated
    # its chunks are held by 15 files: all counted, exactly, none of them read
    assert span.count == span.contents == 15 and span.count_complete
    assert span.text.startswith("# Licensed") and span.start == 0
    assert result.coverage == 0 and result.longest == 0 and result.licenses["sources"] == 0
    relaxed = index.attribute(query, common_threshold=20)
    longest = max(relaxed.spans, key=lambda s: s.normalized_length)
    assert not longest.common and relaxed.coverage > 0.5
    assert len(longest.sources) == 10 and longest.count == 15 and longest.count_complete
    assert len(index.attribute(query, max_sources=3).spans[0].sources) == 3


def test_min_length_drops_shorter_spans(corpus, index, held_out):
    _, docs = corpus
    query = held_out[2][:200] + "\n" + docs[9].content[100:260] + "\n" + held_out[3][:200]
    lengths = [s.normalized_length for s in index.attribute(query).spans]
    assert lengths and min(lengths) >= 50
    assert not [s for s in index.attribute(query, min_length=max(lengths) + 1).spans]


def test_text_with_nul_bytes_and_unicode_is_attributed(corpus, index):
    _, docs = corpus
    query = "\0\0 😀 é\n" + docs[4].content[:800] + "\n\0"
    result = index.attribute(query)
    assert result.spans and result.spans[0].start >= 7


@pytest.mark.parametrize("text, code", [("", "empty_text"), (" \n\t ", "empty_text"),
                                        ("x = 1\n" * 5, "text_too_short")])
def test_unusable_text_is_refused_with_a_reason(index, text, code):
    for call in (index.test, index.attribute):
        with pytest.raises(AttributionInputError) as e:
            call(text)
        assert e.value.code == code and e.value.status == 400


def test_oversize_text_is_refused_with_the_limit(corpus):
    small = IndexDir(corpus[0]).membership(AttributionConfig(max_chars=1000))
    with pytest.raises(TextTooLong) as e:
        small.attribute("x" * 1001)
    assert e.value.status == 413 and "1,000" in str(e.value)


def test_bad_knobs_are_refused(index):
    with pytest.raises(AttributionInputError):
        index.attribute("x" * 100, min_length=0)
    with pytest.raises(ValueError):
        AttributionConfig(common_threshold=0)


def test_an_index_without_a_usable_filter_is_refused_with_the_fix(corpus, tmp_path):
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(corpus[0], copy)
    path = bloom_path(copy)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(BloomFileError, match="truncated"):
        IndexDir(copy).membership()
    path.unlink()
    with pytest.raises(SketchMissing, match="starscope index"):
        IndexDir(copy).membership()


def inside(ranges, a, b) -> int:
    """How many characters of [a, b) the ranges cover."""
    return sum(max(0, min(b, e) - max(a, s)) for s, e in ranges)


def test_a_text_held_by_many_contents_is_attributed_whole_whatever_max_candidates(crowd):
    """Twelve files hold pieces of the text: each piece is a span with its file as the first
    source, with max_candidates at five as at 200 (it bounds near-duplicates only): nothing
    is fetched to be verified, only the sources shown."""
    index_dir, docs, _ = crowd
    text, pieces = pieces_of(docs)
    for config in (AttributionConfig(max_candidates=5), AttributionConfig()):
        result = IndexDir(index_dir).membership(config).attribute(text, near_duplicates=False)
        assert not result.truncated and result.to_json()["truncated"] is False
        assert result.limits.incomplete_counts == 0 and "unverified" not in result.to_json()
        for doc, (a, b) in zip(docs, pieces):
            spans = [s for s in result.spans if s.sources and s.sources[0].path == doc.path]
            assert inside([(s.start, s.end) for s in spans], a, b) >= b - a - 1, doc.path
        assert all(s.count_complete for s in result.spans)
        assert result.candidates == len({src.sha for s in result.spans for src in s.sources}) >= 12


def test_a_span_held_by_edited_copies_counts_every_copy(crowd):
    """Eight edited copies hold a file's first lines: the span counts all eight, exactly,
    whatever max_candidates is (five fetched candidates gave a count of five)."""
    index_dir, _, original = crowd
    lines = original.content.splitlines(keepends=True)
    text = "".join(lines[:len(lines) // 9])  # the copies' first edit is on the next line
    result = IndexDir(index_dir).membership(AttributionConfig(max_candidates=5)).attribute(
        text, near_duplicates=False)
    longest = max(result.spans, key=lambda s: s.normalized_length)
    assert not result.truncated and longest.count == longest.contents == 8 and longest.count_complete
    assert not longest.common and len(longest.sources) == 8


def test_boilerplate_blocks_are_common_with_exact_counts_at_any_alignment(crowd):
    """The Apache header is held by 15 files at their top and by 12 one line lower (their
    chunks cut it elsewhere: another alignment of the query's windows); the MIT header by 12.
    Both blocks are one common span each, counted exactly (27 and 12), nothing truncated."""
    index_dir, _, _ = crowd
    text = HEADER + "\n" + MIT_HEADER
    index = IndexDir(index_dir).membership()
    result = index.attribute(text, near_duplicates=False)
    assert not result.truncated and result.coverage == 0
    blocks = [(0, len(HEADER.rstrip())), (len(HEADER) + 1, len(text.rstrip()))]
    for (a, b), want in zip(blocks, (27, 12)):
        (span,) = [s for s in result.spans if s.start <= a and b <= s.end]
        assert span.common and span.count == span.contents == want and span.count_complete
        assert span.licenses["sources"] == want and len(span.sources) == 10
    relaxed = index.attribute(text, common_threshold=30, near_duplicates=False)
    assert not any(s.common for s in relaxed.spans) and relaxed.coverage > 0.95
    assert relaxed.licenses["sources"] == 39


def test_a_span_held_by_more_documents_than_are_counted_says_its_count_is_a_lower_bound(crowd):
    """Past max_counted documents a span's sources are not all summed: its count is a lower
    bound (count_complete false), its contents exact, and the answer truncated."""
    index_dir, _, _ = crowd
    result = IndexDir(index_dir).membership(AttributionConfig(max_counted=10)).attribute(
        HEADER, near_duplicates=False)
    (span,) = result.spans
    assert result.truncated and result.limits.incomplete_counts == 1 and result.limits.max_counted == 10
    assert span.common and not span.count_complete and span.contents == 27 and span.count == 27


def test_exact_membership_confirms_every_hit_past_max_candidates(crowd):
    """Exact membership looks up the chunks the capped fetch missed one by one: never cut."""
    index_dir, docs, _ = crowd
    text, pieces = pieces_of(docs)
    small = IndexDir(index_dir).membership(AttributionConfig(max_candidates=2)).test(text, exact=True)
    large = IndexDir(index_dir).membership().test(text, exact=True)
    assert small.hits == large.hits and small.to_json()["spans"] == large.to_json()["spans"]
    for a, b in pieces:
        assert inside([(s.start, s.end) for s in small.spans], a, b) >= b - a - 2 * 99


def test_pieces_of_documents_normalize_as_the_whole_documents_do_there():
    """Edges are grown on pieces of sources' raw text, normalized together in one pass: each
    piece gives the same characters, at the same raw offsets, as normalizing its whole document,
    whatever whitespace (breaks, tabs, Unicode spaces) lies at the pieces' ends."""
    from membership.attribution import _Pieces

    rng = random.Random(1)
    alphabet = ["a", "b", " ", "\t", "\n", "\r", "\x1c", "\xa0", "\u3000", "é", "😀", "\u2028", "\0"]
    for _ in range(300):
        cases = []
        while len(cases) < 10:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
            norm = normalize(text)
            if not len(norm):
                continue
            i = rng.randrange(len(norm))
            j = rng.randrange(i, len(norm) + 1)
            a = int(norm.raw_starts[i])
            raw = text[a:int(norm.raw_starts[j])] if j < len(norm) else text[a:].rstrip()
            cases.append((text, norm, i, j, a, raw))
        pieces = _Pieces([raw for *_, raw in cases])
        for k, (text, norm, i, j, a, raw) in enumerate(cases):
            got = pieces.codes[pieces.start[k]:pieces.end[k]]
            assert got.tolist() == norm.codes[i:j].tolist(), (text, i, j)
            x = np.arange(j - i)
            assert (a + pieces.raw_start(k, x)).tolist() == norm.raw_starts[i:j].tolist(), (text, i, j)
            assert (a + pieces.raw_end(k, x)).tolist() == norm.raw_ends[i:j].tolist(), (text, i, j)


def test_a_span_inside_a_longer_one_of_the_same_documents_is_left_out(tmp_path):
    """File F holds block B twice, in different surroundings. Attributing F, B's first copy is
    also held, maximally, by F's second: a span held by the same file as the whole query says
    nothing more and is left out. Once another file G holds B too, B's span is new (G) and is
    reported, with both files."""
    from indexer.build import build_index

    from ..indexer.conftest import real_documents
    from .conftest import write_jsonl

    texts = [d.content for d in real_documents(60) if len(d.content) > 3000]
    block = texts[0][:600]
    f = texts[1][:1500] + "\n# first copy\n" + block + "\n# in between\n" + texts[2][:1500] + \
        "\n# second copy\n" + block + "\n# the end\n"
    g = texts[3][:1500] + "\n# quoted in g\n" + block + "\n# g goes on\n" + texts[4][:1500]
    rows = [{"content": f, "repo": "a/f", "path": "f.py", "stars": 1}]
    for name, extra in (("alone", []), ("quoted", [{"content": g, "repo": "b/g", "path": "g.py", "stars": 9}])):
        write_jsonl(tmp_path / f"{name}.jsonl", rows + extra)
        build_index([tmp_path / f"{name}.jsonl"], tmp_path / name, progress=False)
        result = IndexDir(tmp_path / name).membership().attribute(f, near_duplicates=False)
        assert result.coverage == 1.0
        paths = [[src.path for src in span.sources] for span in result.spans]
        if name == "alone":
            assert paths == [["f.py"]], [(s.start, s.end) for s in result.spans]
        else:
            assert paths[0] == ["f.py"] and len(paths) == 3  # the block's two copies in F
            for span in result.spans[1:]:
                assert span.count == 2 and sorted(paths[1]) == ["f.py", "g.py"]
                assert block.strip()[100:-100] in span.text


@pytest.mark.parametrize("read, together", [("text", 64), ("store", 64), ("store", 0)])
def test_a_holder_gone_from_the_store_is_neither_read_nor_listed(tmp_path, read, together, monkeypatch):
    """Edges are read from the span index's text; without it, from the store: a few holders
    fetched together, many (together=0 here) one per neighbouring chunk, the first by stars.
    When a holder has left the store without an opt-out on record (the span index still lists
    it), it is listed nowhere (and from the store, the others are read instead)."""
    from indexer.build import build_index
    from membership import attribution

    monkeypatch.setattr(attribution, "_FETCH_TOGETHER", together)

    from ..indexer.conftest import real_documents
    from .conftest import write_jsonl

    texts = [d.content for d in real_documents(60) if len(d.content) > 3000]
    block = texts[0][:1200]
    rows = [{"content": texts[1][:800] + "\n# f\n" + block + "\n# f ends\n", "repo": "a/f", "path": "f.py", "stars": 1},
            {"content": texts[2][:800] + "\n# g\n" + block + "\n# g ends\n", "repo": "b/g", "path": "g.py", "stars": 5},
            {"content": texts[3][:800] + "\n# h\n" + block + "\n# h ends\n", "repo": "c/h", "path": "h.py", "stars": 9}]
    write_jsonl(tmp_path / "c.jsonl", rows)
    build_index([tmp_path / "c.jsonl"], tmp_path / "index", progress=False)
    index = IndexDir(tmp_path / "index")
    if read == "store":
        text_path(index.path).unlink()
    assert (index.membership().texts is None) == (read == "store")
    before = index.membership().attribute(block, near_duplicates=False)
    assert [src.path for src in before.spans[0].sources] == ["h.py", "g.py", "f.py"]
    with index.store.session() as s:
        assert s.delete(repo="c/h") == 1
    after = index.membership().attribute(block, near_duplicates=False)
    assert [src.path for src in after.spans[0].sources] == ["g.py", "f.py"]
    assert (after.spans[0].start, after.spans[0].end) == (before.spans[0].start, before.spans[0].end)
    assert after.coverage == before.coverage == 1.0


def test_a_holder_reaching_further_than_the_first_source_gives_the_longer_span(tmp_path):
    """The query is the start of file F; a more-starred file G shares F's first 2,000
    characters only. Their chunks match alike, G is listed first, and G's edges stop at 2,000:
    F's reach the query's end, under 50 characters further, as a span of its own (nothing of
    the query is left out), and the shorter span counts both files."""
    from indexer.build import build_index

    from ..indexer.conftest import real_documents
    from .conftest import write_jsonl

    base = next(d.content for d in real_documents(60) if len(normalize(d.content[:2100]).text) > 2060
                and "\n\n" not in d.content[1900:2100])
    f, g = base, base[:2000] + "\n# a different ending, nowhere else\nEND = 1\n"
    write_jsonl(tmp_path / "c.jsonl", [{"content": f, "repo": "a/f", "path": "f.py", "stars": 1},
                                       {"content": g, "repo": "b/g", "path": "g.py", "stars": 9}])
    build_index([tmp_path / "c.jsonl"], tmp_path / "index", progress=False)
    query = base[:2030]
    result = IndexDir(tmp_path / "index").membership().attribute(query, near_duplicates=False)
    whole = [s for s in result.spans if s.end == len(query.rstrip())]
    assert whole and [src.path for src in whole[0].sources] == ["f.py"] and whole[0].count == 1
    shorter = [s for s in result.spans if s.end < len(query.rstrip())]
    assert shorter and shorter[0].count == 2 and [src.path for src in shorter[0].sources][0] == "g.py"


def test_edges_read_from_the_span_text_or_the_store_give_the_same_answers(corpus, index, held_out):
    """The span index's text and the store hold the same characters: answers are the same
    either way, and with the text only the sources listed are fetched from the store."""
    root, docs = corpus
    store_only = IndexDir(root).membership()
    store_only.texts = None
    assert index.texts is not None
    texts = [d.content[:3000] for d in docs[:12]] + [held_out[0][:1500] + docs[3].content[:1500]]
    texts.append(HEADER + docs[5].content[:800])
    for text in texts:
        a, b = index.attribute(text, near_duplicates=False), store_only.attribute(text, near_duplicates=False)
        assert a.spans and replace(a, candidates=0) == replace(b, candidates=0)
        assert a.candidates == len({src.sha for span in a.spans for src in span.sources}) <= b.candidates
