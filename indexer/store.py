"""The store protocol: what every full-text backend (tantivy, Elasticsearch) offers.

The unit of the store is a unique content (keyed by its git blob sha) with every source
(repository, path, licenses, stars) it was found at, so exact duplicates are stored once.

Write side: ``session()`` yields a :class:`StoreSession` with ``add(documents)``,
``delete(repo=... | owner=...)`` and ``commit()``; leaving the block commits, an error rolls back.
What membership keeps of each content (chunk hashes, signatures) comes from the build's sketching
step (:mod:`indexer.sketching`); a store only derives its keys from it.
Adding a document whose sha is stored already merges its source in, and adding the same source
twice changes nothing, which is what makes an interrupted build safe to rerun.

Read side: ``search``, ``get``, ``docs_with_terms``, ``repos``, ``stats``; the lookups by chunk
hash and band key that membership declares (:class:`membership.store.ContentStore`). Description:
``describe``, ``sketch_config``, ``location``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from contextlib import AbstractContextManager
from typing import Iterable, Protocol, Sequence

from membership.sketch import SketchConfig
from membership.store import ContentStore

from .document import Document, UNKNOWN_LICENSE
from .query import SearchQuery
from .sketching import SketchedBatch, SketchStep
from .snippets import Snippet

MAX_PAGE_SIZE = 100
# Every store keeps its files (or, for a server's index, the file naming it) in <index>/store/.
STORE_DIR = "store"


class StoreError(RuntimeError):
    """A store cannot do what was asked; the message says why and what to do."""


class StoreFormatError(StoreError):
    """No store where one was expected, or one written by an incompatible version or config."""


class StoreUnavailable(StoreError):
    """The store's server cannot be reached (at open, or lost mid-operation)."""


class StoreWriteError(StoreError):
    """The store refused documents (after retries); nothing was dropped silently."""


@dataclass(frozen=True)
class Source:
    """One place a content was found."""

    id: str
    repo: str
    path: str
    licenses: tuple[str, ...] = (UNKNOWN_LICENSE,)
    stars: int = 0

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0] if "/" in self.repo else self.repo

    @property
    def url(self) -> str | None:
        """A GitHub link when the repository name has the ``owner/name`` shape."""
        if self.repo.count("/") != 1 or not all(self.repo.split("/")):
            return None
        return f"https://github.com/{self.repo}/blob/HEAD/{self.path}"

    def to_json(self) -> dict:
        return {"id": self.id, "repo": self.repo, "path": self.path,
                "licenses": list(self.licenses), "stars": self.stars, "url": self.url}

    @classmethod
    def from_json(cls, d: dict) -> "Source":
        return cls(id=d["id"], repo=d["repo"], path=d["path"],
                   licenses=tuple(d.get("licenses") or (UNKNOWN_LICENSE,)), stars=int(d.get("stars", 0)))

    @classmethod
    def of(cls, doc: Document) -> "Source":
        return cls(id=doc.id, repo=doc.repo, path=doc.path, licenses=doc.licenses, stars=doc.stars)


@dataclass(frozen=True)
class StoredDocument:
    """A unique content and all its sources; ``sha`` is its id in every store."""

    sha: str
    content: str
    lang: str
    sources: tuple[Source, ...]

    @property
    def primary(self) -> Source:
        """The most-starred source (The Stack's ``max_stars_repo``), ties broken by name."""
        return min(self.sources, key=lambda s: (-s.stars, s.repo, s.path))

    @property
    def stars(self) -> int:
        return max(s.stars for s in self.sources)

    @property
    def licenses(self) -> tuple[str, ...]:
        return tuple(sorted({lic for s in self.sources for lic in s.licenses}))

    def with_sources(self, sources: Iterable[Source]) -> "StoredDocument":
        """This content with ``sources`` merged in; a source already present (same id, repo
        and path) is replaced by the newer record, never duplicated."""
        merged = {(s.id, s.repo, s.path): s for s in self.sources}
        for s in sources:
            merged[(s.id, s.repo, s.path)] = s
        return StoredDocument(self.sha, self.content, self.lang,
                              tuple(sorted(merged.values(), key=lambda s: (s.repo, s.path, s.id))))

    def summary_json(self) -> dict:
        """Metadata of the primary source, as a search hit shows it."""
        p = self.primary
        return {"id": self.sha, "repo": p.repo, "path": p.path, "licenses": list(p.licenses),
                "lang": self.lang, "stars": self.stars, "url": p.url,
                "size": len(self.content.encode("utf-8", "surrogatepass")),
                "sources_count": len(self.sources)}

    def to_json(self) -> dict:
        return {**self.summary_json(), "licenses_all": list(self.licenses), "content": self.content,
                "sources": [s.to_json() for s in self.sources]}

    @classmethod
    def from_document(cls, doc: Document) -> "StoredDocument":
        return cls(doc.sha, doc.content, doc.lang, (Source.of(doc),))


