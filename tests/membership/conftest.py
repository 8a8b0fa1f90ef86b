import json

import pytest

from indexer.build import build_index
from indexer.index_dir import IndexDir
from membership.chunks import chunk_hashes, normalize, window_hashes

from ..backends import BACKENDS, build_config
from ..indexer.conftest import real_documents, real_python_files

HEADER = ("# Licensed under the Apache License, Version 2.0 (the \"License\");\n"
          "# you may not use this file except in compliance with the License.\n"
          "# You may obtain a copy of the License at http://www.apache.org/licenses/LICENSE-2.0\n")


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")


@pytest.fixture(scope="package", params=BACKENDS)
def corpus(request, tmp_path_factory):
    """A real index: 80 stdlib files, 15 small files sharing a license header (boilerplate),
    and one stdlib file copied into a second, GPL-licensed repository (an exact duplicate);
    in each store backend."""
    base = tmp_path_factory.mktemp("membership")
    docs = real_documents(80)
    rows = [{"content": d.content, "repo": d.repo, "path": d.path, "licenses": list(d.licenses),
             "lang": "python", "stars": d.stars} for d in docs]
    rows += [{"content": HEADER + f"\nVALUE_{i} = {i * 7919}\n\ndef f{i}(x):\n    return x * {i}\n",
              "repo": f"boiler/plate{i}", "path": f"mod{i}.py", "licenses": ["Apache-2.0"]}
             for i in range(15)]
    rows.append({"content": docs[0].content, "repo": "fork/copy", "path": "vendored/x.py",
                 "licenses": ["GPL-3.0-only"], "stars": 5})
    write_jsonl(base / "corpus.jsonl", rows)
    build_index([base / "corpus.jsonl"], base / "index", config=build_config(request.param, request))
    return base / "index", docs


@pytest.fixture(scope="package")
def index(corpus):
    return IndexDir(corpus[0]).membership()


@pytest.fixture(scope="package")
def held_out():
    """Real stdlib code that is not in the corpus (different files than real_documents(80))."""
    inside = {p.name for p in real_python_files(80)}
    return [p.read_text(encoding="utf-8", errors="replace")
            for p in real_python_files(200, seed=11) if p.name not in inside][:40]


MIT_HEADER = ("# Permission is hereby granted, free of charge, to any person obtaining a copy of this\n"
              "# software and associated documentation files (the \"Software\"), to deal in the Software\n"
              "# without restriction, including without limitation the rights to use, copy, modify.\n")


def pieces_of(docs, length=500):
    """A text made of ``length`` characters from the middle of each document, one per line
    group, and the raw ``[start, end)`` of each piece in it."""
    text, ranges = "", []
    for d in docs:
        a = len(d.content) // 2
        piece = d.content[a:a + length].strip()
        ranges.append((len(text), len(text) + len(piece)))
        text += piece + "\n\n"
    return text, ranges


def unrelated_documents(n: int, avoid: list[str]) -> list:
    """The first ``n`` real stdlib files sharing no 50-character chunk with one another or
    with ``avoid`` (the standard library repeats itself: profile.py and cProfile.py, sunau.py
    and wave.py), so that each holds its own text alone."""
    def windows(text):
        return set(window_hashes(normalize(text).codes).tolist())

    def chunks(text):
        return set(chunk_hashes(normalize(text).codes).tolist())

    taken, seen_windows, seen_chunks = [], set().union(*map(windows, avoid)), set().union(*map(chunks, avoid))
    for doc in real_documents(60):
        w, c = windows(doc.content), chunks(doc.content)
        if not (w & seen_chunks or c & seen_windows):
            taken.append(doc)
            seen_windows |= w
            seen_chunks |= c
            if len(taken) == n:
                return taken
    raise AssertionError(f"only {len(taken)} unrelated stdlib files among 60")


@pytest.fixture(scope="package", params=BACKENDS)
def crowd(request, tmp_path_factory):
    """An index where texts are held by more contents than a small ``max_candidates``: 12
    real stdlib files, 8 copies of a 13th (not itself indexed) each with one line changed, 15
    files under an Apache header, 12 with it one line lower (its chunks cut elsewhere) and 12
    under an MIT header (another boilerplate block); in each store backend. Returns (index
    dir, the 12, the 13th)."""
    base = tmp_path_factory.mktemp("crowd")
    docs = unrelated_documents(13, [HEADER, MIT_HEADER])
    original = docs[12]
    lines = original.content.splitlines(keepends=True)
    rows = [{"content": d.content, "repo": d.repo, "path": d.path, "licenses": list(d.licenses)}
            for d in docs[:12]]
    for k in range(8):
        edited = lines[:]
        at = (k + 1) * len(lines) // 9
        edited[at] = f"edited_line_{k} = {k}\n"
        rows.append({"content": "".join(edited), "repo": f"near/copy{k}", "path": "copy.py"})
    rows += [{"content": HEADER + f"\nAPACHE_{i} = {i}\n", "repo": f"apache/p{i}", "path": "a.py"}
             for i in range(15)]
    rows += [{"content": MIT_HEADER + f"\nMIT_{i} = {i}\n", "repo": f"mit/p{i}", "path": "m.py"}
             for i in range(12)]
    rows += [{"content": f"# shifted by a line {i:03d}\n" + HEADER + f"\nSHIFTED_{i} = {i}\n",
              "repo": f"shifted/p{i}", "path": "s.py"} for i in range(12)]
    write_jsonl(base / "corpus.jsonl", rows)
    build_index([base / "corpus.jsonl"], base / "index", config=build_config(request.param, request),
                progress=False)
    return base / "index", docs[:12], original
