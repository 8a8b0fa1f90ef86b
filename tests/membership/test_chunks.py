import random
import re

import numpy as np
import pytest

from membership.chunks import (ChunkConfig, chunk_hashes, document_chunk_hashes, document_chunks,
                               normalize, window_hashes)

from ..indexer.conftest import real_documents


def reference_normalize(text: str) -> str:
    """The definition with regexes (slow, obviously right)."""
    text = re.sub(r"[^\S\r\n]*[\r\n]\s*", "\n", text)
    return re.sub(r"[^\S\n]+", " ", text).strip()


@pytest.mark.parametrize("raw, expected", [
    ("  def f():\r\n\r\n      return 1  \n", "def f():\nreturn 1"),
    ("a\t\t b", "a b"),
    ("a \u3000 b\u2028c\x85d", "a b c d"),
    ("", ""), (" \n\t ", ""), ("x", "x"),
])
def test_normalize_examples(raw, expected):
    assert normalize(raw).text == expected == reference_normalize(raw)


def test_normalize_equals_the_definition_on_random_and_real_text():
    rng = random.Random(5)
    alphabet = "ab \t\n\r\x0b\x0c\x1c\xa0\u2003é€😀"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    texts += [d.content for d in real_documents(40)]
    for t in texts:
        n = normalize(t)
        assert n.text == reference_normalize(t), repr(t)
        # the index-time path (no Normalized built) cuts and maps the same characters
        (hashes,), (offsets,) = document_chunks([t])
        assert hashes.tolist() == chunk_hashes(n.codes).tolist()
        assert offsets.tolist() == n.raw_starts[:50 * len(hashes):50].tolist()


def test_every_normalized_character_maps_back_to_its_raw_range():
    rng = random.Random(6)
    for _ in range(500):
        raw = "".join(rng.choice("ab \t\n\r") for _ in range(rng.randint(1, 60)))
        n = normalize(raw)
        for i, ch in enumerate(n.text):
            piece = raw[n.raw_starts[i]:n.raw_ends[i]]
            if ch in " \n":
                assert piece.isspace() and (ch == " ") == ("\n" not in piece and "\r" not in piece)
            else:
                assert piece == ch
        if len(n):
            s, e = n.raw_span(0, len(n))
            assert reference_normalize(raw[s:e]) == n.text


def test_reindented_and_crlf_copies_normalize_alike():
    code = "def f(x):\n    if x:\n        return 1\n    return 2\n"
    copy = "def f(x):\r\n\tif x:\r\n\t\treturn 1   \r\n\r\n\treturn 2"
    assert normalize(code).text == normalize(copy).text


def test_a_batch_hashes_each_document_alone():
    batch = [d.content for d in real_documents(20)] + ["", "short", "é" * 120, "x = 1\n" * 30]
    got = document_chunk_hashes(batch)
    assert len(got) == len(batch)
    for content, hashes in zip(batch, got):
        assert hashes.tolist() == chunk_hashes(normalize(content).codes).tolist()
    for cfg in (ChunkConfig(width=20, stride=7), ChunkConfig(width=50, stride=50, seed=1)):
        assert [h.tolist() for h in document_chunk_hashes(batch[:3], cfg)] == [
            chunk_hashes(normalize(c).codes, cfg).tolist() for c in batch[:3]]
    assert [len(h) for h in document_chunk_hashes(["", "a"])] == [0, 0]


def test_chunks_are_the_windows_at_the_stride():
    codes = normalize(real_documents(1)[0].content).codes
    windows = window_hashes(codes)
    assert len(windows) == len(codes) - 49
    assert chunk_hashes(codes).tolist() == windows[::50].tolist()
    assert len(chunk_hashes(codes[:49])) == 0 and len(window_hashes(codes[:49])) == 0
    assert len(chunk_hashes(codes[:50])) == 1


