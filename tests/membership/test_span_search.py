"""Maximal chunk matches of a query in the span index (membership/span_search.py), against their
definition checked by brute force."""

import random

import numpy as np
import pytest

from membership.chunk_sa import ChunkSA
from membership.span_search import maximal_matches, occurrences, occurrences_many


def held(docs: list[list[int]], seq: list[int]) -> bool:
    n = len(seq)
    return any(d[i:i + n] == seq for d in docs for i in range(len(d) - n + 1))


def count(docs: list[list[int]], tokens) -> int:
    """Occurrences of ``tokens`` in the documents."""
    seq, n = [int(t) for t in tokens], len(tokens)
    return sum(d[i:i + n] == seq for d in docs for i in range(len(d) - n + 1))


def by_definition(docs, tokens: np.ndarray, stride: int) -> set:
    """For each run of hits of each residue class: ``ms(j)``, the longest held prefix of the
    run from ``j``; the maximal matches are the ``j`` where ``j + ms(j)`` grows."""
    out = set()
    for r in range(stride):
        at = list(range(r, len(tokens), stride))
        i = 0
        while i < len(at):
            if tokens[at[i]] < 0:
                i += 1
                continue
            k = i
            while k < len(at) and tokens[at[k]] >= 0:
                k += 1
            run = [int(tokens[q]) for q in at[i:k]]
            best_end = -1
            for j in range(len(run)):
                n = 0
                while j + n < len(run) and held(docs, run[j:j + n + 1]):
                    n += 1
                if j + n > best_end:
                    out.add((at[i + j], n))
                    best_end = j + n
            i = k
    return out


def test_maximal_matches_are_those_of_the_definition_with_every_holder():
    rng = random.Random(4)
    for trial in range(30):
        vocab = rng.randint(3, 12)
        raw_docs = [[rng.randrange(vocab) for _ in range(rng.randint(0, 40))] for _ in range(rng.randint(1, 8))]
        hashes = [np.array(d, np.uint64) + np.uint64(1000) for d in raw_docs]
        sa = ChunkSA.build(hashes, [np.arange(len(d), dtype=np.int64) * 50 for d in raw_docs],
                           [50 * len(d) + 7 for d in raw_docs])
        stride = rng.choice([1, 3, 5])
        query = [rng.randrange(vocab + 2) for _ in range(rng.randint(1, 60))]  # vocab, vocab + 1: absent
        tokens = sa.tokens(np.array(query, np.uint64) + np.uint64(1000))
        docs = [[int(t) for t in sa.tokens(h)] for h in hashes]
        got = maximal_matches(sa, tokens, stride)
        maximal = [m for m in got if m.parent is None]
        assert {(m.start, m.length) for m in maximal} == by_definition(docs, tokens, stride), trial
        for k, m in enumerate(got):
            if m.parent is None:  # its prefixes: exactly those that more occurrences hold
                want = [n for n in range(1, m.length)
                        if count(docs, m.tokens[:n]) > count(docs, m.tokens[:n + 1])]
                chain, at = [], k  # each prefix narrows to the next longer one, the last to m
                while (child := next((j for j, p in enumerate(got) if p.parent == at), None)) is not None:
                    chain.append(got[child].length)
                    at = child
                assert chain[::-1] == want, trial
        for m in got:  # the range holds every occurrence, and each holder's positions hold it
            seq = [int(t) for t in m.tokens]
            assert m.r - m.l == count(docs, m.tokens)
            for doc in set(sa.doc_of[sa.sa[m.l:m.r]].tolist()):
                for p in occurrences(sa, doc, m).tolist():
                    assert sa.text[p:p + m.length].tolist() == seq and sa.doc_of[p] == doc


def test_a_query_with_no_corpus_chunk_has_no_match():
    sa = ChunkSA.build([np.array([1, 2, 3], np.uint64)], [np.array([0, 50, 100])], [160])
    assert maximal_matches(sa, sa.tokens(np.array([7, 8, 9], np.uint64)), 1) == []


@pytest.mark.parametrize("scan", [256, 0])
def test_occurrences_of_many_pairs_are_each_holders_first_positions(scan):
    # scan=256: the ranges are read all at once; scan=0: each pair looked up on its own
    rng = random.Random(7)
    for trial in range(20):
        raw_docs = [[rng.randrange(4) for _ in range(rng.randint(0, 40))] for _ in range(rng.randint(1, 8))]
        hashes = [np.array(d, np.uint64) + np.uint64(1000) for d in raw_docs]
        sa = ChunkSA.build(hashes, [np.arange(len(d), dtype=np.int64) * 50 for d in raw_docs],
                           [50 * len(d) + 7 for d in raw_docs])
        query = [rng.randrange(5) for _ in range(rng.randint(1, 40))]
        matches = maximal_matches(sa, sa.tokens(np.array(query, np.uint64) + np.uint64(1000)), 1)
        holders = [sorted(set(sa.doc_of[sa.sa[m.l:m.r]].tolist())) for m in matches]
        k, d, p = occurrences_many(sa, matches, holders, scan=scan, limit=2)
        got = sorted(zip(k.tolist(), d.tolist(), p.tolist()))
        want = []
        for i, (m, docs) in enumerate(zip(matches, holders)):
            for doc in docs:
                start, end = int(sa.doc_starts[doc]), int(sa.doc_starts[doc + 1]) - 1
                at = [q for q in range(start, end - m.length + 1)
                      if sa.text[q:q + m.length].tolist() == m.tokens.tolist()][:2]
                assert occurrences(sa, doc, m, 2).tolist() == at, trial
                want += [(i, doc, q) for q in at]
        assert got == sorted(want), trial
