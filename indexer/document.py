"""The one record passed between indexing steps."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

UNKNOWN_LICENSE = "unknown"


def content_sha(content: str) -> str:
    """Git blob SHA-1 of the UTF-8 content, the same id The Stack calls ``hexsha``.

    Note:
        Using git's blob hash means a document read from a Stack shard and the same file
        ingested from a source tree get the same sha, so exact duplicates group across inputs.
    """
    data = content.encode("utf-8", "surrogatepass")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def source_id(repo: str, path: str) -> str:
    """A stable id for one (repository, path) source of a document."""
    return hashlib.sha1(f"{repo}\0{path}".encode("utf-8", "surrogatepass")).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class Document:
    """One source file of the corpus: where it lives, under which licenses, and its text.

    ``id`` identifies the source (repo + path, or the corpus' own id column); ``sha`` identifies
    the content, so two sources with the same ``sha`` are exact duplicates.
    """

    id: str
    repo: str
    path: str
    content: str
    licenses: tuple[str, ...] = (UNKNOWN_LICENSE,)
    lang: str = ""
    stars: int = 0
    sha: str = field(default="")

    def __post_init__(self) -> None:
        if not self.sha:
            object.__setattr__(self, "sha", content_sha(self.content))
        if not self.licenses:
            object.__setattr__(self, "licenses", (UNKNOWN_LICENSE,))

    @classmethod
    def create(cls, *, repo: str, path: str, content: str, licenses=(), lang: str = "",
               stars: int = 0, id: str | None = None) -> "Document":
        """Build a document, deriving ``id`` from repo and path when the corpus has none.

        The sha is always computed from the content (never trusted from the input), so that
        duplicates are grouped by what the text is, not by what a corpus claims.
        """
        return cls(id=id or source_id(repo, path), repo=repo, path=path, content=content,
                   licenses=tuple(licenses) or (UNKNOWN_LICENSE,), lang=lang, stars=int(stars or 0))

    @property
    def size(self) -> int:
        return len(self.content.encode("utf-8", "surrogatepass"))
