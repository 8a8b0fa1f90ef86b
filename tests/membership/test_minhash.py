import io
import json
import keyword
import math
import random
import re
import tokenize

import numpy as np
import pytest
import xxhash
from datasketch import MinHash, MinHashLSH

from membership import minhash
from membership.lexers import abstract_tokens
from membership.minhash import (MinHashConfig, MinHasher, close_worker_pools, collision_probability, jaccard,
                                shingle_set, tokens)

from ..indexer.conftest import real_documents, real_python_files

NON_ALPHA = re.compile(r"[^A-Za-z_0-9]")  # BigCode's tokenizer, for reference


@pytest.fixture(scope="module")
def docs():
    return [d.content for d in real_documents(40)]


@pytest.fixture(scope="module", autouse=True)
def _no_lingering_workers():
    yield
    close_worker_pools()


def datasketch_signature(shingles, *, num_perm=256, seed=1, scheme="affine32"):
    if not shingles:
        return None
    m = MinHash(num_perm=num_perm, seed=seed, scheme=scheme)
    m.update_batch(list(shingles))
    return m.hashvalues


def assert_same(ours, theirs):
    assert (ours is None) == (theirs is None)
    if ours is not None:
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


# -- tokens and shingles ----------------------------------------------------------------------

def test_tokens_are_bigcodes_split_without_empty_strings(docs):
    extra = ["", "  ", "naïve café = 1;", "a\u00a0b\u2003c😀d", "x=y", "_a1 2b"]
    for text in docs[:10] + extra:
        assert tokens(text) == [t for t in NON_ALPHA.split(text) if t]
        assert tokens(text, keep_empty=True) == NON_ALPHA.split(text)


def test_shingles_follow_the_datasketch_convention():
    assert shingle_set(["a", "b", "c", "d", "e", "a", "b", "c", "d", "e"], 5) == {
        b"a b c d e", b"b c d e a", b"c d e a b", b"d e a b c", b"e a b c d"}
    assert shingle_set(["a", "b", "c", "d"], 5) == set()
    assert shingle_set(["é"] * 3, 2) == {"é é".encode()}
    with pytest.raises(ValueError, match="at least one token"):
        shingle_set(["a"], 0)


# -- signatures equal datasketch's -------------------------------------------------------------

@pytest.mark.parametrize("num_perm, seed, scheme", [
    (256, 1, "affine32"), (256, 42, "legacy"), (128, 1, "affine32"), (128, 42, "legacy"),
    (64, 7, "affine64")])
def test_signatures_equal_datasketch_on_real_code(docs, num_perm, seed, scheme):
    hasher = MinHasher(MinHashConfig(num_perm=num_perm, seed=seed, scheme=scheme))
    big = "\n".join(docs[:14])  # more shingles than one permutation block
    texts = docs + [big, "x = 1", ""]
    assert len(shingle_set(tokens(big), 5)) > hasher._block
    ours = hasher.sign_texts(texts)
    for text, sig in zip(texts, ours):
        sh = shingle_set(tokens(text), 5)
        expected = datasketch_signature(sh, num_perm=num_perm, seed=seed, scheme=scheme)
        assert_same(sig, expected)
        assert_same(hasher.sign(sh), expected)
    assert ours[-1] is None and ours[-2] is None


def test_the_per_element_update_loop_agrees_too(docs):
    sh = shingle_set(tokens(docs[3]), 5)
    for scheme, seed in (("affine32", 1), ("legacy", 42)):
        m = MinHash(num_perm=256, seed=seed, scheme=scheme)
        for s in sh:
            m.update(s)
        assert_same(MinHasher(MinHashConfig(scheme=scheme, seed=seed)).sign(sh), m.hashvalues)


def test_documents_straddling_blocks_and_hashing_groups(docs, monkeypatch):
    # Tiny blocks and groups: every document boundary falls inside some block, many groups flush.
    monkeypatch.setattr(minhash, "_BLOCK_ELEMENTS", 256 * 37)
    monkeypatch.setattr(minhash, "_GROUP_SHINGLES", 5000)
    for scheme, seed in (("affine32", 1), ("legacy", 42)):
        hasher = MinHasher(MinHashConfig(scheme=scheme, seed=seed))
        texts = docs[:15] + ["a b", "one two three four five"] + docs[15:20]
        for text, sig in zip(texts, hasher.sign_texts(texts)):
            assert_same(sig, datasketch_signature(shingle_set(tokens(text), 5), seed=seed, scheme=scheme))


def test_sign_of_nothing_and_of_short_documents_is_none():
    hasher = MinHasher()
    assert hasher.sign(set()) is None
    assert hasher.sign_texts(["", "a b c d", "a, b; c. (d)", "é é é é é é"]) == [None] * 4
    assert hasher.sign_texts(["a b c d e"])[0] is not None
    assert hasher.sign_texts([]) == []


