"""The inputs that made attribution slow before the span index, each answered whole: boilerplate
held by thousands of files, a multi-megabyte vendored file, and a text made of many corpus
files (issue 18). Both stores."""

import random

import pytest

from indexer.build import build_index
from indexer.index_dir import IndexDir
from membership.chunks import normalize

from ..backends import BACKENDS, build_config
from ..indexer.conftest import real_documents
from .conftest import HEADER, write_jsonl

BOILERPLATE_FILES = 3000


def vendored_library(rng: random.Random, size: int) -> str:
    """A multi-megabyte file of real code: stdlib files one after the other, each renamed so
    that no part repeats."""
    parts, n = [], 0
    docs = real_documents(120)
    while n < size:
        d = rng.choice(docs)
        part = f"# --- vendored copy {len(parts)} of {d.path} ---\n" + d.content.replace("def ", f"def v{len(parts)}_")
        parts.append(part)
        n += len(part)
    return "".join(parts)


@pytest.fixture(scope="module", params=BACKENDS)
def slow_corpus(request, tmp_path_factory):
    base = tmp_path_factory.mktemp("slow")
    rng = random.Random(18)
    files = real_documents(40)
    vendored = vendored_library(rng, 3 << 20)
    rows = [{"content": HEADER + f"\nVALUE_{i} = {i}\n", "repo": f"boiler/p{i}", "path": "x.py",
             "licenses": ["Apache-2.0"], "stars": i % 7} for i in range(BOILERPLATE_FILES)]
    rows += [{"content": d.content, "repo": d.repo, "path": d.path, "licenses": list(d.licenses)} for d in files]
    rows.append({"content": vendored, "repo": "big/vendor", "path": "third_party/lib.py", "licenses": ["MIT"]})
    write_jsonl(base / "corpus.jsonl", rows)
    build_index([base / "corpus.jsonl"], base / "index", config=build_config(request.param, request), progress=False)
    return IndexDir(base / "index").membership(), files, vendored


def test_boilerplate_held_by_thousands_of_files_is_counted_exactly(slow_corpus):
    index, _, _ = slow_corpus
    result = index.attribute(HEADER + "\nclass Mine:\n    '''held by no one'''\n", near_duplicates=False)
    header = max(result.spans, key=lambda s: s.normalized_length)
    assert header.common and header.start == 0 and header.count == header.contents == BOILERPLATE_FILES
    assert header.count_complete and not result.truncated
    assert header.licenses["sources"] == BOILERPLATE_FILES and len(header.sources) == 10
    assert [s.stars for s in header.sources] == [6] * 10  # the most-starred first
    assert result.candidates <= 10 + len(result.spans) * 10  # the sources shown, not the holders


def test_a_window_of_a_multi_megabyte_vendored_file_is_one_span_at_its_place(slow_corpus):
    index, _, vendored = slow_corpus
    rng = random.Random(7)
    for _ in range(5):
        a = rng.randrange(len(vendored) - 5000)
        text = vendored[a:a + 4096]
        result = index.attribute(text, near_duplicates=False)
        longest = max(result.spans, key=lambda s: s.normalized_length)
        assert longest.normalized_length >= len(normalize(text)) - 2  # whole, but edge whitespace
        (src,) = [s for s in longest.sources if s.path == "third_party/lib.py"]
        assert normalize(vendored[src.start:src.end]).text == normalize(longest.text).text
        assert abs(src.start - a - longest.start) <= 1
        assert src.start_line == vendored.count("\n", 0, src.start) + 1


def test_many_corpus_files_in_one_text_are_each_attributed_to_their_file(slow_corpus):
    index, files, _ = slow_corpus
    pieces = [d.content[:1500] for d in files]
    text = "\n\n".join(pieces)
    result = index.attribute(text, near_duplicates=False)
    assert not result.truncated
    at = 0
    for d, piece in zip(files, pieces):
        a, b = at + len(piece) - len(piece.lstrip()), at + len(piece.rstrip())  # spans skip edge whitespace
        at += len(piece) + 2
        if len(normalize(piece).text) < 99:
            continue
        covered = set()  # of the file's piece, the characters inside a span listing the file
        for s in result.spans:
            if any(src.path == d.path for src in s.sources):
                covered.update(range(max(a, s.start), min(b, s.end)))
        assert len(covered) == b - a, d.path