def python_chunk_hash(chunk: str, seed: int) -> int:
    """FNV-1a over code points, then fmix64: the documented scheme, in plain integers."""
    mask = (1 << 64) - 1
    h = 0xCBF29CE484222325 ^ seed
    for ch in chunk:
        h = ((h ^ ord(ch)) * 0x100000001B3) & mask
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & mask
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & mask
    return h ^ (h >> 33)


def test_hashes_follow_the_documented_scheme_and_are_pinned():
    text = normalize("x = 1\n" * 20 + "é😀" * 30).text
    seed = ChunkConfig().seed
    got = chunk_hashes(normalize(text).codes).tolist()
    assert got == [python_chunk_hash(text[i:i + 50], seed) for i in range(0, len(text) - 49, 50)]
    # pinned: an index built on one machine is read on any other (the values of the 16-hex-digit
    # terms "1de80d12e91b6afe" and "1ada95c7d1551ca6" that stores were once asked for)
    assert chunk_hashes(normalize("x = 1\n" * 20).codes)[:2].tolist() == [0x1DE80D12E91B6AFE, 0x1ADA95C7D1551CA6]


@pytest.mark.parametrize("text", ["x = 1\n" * 20 + "é😀" * 30, "def f(a, b):\n    return a + b\n" * 9])
@pytest.mark.parametrize("config", [ChunkConfig(), ChunkConfig(width=20, stride=7, seed=(1 << 64) - 3)])
def test_every_window_hash_follows_the_documented_scheme(text, config):
    """Query windows are hashed apart from stored chunks (at every offset, for speed): they
    must stay the same values, or nothing a query asks would ever hit."""
    norm = normalize(text)
    got = window_hashes(norm.codes, config).tolist()
    assert got == [python_chunk_hash(norm.text[i:i + config.width], config.seed)
                   for i in range(len(norm.text) - config.width + 1)]
    assert got[::config.stride] == chunk_hashes(norm.codes, config).tolist()
    assert window_hashes(norm.codes[:config.width - 1], config).dtype == np.uint64


@pytest.mark.slow
def test_distinct_windows_of_real_code_get_distinct_hashes():
    text = "\n".join(d.content for d in real_documents(30))
    codes = normalize(text).codes
    hashes = window_hashes(codes)
    view = np.lib.stride_tricks.sliding_window_view(codes, 50)
    distinct_windows = len(np.unique(view, axis=0))
    assert len(np.unique(hashes)) == distinct_windows


def test_any_overlap_of_99_characters_is_found_wherever_it_lies():
    """Property: a verbatim copy of >= width + stride - 1 normalized characters, placed anywhere
    in unrelated text, always contains a window equal to one of the source's chunks."""
    cfg = ChunkConfig()
    rng = random.Random(9)
    docs = [d.content for d in real_documents(20)]
    for trial in range(300):
        source = rng.choice(docs)
        src = normalize(source).text
        length = rng.randint(cfg.guaranteed_overlap, cfg.guaranteed_overlap + 60)
        start = rng.randrange(0, len(src) - length)
        noise = lambda: "".join(rng.choice("qwz;#[]") for _ in range(rng.randint(0, 80)))
        query = noise() + src[start:start + length] + noise()
        chunks = set(document_chunk_hashes([source], cfg)[0].tolist())
        windows = set(window_hashes(normalize(query).codes, cfg).tolist())
        assert chunks & windows, (trial, start, length)


def test_a_shorter_overlap_can_be_missed():
    # 98 characters starting one past a chunk boundary hold no whole chunk: the bound is tight
    src = "".join(chr(0x4E00 + i) for i in range(300))
    chunks = set(chunk_hashes(normalize(src).codes).tolist())
    query = src[1:99]
    assert not chunks & set(window_hashes(normalize(query).codes).tolist())


@pytest.mark.parametrize("kwargs", [dict(width=4), dict(stride=0), dict(stride=60), dict(seed=-1)])
def test_bad_configs_are_refused(kwargs):
    with pytest.raises(ValueError):
        ChunkConfig(**kwargs)
