import random
import sysconfig
from pathlib import Path

import pytest

from indexer.document import Document

from ..backends import BACKENDS, new_store


def real_python_files(n: int, seed: int = 7) -> list[Path]:
    """A fixed sample of the standard library's own source files: real code, no download."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if 2_000 < p.stat().st_size < 60_000)
    return sorted(random.Random(seed).sample(files, min(n, len(files))))


def real_documents(n: int = 120) -> list[Document]:
    docs = []
    for i, p in enumerate(real_python_files(n)):
        docs.append(Document.create(repo=f"owner{i % 7}/repo{i % 13}", path=f"Lib/{p.name}",
                                    content=p.read_text(encoding="utf-8", errors="replace"),
                                    licenses=("PSF-2.0",) if i % 3 else ("MIT",), lang="python",
                                    stars=(i * 37) % 101))
    return docs


@pytest.fixture(scope="module", params=BACKENDS)
def real_store(request, tmp_path_factory):
    """A store over ~120 real stdlib files, plus an exact duplicate and an HTML/JS file, in
    each backend."""
    docs = real_documents()
    dup = Document.create(repo="mirror/copy", path="copy.py", content=docs[0].content,
                          licenses=("GPL-3.0-only",), lang="python", stars=1000)
    html = Document.create(repo="web/site", path="index.html", lang="html", licenses=("MIT",),
                           content="<script>alert('x')</script>\n<p onclick=\"go()\">i++</p>\n")
    store = new_store(request.param, tmp_path_factory.mktemp("store"), request)
    with store.session() as s:
        s.add(docs[:60])
        s.add(docs[60:] + [dup, html])
    return store, docs + [dup, html]


@pytest.fixture(params=BACKENDS)
def empty_store(request, tmp_path):
    """A new, empty store of each backend."""
    return new_store(request.param, tmp_path, request)
