import json

import pytest

from indexer.build import build_index
from membership.attribution import MembershipIndex

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
    return MembershipIndex.open(corpus[0])


@pytest.fixture(scope="package")
def held_out():
    """Real stdlib code that is not in the corpus (different files than real_documents(80))."""
    inside = {p.name for p in real_python_files(80)}
    return [p.read_text(encoding="utf-8", errors="replace")
            for p in real_python_files(200, seed=11) if p.name not in inside][:40]
