"""Finding corpus shards on disk and reading any of them as Documents."""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from indexer.corpus.errors import CorpusError
from indexer.corpus.fields import FieldMap
from indexer.corpus.jsonl_reader import iter_jsonl_documents
from indexer.corpus.parquet_reader import iter_parquet_documents
from indexer.corpus.stack_parquet import INCOMPLETE_MARKER
from indexer.document import Document

PARQUET_SUFFIXES = (".parquet",)
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson", ".ndjson.gz")
SUPPORTED_SUFFIXES = PARQUET_SUFFIXES + JSONL_SUFFIXES
"""File name endings the readers accept, matched case-insensitively.

Note:
    ``.json.gz`` is read as JSON lines, the way Hugging Face dumps use it; a plain ``.json`` is
    not accepted because it is as often one big JSON array, which cannot be streamed line by line.
"""


def _suffix_of(path: Path) -> str | None:
    name = path.name.lower()
    # Longest first, so "x.jsonl.gz" is ".jsonl.gz" and never mistaken for something shorter.
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return None


def is_supported(path: str | Path) -> bool:
    """Whether a file name has one of :data:`SUPPORTED_SUFFIXES`."""
    return _suffix_of(Path(path)) is not None


def list_shards(paths: Iterable[str | Path]) -> list[Path]:
    """Every corpus file named by ``paths``: files as given, directories walked recursively.

    Directories contribute their supported files, skipping hidden files and directories (such
    as a writer's ``.data-00000.parquet.tmp``) and not following symlinked directories. The
    result is sorted and free of duplicates, so the same inputs always give the same order.

    Raises:
        CorpusError: a path does not exist, a file given explicitly has an unsupported suffix,
            a directory holds an unfinished ingest's shards (its ``.ingest-incomplete``
            marker), or nothing supported was found at all.
    """
    found: set[Path] = set()
    given = [Path(path) for path in paths]
    for path in given:
        if path.is_dir():
            for root, dirnames, filenames in os.walk(path):
                if INCOMPLETE_MARKER in filenames:
                    raise CorpusError(f"{root}: an ingest into this directory did not finish, so its "
                                      f"shards are not the whole corpus; run the same `starscope ingest` "
                                      f"again (it starts over)")
                dirnames[:] = [name for name in dirnames if not name.startswith(".")]
                for name in filenames:
                    candidate = Path(root, name)
                    if not name.startswith(".") and is_supported(candidate) and candidate.is_file():
                        found.add(candidate)
        elif path.is_file():
            if not is_supported(path):
                raise CorpusError(f"{path}: unsupported file type; expected one of "
                                  f"{', '.join(SUPPORTED_SUFFIXES)}")
            found.add(path)
        else:
            raise CorpusError(f"{path}: no such file or directory")
    if not found:
        listed = ", ".join(str(path) for path in given) or "(no paths given)"
        raise CorpusError(f"{listed}: no corpus files found (looked for "
                          f"{', '.join(SUPPORTED_SUFFIXES)})")
    return sorted(found)


def iter_documents(path: Path, *, stats: collections.Counter, fields: FieldMap | None = None,
                   batch_rows: int = 1024) -> Iterator[Document]:
    """Stream the Documents of one corpus file, choosing the reader by its suffix.

    See :func:`~indexer.corpus.parquet_reader.iter_parquet_documents` and
    :func:`~indexer.corpus.jsonl_reader.iter_jsonl_documents` for what each counts in ``stats``
    and skips. ``batch_rows`` applies to parquet only; JSON lines are read one at a time.
    """
    path = Path(path)
    suffix = _suffix_of(path)
    if suffix in PARQUET_SUFFIXES:
        return iter_parquet_documents(path, stats=stats, fields=fields, batch_rows=batch_rows)
    if suffix in JSONL_SUFFIXES:
        return iter_jsonl_documents(path, stats=stats, fields=fields)
    raise CorpusError(f"{path}: unsupported file type; expected one of "
                      f"{', '.join(SUPPORTED_SUFFIXES)}")
