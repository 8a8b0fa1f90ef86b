"""The chunk-hash suffix array (membership/chunk_sa.py) against brute force on real stdlib code,
and its documents of a range (counted, listed, the first by rank) on random corpora that repeat
one chunk thousands of times."""

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


def _doc_rank(docs):
    """The rank the corpus fixture gives its documents (a stand-in for stars, then path)."""
    return np.random.default_rng(18).permutation(docs)


@pytest.fixture(scope="module")
def corpus():
    contents = _contents()
    hashes, offsets, lengths = content_chunks(contents)
    return contents, hashes, ChunkSA.build(hashes, offsets, lengths, doc_rank=_doc_rank(len(contents)))


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
    # scan=0: every count and rank comes from the wavelet matrices, as the long ranges of a big corpus do
    monkeypatch.setattr(chunk_sa, "_SCAN", scan)
    monkeypatch.setattr(chunk_sa, "_RANK_SCAN", scan)
    monkeypatch.setattr(chunk_sa, "_WALK_COST", min(scan, 1))
    contents, hashes, index = corpus
    rng = random.Random(5)
    doc_rank = _doc_rank(len(contents))
    ranges = []
    for chain in _chains(contents, hashes, rng)[:120]:
        match = index.longest_prefix(chain)
        _, where = _brute(hashes, chain.tolist())
        docs = sorted({d for d, _ in where})
        assert index.documents(match.l, match.r).tolist() == docs
        assert index.count_documents(match.l, match.r) == len(docs)
        ranges.append((match.l, match.r, len(docs)))
        for k in (1, 3, 100):
            assert index.first_documents(match.l, match.r, k).tolist() == \
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
    for name, _ in chunk_sa._ARRAYS:
        assert np.array_equal(getattr(opened, name), getattr(index, name)), name
    header = verify(path)
    assert header["docs"] == index.docs and header["tokens"] == len(index.sa)
    assert header["format_version"] == 3 and header["rank_bits"] == len(index.rank_zeros)
    chain = hashes[3][5:25]
    assert opened.longest_prefix(chain) == index.longest_prefix(chain)
    n = len(index.sa)
    for l, r in ((0, n), (n // 3, n // 2), (10, 300)):
        assert opened.first_documents(l, r, 5).tolist() == index.first_documents(l, r, 5).tolist()
        assert opened.documents(l, r).tolist() == index.documents(l, r).tolist()
    with pytest.raises(ChunkSAFileError, match="chunk settings"):
        ChunkSA.open(path, expect_chunk=ChunkConfig(seed=1))


def test_an_empty_corpus_round_trips(tmp_path):
    index = ChunkSA.from_contents(["short", ""])
    index.save(tmp_path / "empty.sa")
    opened = ChunkSA.open(tmp_path / "empty.sa")
    assert opened.docs == 2 and len(opened.sa) == 0
    assert opened.longest_prefix(np.array([1, 2], np.uint64)).length == 0
    assert opened.first_documents(0, 0, 3).tolist() == [] and opened.documents(0, 0).tolist() == []
    assert [a.tolist() for a in opened.first_documents_many([0], [0], 3)] == [[], []]
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
    for key in [k for k, v in changes.items() if v is None]:
        del header[key]
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode().ljust(length)  # room for digits
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


def test_a_version_2_file_is_outdated(corpus, tmp_path):
    # Version 2 had no rank matrix: first_documents cannot be answered from it, so it is rebuilt.
    _, _, index = corpus
    path = tmp_path / "chunks.sa"
    index.save(path)
    _rewrite_header(path, format_version=2)
    with pytest.raises(ChunkSAFormatOutdated, match="format version 2.*rebuild") as caught:
        ChunkSA.open(path)
    assert (caught.value.version, caught.value.expected) == (2, 3)
    with pytest.raises(ChunkSAFormatOutdated):
        verify(path)


def test_sizes_that_disagree_with_the_header_are_refused(corpus, tmp_path):
    _, _, index = corpus
    path = tmp_path / "chunks.sa"
    index.save(path)
    layout = json.loads(path.read_bytes()[12:12 + int.from_bytes(path.read_bytes()[8:12], "little")])["arrays"]
    bits = len(index.rank_zeros)
    for changes, message in (({"rank_bits": bits + 1}, "array rank_words at"),
                             ({"rank_bits": 0}, "inconsistent"),
                             ({"rank_bits": 33}, "inconsistent"),
                             ({"arrays": {**layout, "by_rank": [layout["by_rank"][0], index.docs - 1]}},
                              "array by_rank at"),
                             ({"docs": index.docs + 1, "positions": len(index.text) + 1}, "array bucket|array")):
        index.save(path)
        _rewrite_header(path, **changes)
        with pytest.raises(ChunkSAFileError, match=message):
            ChunkSA.open(path)
    index.save(path)
    _rewrite_header(path, rank_bits=None)
    with pytest.raises(ChunkSAFileError, match="lacks rank_bits"):
        ChunkSA.open(path)


def test_verify_refuses_ranks_that_are_not_a_permutation(corpus, tmp_path):
    # A writer bug, not a flipped bit: the checksum agrees, the ranks do not.
    _, _, index = corpus
    by_rank = index.by_rank.copy()
    by_rank[[0, 1]] = by_rank[1]
    broken = ChunkSA({**index._arrays(), "by_rank": by_rank}, chunk=index.chunk)
    broken.save(tmp_path / "chunks.sa")
    ChunkSA.open(tmp_path / "chunks.sa")
    with pytest.raises(ChunkSAFileError, match="inverse permutations"):
        verify(tmp_path / "chunks.sa")


def test_build_refuses_a_doc_rank_that_is_not_a_permutation():
    hashes, offsets, lengths = content_chunks(["a = 1\n" * 40, "b = 2\n" * 40, "c = 3\n" * 40])
    for bad, message in (([0, 1], "one integer per document"), ([0.0, 1.0, 2.0], "one integer per document"),
                         ([0, 1, 1], "each once"), ([0, 1, 3], "each once"), ([-1, 0, 1], "each once")):
        with pytest.raises(ValueError, match=message):
            ChunkSA.build(hashes, offsets, lengths, doc_rank=bad)
    index = ChunkSA.build(hashes, offsets, lengths, doc_rank=[2, 0, 1])
    assert index.by_rank.tolist() == [1, 2, 0] and index.first_documents(0, len(index.sa), 3).tolist() == [1, 2, 0]
    assert ChunkSA.from_contents(["a = 1\n" * 40, "b = 2\n" * 40]).doc_rank.tolist() == [0, 1]


def _repetitive_corpus(seed):
    """A random corpus of chunk-hash sequences as boilerplate makes them: a few hundred documents
    over a small alphabet, a tenth of them starting with the same 30-chunk header, and a few that
    repeat one chunk thousands of times (a generated table, a long run of one line); built with a
    random permutation as the documents' ranks."""
    rng = np.random.default_rng(seed)
    docs = int(rng.integers(150, 400))
    header = rng.integers(0, 1 << 63, 30, dtype=np.uint64)
    alphabet = rng.integers(0, 1 << 63, 60, dtype=np.uint64)
    hashes = []
    for d in range(docs):
        h = alphabet[rng.integers(0, len(alphabet), int(rng.integers(0, 40)))]
        if rng.random() < 0.1:
            h = np.concatenate((header, h))
        if rng.random() < 0.02:
            h = np.concatenate((h, np.full(int(rng.integers(1000, 4000)), alphabet[7], np.uint64)))
        hashes.append(h)
    hashes[docs // 2] = np.full(3000, alphabet[7], np.uint64)  # at least one
    offsets = [np.arange(len(h), dtype=np.int64) * STRIDE for h in hashes]
    doc_rank = rng.permutation(docs)
    return ChunkSA.build(hashes, offsets, [len(h) * STRIDE for h in hashes], doc_rank=doc_rank), doc_rank, header


@pytest.mark.parametrize("scan", [None, 0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_documents_of_ranges_in_a_repetitive_corpus_equal_brute_force(seed, scan, monkeypatch):
    # scan=None: the thresholds as shipped (a batch mixes scanned and walked ranges); scan=0:
    # every range asks the matrices, as the long ranges of a big corpus do
    if scan is not None:
        monkeypatch.setattr(chunk_sa, "_SCAN", scan)
        monkeypatch.setattr(chunk_sa, "_RANK_SCAN", scan)
        monkeypatch.setattr(chunk_sa, "_WALK_COST", scan)
    index, doc_rank, header = _repetitive_corpus(seed)
    n, rng = len(index.sa), np.random.default_rng(seed)
    token_l, token_r = index.first_ranges(np.arange(len(index.hashes)))  # every token's range
    assert (token_r - token_l).max() >= 3000  # the repeated chunk
    lengths = np.arange(300)
    start = rng.integers(0, n - lengths + 1)
    l = np.concatenate((token_l, start, rng.integers(0, n + 1, 100), [0, n, 5]))
    r = np.concatenate((token_r, start + lengths, rng.integers(0, n + 1, 100), [n, n, 5]))
    l, r = np.minimum(l, r), np.maximum(l, r)
    listed = []
    original = index._ranks.distinct

    def listing(a, b):
        listed.append((a, b))
        return original(a, b)

    index._ranks.distinct = listing  # to see which ranges documents() lists from the rank matrix
    for k in (0, 1, 3, 10_000):  # 10_000: more than any range's documents
        query, first = index.first_documents_many(l, r, k)
        assert (np.diff(query) >= 0).all()
        for i, (a, b) in enumerate(zip(l.tolist(), r.tolist())):
            docs = np.unique(index.doc_of[index.sa[a:b]])
            expected = docs[np.argsort(doc_rank[docs])][:k].tolist()
            assert index.first_documents(a, b, k).tolist() == expected
            assert first[query == i].tolist() == expected  # the batch gives each range the same
            if k == 0:
                assert index.documents(a, b).tolist() == docs.tolist()
                assert index.count_documents(a, b) == len(docs)
    assert index.count_documents(l, r).tolist() == [len(np.unique(index.doc_of[index.sa[a:b]]))
                                                   for a, b in zip(l, r)]
    if scan is None:
        return
    # the repeated chunk's long range of few documents was listed from the matrix, not scanned
    longest = int(np.argmax(token_r - token_l))
    assert (int(token_l[longest]), int(token_r[longest])) in listed
    # the header's first chunk: one suffix in each document holding it, so scanning is cheaper
    hl, hr = index.first_ranges(index.tokens(header[:1]))
    assert index.count_documents(int(hl[0]), int(hr[0])) == hr[0] - hl[0] > 5
    assert (int(hl[0]), int(hr[0])) not in listed


def test_first_documents_refuses_bad_ranges_and_k(corpus):
    _, _, index = corpus
    n = len(index.sa)
    with pytest.raises(IndexError):
        index.first_documents_many([0, 5], [n, 4], 3)
    with pytest.raises(IndexError):
        index.first_documents_many([0], [n + 1], 3)
    with pytest.raises(ValueError, match="k must be at least 0"):
        index.first_documents_many([0], [n], -1)
    with pytest.raises(ValueError, match="k must be at least 0"):
        index.first_documents(0, 10, -1)


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


def test_the_document_table_keeps_each_document_s_sha_and_source_count(tmp_path):
    contents = ["a = 1\n" * 40, "b = 2\n" * 40, ""]
    shas = [f"{i:x}" * 40 for i in (10, 11, 12)]
    sa = ChunkSA.from_contents(contents)
    assert sa.shas([0, 2]) == ["00" * 20] * 2 and sa.doc_sources.tolist() == [1, 1, 1]  # none given
    labels = [{'["MIT"]': 2, '["GPL-2.0-only"]': 1}, {'["MIT"]': 1}, {}]
    sa = ChunkSA.build(*content_chunks(contents), doc_shas=shas, doc_sources=[3, 1, 7], doc_labels=labels)
    sa.save(tmp_path / "t.chunksa")
    chunk_sa.verify(tmp_path / "t.chunksa")
    back = ChunkSA.open(tmp_path / "t.chunksa")
    assert back.shas([2, 0]) == [shas[2], shas[0]] and back.doc_sources.tolist() == [3, 1, 7]
    assert back.doc_label_counts([0, 1]) == {'["MIT"]': 3, '["GPL-2.0-only"]': 1}
    assert back.doc_label_counts([1]) == {'["MIT"]': 1} and back.doc_label_counts([2]) == {}
    assert back.doc_label_counts([]) == {}
    for bad in (shas[:2], ["xyz" * 13 + "x"] + shas[1:], [s[:38] for s in shas]):
        with pytest.raises(ValueError, match="doc_shas"):
            ChunkSA.build(*content_chunks(contents), doc_shas=bad)
    with pytest.raises(ValueError, match="doc_sources"):
        ChunkSA.build(*content_chunks(contents), doc_sources=[1, 2])