def test_build_and_query_sign_the_same_shingles(docs):
    # The query path signs shingle_set(tokens(text)[:max_tokens]); the build path sign_texts.
    cfg = MinHashConfig(max_tokens=300)
    hasher = MinHasher(cfg)
    # Real files take the shortcut of tokenizing a prefix; the filler makes it find too few tokens.
    texts = docs[:8] + ["é€ " * 3000 + docs[0]]
    for text, sig in zip(texts, hasher.sign_texts(texts)):
        query = shingle_set(tokens(text)[:cfg.max_tokens], cfg.shingle)
        assert hasher.shingles(text) == query
        assert_same(sig, hasher.sign(query))
        assert_same(hasher.sign_text(text), sig)
    for text, lang in ((docs[0], "python"), (docs[1], None)):
        toks, _ = abstract_tokens(text, lang=lang)
        sig = hasher.sign_texts([text], abstracted=True, langs=[lang])[0]
        assert_same(sig, hasher.sign(shingle_set(toks[:cfg.abstract_max_tokens], cfg.shingle)))
    # data and prose get no abstracted signature
    assert hasher.sign_texts([docs[0]], abstracted=True, langs=["json"]) == [None]


def test_empty_tokens_reproduce_bigcodes_script(docs):
    # BigCode: {" ".join(t) for t in ngrams(NON_ALPHA.split(content), 5)}, legacy permutations, seed 42.
    cfg = MinHashConfig(scheme="legacy", seed=42, empty_tokens=True, max_tokens=400)
    hasher = MinHasher(cfg)
    texts = docs[:6] + ["naïve  café —  x = f(a,  b) # ünïcode\n" * 200, "a    b"]
    for text, sig in zip(texts, hasher.sign_texts(texts)):
        sh = {" ".join(g).encode() for g in zip(*(NON_ALPHA.split(text)[:400][i:] for i in range(5)))}
        assert_same(sig, datasketch_signature(sh, seed=42, scheme="legacy"))
    assert hasher.sign_texts(["a    b"])[0] is not None  # 4 separators: 5 tokens, 3 of them empty
    assert MinHasher().sign_texts(["a    b"])[0] is None  # the default drops the empty ones


def test_workers_give_the_same_signatures(docs, monkeypatch):
    hasher = MinHasher()
    texts = docs + ["", "a b c"]
    assert sum(map(len, texts)) > minhash._PARALLEL_MIN_CHARS
    one, two = hasher.sign_texts(texts), hasher.sign_texts(texts, workers=2)
    assert len(one) == len(two) == len(texts)
    for a, b in zip(one, two):
        assert_same(a, b)
    monkeypatch.setattr(minhash, "_PARALLEL_MIN_CHARS", 1000)  # pygments is slow: a smaller batch
    part = docs[:8]
    langs = ["python"] * len(part)
    abstract_one = hasher.sign_texts(part, abstracted=True, langs=langs)
    abstract_two = hasher.sign_texts(part, abstracted=True, langs=langs, workers=2)
    for a, b in zip(abstract_one, abstract_two):
        assert_same(a, b)
    with pytest.raises(ValueError, match="one entry per text"):
        hasher.sign_texts(part, langs=["python"])
    with pytest.raises(ValueError, match="workers"):
        hasher.sign_texts(part, workers=0)


# -- config ------------------------------------------------------------------------------------

@pytest.mark.parametrize("threshold, num_perm", [(0.7, 256), (0.5, 128), (0.8, 64), (0.9, 256)])
def test_bands_and_rows_are_datasketchs_optimum(threshold, num_perm):
    cfg = MinHashConfig(threshold=threshold, num_perm=num_perm)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert (cfg.bands, cfg.rows) == (lsh.b, lsh.r)
    assert (MinHashConfig().bands, MinHashConfig().rows) == (25, 10)  # BigCode's


def test_config_json_round_trip():
    for cfg in (MinHashConfig(), MinHashConfig(scheme="legacy", seed=42, empty_tokens=True),
                MinHashConfig(num_perm=128, bands=16, rows=8, max_tokens=1000)):
        data = json.loads(json.dumps(cfg.to_json()))
        assert MinHashConfig.from_json(data) == cfg
        assert data["bands"] * data["rows"] <= data["num_perm"]


