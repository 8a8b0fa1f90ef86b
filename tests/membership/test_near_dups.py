import keyword
import random
import re

import pytest

from indexer.build import BuildConfig, build_index
from indexer.tantivy_store import StoreFormatError
from membership.attribution import AttributionInputError
from membership.minhash import jaccard, shingle_set, tokens

from ..indexer.conftest import real_documents
from .conftest import write_jsonl


def renamed(code: str, seed: int = 0) -> str:
    """Every identifier of 4+ characters (not a keyword) renamed consistently."""
    rng = random.Random(seed)
    names = sorted({m for m in re.findall(r"\b[A-Za-z_][A-Za-z0-9_]{3,}\b", code)
                    if not keyword.iskeyword(m) and m not in ("self", "None", "True", "False")})
    mapping = {n: f"v{rng.randrange(10**6)}_{i}" for i, n in enumerate(names)}
    return re.sub(r"\b[A-Za-z_][A-Za-z0-9_]{3,}\b", lambda m: mapping.get(m.group(), m.group()), code)


def reformatted(code: str) -> str:
    """Comments stripped, indentation doubled, blank lines removed: same tokens, new layout."""
    lines = [re.sub(r"\s+#.*$", "", line) for line in code.splitlines()]
    return "\n".join(line.replace("    ", "        ") for line in lines if line.strip()) + "\n"


def pick(docs, n=12, min_tokens=400):
    return [d for d in docs if len(tokens(d.content)) >= min_tokens][:n]


def test_an_exact_copy_is_a_plain_near_duplicate_with_jaccard_one(corpus, index):
    _, docs = corpus
    doc = pick(docs, 1)[0]
    result = index.near_duplicates(doc.content, lang="python")
    top = result.near_duplicates[0]
    assert (top.repo, top.path) == (doc.repo, doc.path) or top.sha == doc.sha
    assert top.signature == "plain" and top.jaccard == 1.0 and top.estimated_jaccard == 1.0


def test_reformatted_copies_are_found_as_near_duplicates(corpus, index):
    _, docs = corpus
    found = 0
    sample = pick(docs)
    for doc in sample:
        copy = reformatted(doc.content)
        result = index.near_duplicates(copy, lang="python")
        top = result.near_duplicates[0] if result.near_duplicates else None
        if top is not None and top.sha == doc.sha and top.signature == "plain":
            found += 1
            exact = jaccard(shingle_set(tokens(copy), 5), shingle_set(tokens(doc.content), 5))
            assert top.jaccard == pytest.approx(exact)
    assert found >= len(sample) - 1, (found, len(sample))


def test_renamed_copies_are_found_by_the_abstracted_signature(corpus, index):
    _, docs = corpus
    found = 0
    sample = pick(docs)
    for i, doc in enumerate(sample):
        copy = renamed(doc.content, seed=i)
        plain = jaccard(shingle_set(tokens(copy), 5), shingle_set(tokens(doc.content), 5))
        assert plain < 0.5  # the plain signature alone would miss it
        result = index.near_duplicates(copy, lang="python")
        hits = [n for n in result.near_duplicates if n.sha == doc.sha]
        if hits and hits[0].signature == "abstracted" and hits[0].kind == "renamed copy":
            found += 1
            assert hits[0].jaccard >= 0.9
    assert found >= len(sample) - 1, (found, len(sample))


def test_attribution_reports_near_duplicates_apart_from_spans(corpus, index):
    _, docs = corpus
    doc = pick(docs, 3)[2]
    result = index.attribute(renamed(doc.content, seed=5), lang="python")
    assert any(n.sha == doc.sha and n.signature == "abstracted" for n in result.near_duplicates)
    near = result.to_json()["near_duplicates"][0]
    assert {"repo", "path", "licenses", "estimated_jaccard", "jaccard", "signature"} <= near.keys()


def test_too_few_tokens_give_a_reason_not_a_score(index):
    result = index.near_duplicates("x = 1", lang="python")
    assert not result.near_duplicates and "at least 5" in result.reason
    with pytest.raises(AttributionInputError):
        index.near_duplicates("   \n ")


def test_unknown_language_falls_back_and_says_so(corpus, index):
    _, docs = corpus
    result = index.near_duplicates(docs[0].content, lang="no-such-language")
    assert result.lexer and "fallback" in result.lexer
    assert result.near_duplicates  # the plain signature still finds it


def test_resuming_with_another_minhash_config_is_refused_naming_it(tmp_path):
    docs = real_documents(4)
    write_jsonl(tmp_path / "a.jsonl", [{"content": d.content, "repo": d.repo, "path": d.path} for d in docs])
    build_index([tmp_path / "a.jsonl"], tmp_path / "index", config=BuildConfig(minhash="bigcode"))
    with pytest.raises(StoreFormatError, match="MinHash config.*scheme"):
        build_index([tmp_path / "a.jsonl"], tmp_path / "index")


def test_near_duplicates_past_max_candidates_say_the_answer_is_truncated(crowd):
    """Eight edited copies of a file; scoring three of them says how many were left out."""
    from indexer.index_dir import IndexDir
    from membership.attribution import AttributionConfig

    index_dir, _, original = crowd
    small = IndexDir(index_dir).membership(AttributionConfig(max_candidates=3))
    cut = small.near_duplicates(original.content, lang="python")
    assert cut.truncated and cut.candidates == 3 and cut.candidates_available >= 8
    assert cut.to_json()["truncated"] is True
    assert cut.to_json()["limits"] == {"max_candidates": 3, "candidates_available": cut.candidates_available}
    whole = IndexDir(index_dir).membership().near_duplicates(original.content, lang="python")
    assert not whole.truncated and whole.candidates == whole.candidates_available >= 8
    assert {n.repo for n in whole.near_duplicates} >= {f"near/copy{k}" for k in range(8)}
    attributed = small.attribute(original.content, lang="python")
    assert attributed.truncated and attributed.limits.near_duplicate_candidates_available >= 8
    assert small.attribute(original.content, near_duplicates=False).limits \
        .near_duplicate_candidates_available is None
