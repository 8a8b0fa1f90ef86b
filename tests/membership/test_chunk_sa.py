"""The chunk-hash suffix array (membership/chunk_sa.py) against brute force on real stdlib code."""

import json
import random

import numpy as np
import pytest

from membership import chunk_sa
from membership.chunk_sa import (MAGIC, ChunkSA, ChunkSAFileError, ChunkSAFormatOutdated, content_chunks,
                                 suffix_array, verify)
from membership.chunks import ChunkConfig, normalize, window_hashes

from ..indexer.conftest import real_python_files

STRIDE = ChunkConfig().stride


def _contents():
    """Real files plus the repetition a corpus holds: an exact copy, a prefix of a file, a file
    with one character changed (same length: the chunks after it are the original's again), a
    file with code appended, and two files concatenated at a chunk boundary."""
    files = [p.read_text(encoding="utf-8", errors="replace") for p in real_python_files(30, seed=18)]
    a, b, c = files[0], files[1], files[2]
    cut = len(a) // 2
    mutated = b[:len(b) // 3] + ("#" if b[len(b) // 3] != "#" else "@") + b[len(b) // 3 + 1:]
    norm_c = normalize(c).text
    joined = norm_c[:STRIDE * (len(norm_c) // STRIDE)] + normalize(b).text
    return files + [a, a[:cut], mutated, c + "\n\ndef appended():\n    return 42\n" * 3, joined, "", "x = 1\n"]


@pytest.fixture(scope="module")
def corpus():
    contents = _contents()
    hashes, offsets, lengths = content_chunks(contents)
    return contents, hashes, ChunkSA.build(hashes, offsets, lengths)


def _suffix(sa_index: ChunkSA, p: int) -> list[int]:
    """The tokens of the suffix at ``p`` up to and including its document's separator."""
    end = int(sa_index.doc_starts[int(sa_index.doc_of[p]) + 1])
    return sa_index.text[p:end].tolist()


def test_the_suffix_array_is_sorted_and_holds_every_token_position_once(corpus):
    _, hashes, index = corpus
    assert len(index.sa) == sum(len(h) for h in hashes) > 5_000
    separators = set(index.doc_starts[1:].astype(np.int64) - 1)
    positions = index.sa.astype(np.int64)
    assert sorted(positions.tolist()) == [p for p in range(len(index.text)) if p not in separators]
    previous = None
    for p in positions.tolist():
        suffix = _suffix(index, p)
        if previous is not None:
            assert previous < suffix  # strictly: separators make every suffix distinct
        previous = suffix


def test_tokens_and_offsets_map_back_to_the_raw_text(corpus):
    contents, hashes, index = corpus
    assert index.docs == len(contents)
    for d, (content, h) in enumerate(zip(contents, hashes)):
        start, end = int(index.doc_starts[d]), int(index.doc_starts[d + 1])
        assert end - start == len(h) + 1
        assert (index.hashes[index.text[start:end - 1]] == h).all()
        assert (index.doc_of[start:end] == d).all()
        assert int(index.offsets[end - 1]) == len(content)
        norm = normalize(content)
        for j in range(0, len(h), 7):
            raw = int(index.offsets[start + j])
            assert norm.raw_starts[j * STRIDE] == raw
            first = norm.text[j * STRIDE]  # a collapsed whitespace run starts where the run does
            assert content[raw] == first if not first.isspace() else content[raw].isspace()


def test_suffix_array_of_a_small_text_matches_sorting_the_suffixes():
    rng = np.random.default_rng(3)
    for _ in range(30):
        text = rng.integers(0, 3, size=int(rng.integers(1, 60))).astype(np.int64)
        text = np.append(text, 99)  # the unique, largest last token the function requires
        expected = sorted(range(len(text)), key=lambda p: text[p:].tolist())
        assert suffix_array(text).tolist() == expected
    periodic = np.array([0, 1, 1] * 150 + [99])  # a long repeat: many doubling rounds
    assert suffix_array(periodic).tolist() == sorted(range(len(periodic)), key=lambda p: periodic[p:].tolist())


def _brute(hashes, chain):
    """Longest prefix of ``chain`` found as consecutive chunks of a document, and every
    ``(document, chunk index)`` where it starts, by scanning all sequences."""
    best, where = 0, []
    for d, h in enumerate(hashes):
        h = h.tolist()
        for j in range(len(h)):
            n = 0
            while n < len(chain) and j + n < len(h) and h[j + n] == chain[n]:
                n += 1
            if n > best:
                best, where = n, []
            if n == best and n > 0:
                where.append((d, j))
    if best == 0:
        where = [(d, j) for d, h in enumerate(hashes) for j in range(len(h))]
    return best, sorted(where)


def _located(index, match):
    pos = index.positions(match.l, match.r)
    docs = index.doc_of[pos].astype(np.int64)
    return sorted(zip(docs.tolist(), (pos - index.doc_starts[docs].astype(np.int64)).tolist()))


def _chains(contents, hashes, rng):
    """Chains of query windows: every residue class of 4 KB-or-less inputs that are corpus
    windows, mutated corpus windows, novel code and both mixed, plus corpus sequences spliced."""
    novel = [p.read_text(encoding="utf-8", errors="replace") for p in real_python_files(60, seed=99)
             if p.read_text(encoding="utf-8", errors="replace") not in contents][:5]
    texts = []
    for _ in range(12):
        doc = contents[rng.randrange(len(contents) - 3)]
        start = rng.randrange(max(1, len(doc) - 1500))
        window = doc[start:start + rng.randrange(200, 4096)]
        texts.append(window)
        at = rng.randrange(len(window))
        texts.append(window[:at] + "Z" + window[at:])  # an insertion shifts the chunk grid
        texts.append(novel[rng.randrange(len(novel))][:2000] + window[:1500])
    texts += [n[:3000] for n in novel]
    chains = []
    for text in texts:
        wh = window_hashes(normalize(text).codes)
        residues = rng.sample(range(STRIDE), 6)
        chains += [wh[r::STRIDE] for r in residues if len(wh[r::STRIDE])]
    nonempty = [h for h in hashes if len(h) > 5]
    for _ in range(40):  # corpus tokens that stop matching on a token the corpus does hold
        a, b = rng.sample(nonempty, 2)
        i, j = rng.randrange(len(a) - 3), rng.randrange(len(b) - 3)
        chains.append(np.concatenate([a[i:i + rng.randrange(1, 30)], b[j:j + rng.randrange(1, 10)]]))
    return chains


@pytest.mark.slow
@pytest.mark.parametrize("gather", [256, 1])
def test_longest_prefix_and_its_range_equal_a_brute_force_scan(corpus, gather, monkeypatch):
    # gather=1: every range is searched with scalar probes, as the large ranges of a big corpus are
    monkeypatch.setattr(chunk_sa, "_GATHER", gather)
    contents, hashes, index = corpus
    rng = random.Random(18)
    chains = _chains(contents, hashes, rng)
    lengths = []
    for chain in chains:
        match = index.longest_prefix(chain)
        best, where = _brute(hashes, chain.tolist())
        assert match.length == best
        assert _located(index, match) == where
        lengths.append(best)
    # The chains exercise every path: absent, one token, long, several occurrences.
    assert min(lengths) == 0 and max(lengths) > 30
    assert any(index.longest_prefix(c).count > 1 and index.longest_prefix(c).length > 5 for c in chains)


@pytest.mark.parametrize("scan", [256, 0])
def test_distinct_and_first_documents_equal_brute_force(corpus, scan, monkeypatch):
    # scan=0: every count comes from the wavelet matrix, as the long ranges of a big corpus do
    monkeypatch.setattr(chunk_sa, "_SCAN", scan)
    contents, hashes, index = corpus
    rng = random.Random(5)
    doc_rank = np.array(rng.sample(range(10 * len(contents)), len(contents)))
    ranges = []
    for chain in _chains(contents, hashes, rng)[:120]:
        match = index.longest_prefix(chain)
        _, where = _brute(hashes, chain.tolist())
        docs = sorted({d for d, _ in where})
        assert index.documents(match.l, match.r).tolist() == docs
        assert index.count_documents(match.l, match.r) == len(docs)
        ranges.append((match.l, match.r, len(docs)))
        for k in (1, 3, 100):
            assert index.first_documents(match.l, match.r, k, doc_rank).tolist() == \
                sorted(docs, key=lambda d: doc_rank[d])[:k]
    # any range of the suffix array, and many at once
    n = len(index.sa)
    ranges += [tuple(sorted(rng.sample(range(n + 1), 2))) + (None,) for _ in range(100)] + [(0, n, None)]
    l, r = np.array([a for a, _, _ in ranges]), np.array([b for _, b, _ in ranges])
    expected = [len(set(index.doc_of[index.sa[a:b]].tolist())) for a, b in zip(l, r)]
    assert index.count_documents(l, r).tolist() == expected
    assert [index.count_documents(a, b) for a, b in zip(l, r)] == expected
    assert expected[-1] == sum(1 for d in range(index.docs) if index.doc_starts[d + 1] - index.doc_starts[d] > 1)


def test_a_repeated_prefix_is_found_in_each_document_holding_it(corpus):
    contents, hashes, index = corpus
    a = hashes[0]
    match = index.longest_prefix(a[:20])
    # files[0], its exact copy and its prefix
    assert match.length == 20 and index.documents(match.l, match.r).tolist() == [0, 30, 31]


def test_save_open_round_trip(corpus, tmp_path):
    _, hashes, index = corpus
    path = tmp_path / "chunks.sa"
    index.save(path)
    opened = ChunkSA.open(path, expect_chunk=ChunkConfig())
    assert isinstance(opened.sa.base, np.memmap)  # a view of the mapped file, not a copy
    for name in ("hashes", "bucket", "text", "sa", "doc_of", "offsets", "doc_starts"):
        assert np.array_equal(getattr(opened, name), getattr(index, name)), name
    header = verify(path)
    assert header["docs"] == index.docs and header["tokens"] == len(index.sa)
    chain = hashes[3][5:25]
    assert opened.longest_prefix(chain) == index.longest_prefix(chain)
    with pytest.raises(ChunkSAFileError, match="chunk settings"):
        ChunkSA.open(path, expect_chunk=ChunkConfig(seed=1))


def test_an_empty_corpus_round_trips(tmp_path):
    index = ChunkSA.from_contents(["short", ""])
    index.save(tmp_path / "empty.sa")
    opened = ChunkSA.open(tmp_path / "empty.sa")
    assert opened.docs == 2 and len(opened.sa) == 0
    assert opened.longest_prefix(np.array([1, 2], np.uint64)).length == 0
    verify(tmp_path / "empty.sa")


def test_verify_catches_a_flipped_byte(corpus, tmp_path):
    _, _, index = corpus
    path = tmp_path / "chunks.sa"
    index.save(path)
    data = bytearray(path.read_bytes())
    data[len(data) - 1000] ^= 0x10  # inside the arrays (offsets): open still works, verify does not
    path.write_bytes(bytes(data))
    ChunkSA.open(path)
    with pytest.raises(ChunkSAFileError, match="checksum mismatch"):
        verify(path)


def _rewrite_header(path, **changes):
    data = path.read_bytes()
    length = int.from_bytes(data[8:12], "little")
    header = json.loads(data[12:12 + length])
    header.update(changes)
    raw = json.dumps(header, sort_keys=True).encode().ljust(length)
    assert len(raw) == length
    path.write_bytes(data[:12] + raw + data[12 + length:])


def test_an_old_or_foreign_file_is_refused(corpus, tmp_path):
    _, _, index = corpus
    path = tmp_path / "chunks.sa"
    index.save(path)
    _rewrite_header(path, format_version=0)
    with pytest.raises(ChunkSAFileError, match="format version 0"):
        ChunkSA.open(path)
    index.save(path)
    original = chunk_sa.FORMAT_VERSION
    try:  # a file from a later version, read by this one
        _rewrite_header(path, format_version=original + 1)
        with pytest.raises(ChunkSAFileError, match=f"format version {original + 1}"):
            ChunkSA.open(path)
        index.save(path)
        chunk_sa.FORMAT_VERSION = original + 1  # this file is now an older format
        with pytest.raises(ChunkSAFormatOutdated, match="rebuild"):
            ChunkSA.open(path)
    finally:
        chunk_sa.FORMAT_VERSION = original
    foreign = tmp_path / "bloom.bin"
    foreign.write_bytes(b"SSBLOOM\x02" + bytes(64))
    with pytest.raises(ChunkSAFileError, match="not a StarScope chunk suffix array"):
        ChunkSA.open(foreign)
    npy = tmp_path / "x.npy"
    np.save(npy, np.arange(10))
    with pytest.raises(ChunkSAFileError, match="not a StarScope chunk suffix array"):
        verify(npy)
    index.save(path)
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ChunkSAFileError, match="truncated|expected"):
        ChunkSA.open(path)
    assert MAGIC == path.read_bytes()[:8]


def test_first_ranges_are_the_ranges_of_one_token_chains(corpus):
    contents, hashes, index = corpus
    rng = random.Random(7)
    chains = _chains(contents, hashes, rng)
    tokens = index.tokens(np.array([c[0] for c in chains], np.uint64))
    assert (tokens < 0).any() and (tokens >= 0).any()
    ls, rs = index.first_ranges(tokens)
    for chain, l, r in zip(chains, ls.tolist(), rs.tolist()):
        match = index.longest_prefix(chain[:1])
        assert (l, r) == ((match.l, match.r) if match.length else (l, l))
        assert index.match(index.tokens(chain)) == index.longest_prefix(chain)