@pytest.mark.parametrize("kwargs, message", [
    ({"num_perm": 1}, "num_perm must be between"),
    ({"num_perm": 256.0}, "integer"),
    ({"shingle": 0}, "BigCode used 5"),
    ({"seed": -1}, "seed"),
    ({"scheme": "sha1"}, "legacy' with seed=42"),
    ({"threshold": 1.0}, "strictly between 0 and 1"),
    ({"bands": 20}, "give both bands and rows"),
    ({"bands": 30, "rows": 10}, "raise num_perm to at least 300"),
    ({"bands": -1, "rows": 2}, "positive"),
    ({"max_tokens": 3}, "at least one shingle"),
    ({"empty_tokens": "yes"}, "true or false"),
    ({"version": 2}, "rebuild the index"),
])
def test_bad_configs_are_refused_with_a_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MinHashConfig(**kwargs)


def test_unknown_config_keys_are_refused():
    with pytest.raises(ValueError, match="unknown MinHash config keys"):
        MinHashConfig.from_json({**MinHashConfig().to_json(), "ngram": 3})


# -- band keys -----------------------------------------------------------------------------

def test_band_keys(docs):
    hasher = MinHasher()
    sig = hasher.sign_texts([docs[0]])[0]
    keys = hasher.band_keys(sig)
    assert len(keys) == 25 and all(re.fullmatch(r"p\d{2}[0-9a-f]{16}", k) for k in keys)
    assert keys[3] == "p03" + xxhash.xxh3_64_hexdigest(sig[30:40].astype("<u4").tobytes())
    assert hasher.band_keys(sig.copy()) == keys  # equal signatures, equal keys
    assert hasher.band_keys(sig.astype(np.int64)) == keys  # as a store may hand them back
    assert [k[3:] for k in hasher.band_keys(sig, kind="a")] == [k[3:] for k in keys]
    assert set(hasher.band_keys(sig, kind="a")).isdisjoint(keys)
    flat = np.full(256, 12345, dtype=np.uint32)  # every band holds the same bytes
    flat_keys = hasher.band_keys(flat)
    assert len(set(flat_keys)) == 25 and len({k[3:] for k in flat_keys}) == 1
    with pytest.raises(ValueError, match="'p'"):
        hasher.band_keys(sig, kind="x")
    with pytest.raises(ValueError, match="num_perm"):
        hasher.band_keys(sig[:128])


def test_identical_documents_always_collide(docs):
    for cfg in (MinHashConfig(), MinHashConfig(scheme="legacy", seed=42)):
        hasher = MinHasher(cfg)
        sigs = hasher.sign_texts([docs[5], docs[6], docs[5]])
        assert hasher.band_keys(sigs[0]) == hasher.band_keys(sigs[2])
        assert set(hasher.band_keys(sigs[0])).isdisjoint(hasher.band_keys(sigs[1]))
        assert MinHasher.estimate(sigs[0], sigs[2]) == 1.0


# -- abstracted tokens -------------------------------------------------------------------------

def test_renamed_add_and_plus_collide():
    a, lexer = abstract_tokens("def add(a, b): return a + b", lang="python")
    b, _ = abstract_tokens("def plus(x, y): return x + y", lang="python")
    assert a == b == ["def", "ID", "(", "ID", ",", "ID", ")", ":", "return", "ID", "+", "ID"]
    assert lexer == "python"
    hasher = MinHasher(MinHashConfig(shingle=3))
    sa, sb = (hasher.sign(shingle_set(t, 3)) for t in (a, b))
    assert hasher.band_keys(sa, kind="a") == hasher.band_keys(sb, kind="a")


def test_comments_strings_and_numbers_are_abstracted():
    c, lexer = abstract_tokens('#include <stdio.h>\n/* note */ int main() { printf("%d\\n", 42); }  // end\n',
                               path="src/main.c")
    assert lexer == "c"
    assert c == ["#", "include", "STR", "int", "ID", "(", ")", "{",
                 "ID", "(", "STR", ",", "NUM", ")", ";", "}"]
    py, _ = abstract_tokens('x = "a" \'b\'  # comment\n"""doc"""\ny = 0x1F\n', lang="Python")
    assert py == ["ID", "=", "STR", "ID", "=", "NUM"]  # adjacent literals (comment dropped): one STR


def rename_identifiers(source: str, seed: int) -> str:
    """Every identifier renamed consistently (Python's own tokenizer finds them)."""
    rng = random.Random(seed)
    names, edits = {}, []
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string) \
                and not keyword.issoftkeyword(tok.string):
            new = names.setdefault(tok.string, f"n{rng.randrange(10 ** 6)}_{len(names)}")
            edits.append((starts[tok.start[0] - 1] + tok.start[1], len(tok.string), new))
    for offset, length, new in reversed(edits):
        source = source[:offset] + new + source[offset + length:]
    assert names, "nothing renamed"
    return source