def group_documents(documents: Iterable[Document]) -> dict[str, StoredDocument]:
    """Fold a batch of documents into one record per content sha."""
    out: dict[str, StoredDocument] = {}
    for doc in documents:
        prev = out.get(doc.sha)
        out[doc.sha] = prev.with_sources([Source.of(doc)]) if prev else StoredDocument.from_document(doc)
    return out


@dataclass(frozen=True)
class Hit:
    document: StoredDocument
    score: float
    match_count: int
    snippets: tuple[Snippet, ...]

    def to_json(self) -> dict:
        return {**self.document.summary_json(), "score": self.score,
                "match_count": self.match_count, "snippets": [s.to_json() for s in self.snippets]}


@dataclass(frozen=True)
class Page:
    """1-based page number and page size, validated."""

    number: int = 1
    size: int = 10

    def __post_init__(self):
        if self.number < 1:
            raise ValueError(f"page must be >= 1, got {self.number}")
        if not 1 <= self.size <= MAX_PAGE_SIZE:
            raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}, got {self.size}")

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


@dataclass(frozen=True)
class SearchResult:
    """One page of hits; ``total`` counts every matching document, not just this page."""

    total: int
    page: Page
    hits: tuple[Hit, ...]
    sort: str = "score"

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page.size))

    def to_json(self) -> dict:
        return {"total": self.total, "page": self.page.number, "size": self.page.size,
                "pages": self.pages, "sort": self.sort, "hits": [h.to_json() for h in self.hits]}


class PageOutOfRange(ValueError):
    def __init__(self, page: Page, total: int, pages: int):
        super().__init__(f"page {page.number} is past the last page ({pages}) of {total} results")
        self.page, self.total, self.pages = page, total, pages


@dataclass(frozen=True)
class StoreStats:
    documents: int
    sources: int
    content_bytes: int
    segments: int = 0
    by_lang: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"documents": self.documents, "sources": self.sources,
                "content_bytes": self.content_bytes, "segments": self.segments,
                "by_lang": self.by_lang}


class StoreSession(Protocol):
    def add(self, documents: Iterable[Document], sketched: SketchedBatch | None = None) -> int: ...
    def delete(self, *, repo: str | None = None, owner: str | None = None) -> int: ...
    def commit(self) -> None: ...


class Store(ContentStore, Protocol):
    """What the build, the search API and membership need from a backend: nothing else of a
    store is read outside its module. The term lookups take exact-match string fields (``sha``,
    ``repo``, ``owner``, ...; see :data:`indexer.search_plan.TERM_FIELDS`); chunk hashes are
    looked up as integers, through the :class:`membership.store.ContentStore` methods."""

    def session(self, *, sketch: SketchStep | None = None) -> AbstractContextManager[StoreSession]: ...
    def loading(self) -> AbstractContextManager:
        """A bulk load (a build): the store may trade search freshness for write speed until
        the block ends."""
    def search(self, query: SearchQuery, *, page: Page = Page(), sort: str = "score") -> SearchResult: ...
    def get(self, sha: str) -> StoredDocument | None: ...
    def docs_with_terms(self, field: str, terms: Sequence[str], *, limit: int = 1000) -> list[StoredDocument]: ...
    def term_doc_counts(self, field: str, terms: Sequence[str]) -> dict[str, int]: ...
    def count_docs_with_terms(self, field: str, terms: Sequence[str]) -> int:
        """How many live documents hold any of ``terms``: what a ``docs_with_terms`` limit
        left out is the difference (attribution reports it instead of cutting silently)."""
    def repos(self, prefix: str = "", *, limit: int = 100, field: str = "repo") -> list[tuple[str, int]]: ...
    def stats(self) -> StoreStats: ...
    def warm(self) -> None:
        """Load now what the first query would otherwise wait for (a server calls it at start)."""
    def drop_cached_rankings(self) -> None:
        """Forget the verified rankings of literal queries (benchmarks time cold queries)."""
    def describe(self) -> dict:
        """The store's recorded format, analysis and sketch configs (the manifest keeps a copy)."""
    def sketch_config(self) -> SketchConfig | None:
        """The membership sketch the store was built with; None for a search-only store."""
    def location(self) -> dict:
        """Where the store lives beyond the index directory, as the manifest records it: ``{}``
        for one inside it, ``{"elasticsearch": {"url", "index"}}`` for a server's index."""