def test_consistent_renaming_of_real_python_gives_the_same_stream():
    for i, path in enumerate(real_python_files(4, seed=3)):
        source = path.read_text(encoding="utf-8")
        renamed = rename_identifiers(source, seed=i)
        assert tokens(renamed) != tokens(source)
        original, lexer = abstract_tokens(source, lang="python")
        assert lexer == "python" and len(original) > 100
        assert abstract_tokens(renamed, lang="python")[0] == original
        assert abstract_tokens(renamed, path=f"Lib/{path.name}")[0] == original


def test_unknown_languages_fall_back_and_say_so():
    code = 'proc main = (int x) "text" 3.5 ;'
    for kwargs in ({"lang": "klingon"}, {"path": "notes.unknownext"}, {}, {"lang": "text"},
                   {"path": "README.txt"}):
        toks, lexer = abstract_tokens(code, **kwargs)
        assert lexer == "fallback:generic", kwargs
        assert toks == ["ID", "ID", "=", "(", "ID", "ID", ")", "STR", "NUM", ";"]
    assert abstract_tokens(code, lang="klingon", path="x.py")[1] == "python"  # the path decides


def test_abstract_tokens_never_crash_on_binary_looking_text():
    rng = random.Random(11)
    for i in range(30):
        text = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 3000))).decode("latin-1")
        for lang in ("python", "c", "html", "javascript", None, "klingon"):
            toks, lexer = abstract_tokens(text, lang=lang, path="blob.bin" if i % 2 else None)
            assert isinstance(toks, list) and all(isinstance(t, str) and t for t in toks)
            assert isinstance(lexer, str) and lexer


def test_max_tokens_is_a_prefix_of_the_whole_stream(docs):
    full, _ = abstract_tokens(docs[2], lang="python")
    for k in (0, 1, 7, 100, len(full) + 5):
        assert abstract_tokens(docs[2], lang="python", max_tokens=k)[0] == full[:k]
    generic, _ = abstract_tokens(docs[2], lang="klingon")
    assert abstract_tokens(docs[2], lang="klingon", max_tokens=50)[0] == generic[:50]


# -- probabilistic properties ------------------------------------------------------------------

def mutated(toks: list[str], fraction: float, rng: random.Random) -> list[str]:
    """A fraction of the tokens replaced by new ones: the edits of a near-duplicate."""
    return [f"edit{rng.randrange(10 ** 9)}" if rng.random() < fraction else t for t in toks]


def test_estimates_track_exact_jaccard_on_mutated_real_code(docs):
    rng = random.Random(2)
    hasher = MinHasher()
    errors, levels = [], {}
    for text in docs[:30]:
        toks = tokens(text)
        base = shingle_set(toks, 5)
        for fraction in (0.01, 0.04, 0.1, 0.25):
            other = shingle_set(mutated(toks, fraction, rng), 5)
            exact = jaccard(base, other)
            est = MinHasher.estimate(hasher.sign(base), hasher.sign(other))
            errors.append(est - exact)
            levels.setdefault(fraction, []).append(exact)
    means = [np.mean(v) for v in levels.values()]
    assert means == sorted(means, reverse=True) and means[0] > 0.85 and means[-1] < 0.3
    assert np.mean(np.abs(errors)) < 0.05  # standard error at 256 permutations is <= 0.031
    assert abs(np.mean(errors)) < 0.015  # and no bias


def test_lsh_collision_rate_follows_the_s_curve():
    hasher = MinHasher()
    cfg = hasher.config
    rng = np.random.default_rng(4)
    pairs, union = 300, 100
    for s in (0.5, 0.6, 0.7, 0.8):
        common = round(s * union)
        hits = 0
        for _ in range(pairs):
            words = [w.tobytes() for w in rng.integers(0, 2 ** 63, union, dtype=np.int64)]
            split = common + (union - common) // 2
            a, b = set(words[:split]), set(words[:common] + words[split:])
            assert jaccard(a, b) == pytest.approx(s)
            ka = set(hasher.band_keys(hasher.sign(a)))
            hits += bool(ka & set(hasher.band_keys(hasher.sign(b))))
        p = collision_probability(s, cfg.bands, cfg.rows)
        assert abs(hits / pairs - p) <= 4 * math.sqrt(p * (1 - p) / pairs) + 1 / pairs, (s, hits / pairs, p)


def test_exact_helpers():
    assert jaccard(set(), set()) == 0.0
    assert jaccard({1, 2, 3}, {2, 3, 4}) == 0.5
    assert collision_probability(0.7, 25, 10) == pytest.approx(0.5115, abs=1e-4)
    assert collision_probability(1.0, 25, 10) == 1.0 and collision_probability(0.0, 25, 10) == 0.0
    with pytest.raises(ValueError, match="same length"):
        MinHasher.estimate(np.zeros(4, np.uint32), np.zeros(5, np.uint32))
