"""Stream Documents out of JSON-lines files, plain or gzip-compressed.

One JSON object per line. Bad lines are skipped and counted, never fatal, because a single
mangled line in a 10 GB dump should cost that line, not the dump; a truncated gzip stream, on
the other hand, means the rest of the file is lost, so it raises.
"""

from __future__ import annotations

import collections
import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from indexer.corpus.errors import CorpusError
from indexer.corpus.fields import FieldMap, choose_column, lang_value, licenses_value, stars_value
from indexer.document import Document


def _open_binary(path: Path) -> BinaryIO:
    try:
        if path.name.lower().endswith(".gz"):
            return gzip.open(path, "rb")
        return open(path, "rb")
    except OSError as error:
        raise CorpusError(f"{path}: cannot open ({error})") from error


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line) pairs; a damaged gzip stream raises CorpusError."""
    problem = ("compressed stream is truncated or corrupt" if path.name.lower().endswith(".gz")
               else "read failed")
    with _open_binary(path) as stream:
        line_number = 0
        while True:
            try:
                line = stream.readline()
            except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
                raise CorpusError(f"{path}: {problem} after line {line_number} "
                                  f"({type(error).__name__}: {error}); the lines before it "
                                  f"were read") from error
            if not line:
                return
            line_number += 1
            yield line_number, line


def iter_jsonl_documents(path: Path, *, stats: collections.Counter,
                         fields: FieldMap | None = None) -> Iterator[Document]:
    """Yield one Document per JSON line that has a non-empty text field.

    Skips and counts, never raises for: lines that are not valid UTF-8 (``skipped_non_utf8``,
    which also covers text holding lone surrogates such as ``"\\ud800"``, unusable downstream),
    not valid JSON or not an object (``skipped_bad_json``), without a string text field
    (``skipped_no_text``), with null or empty text (``skipped_empty``), blank lines
    (``skipped_blank_line``). Counts ``docs_read`` and ``bytes_read`` for yielded documents.
    A line without repo or path gets the file's name and ``L<line number>``.

    Raises:
        CorpusError: the file cannot be opened, or its gzip stream is truncated or corrupt. The
            documents before the damage have already been yielded; the error says after which
            line it happened.
    """
    fields = fields or FieldMap()
    metadata = fields.metadata_fields()
    for line_number, raw_line in _lines(path):
        if not raw_line.strip():
            stats["skipped_blank_line"] += 1
            continue
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            stats["skipped_non_utf8"] += 1
            continue
        try:
            record = json.loads(line)
        except ValueError:
            stats["skipped_bad_json"] += 1
            continue
        if not isinstance(record, dict):
            stats["skipped_bad_json"] += 1
            continue
        content = record.get(fields.text)
        if fields.text not in record or not isinstance(content, (str, type(None))):
            stats["skipped_no_text"] += 1
            continue
        if not content:
            stats["skipped_empty"] += 1
            continue
        try:
            size = len(content.encode("utf-8"))
        except UnicodeEncodeError:
            stats["skipped_non_utf8"] += 1
            continue
        values = {}
        for field, explicit in metadata.items():
            key = choose_column(field, explicit, record)
            values[field] = record.get(key) if key is not None else None
        repo = str(values["repo"]) if values["repo"] else path.name
        doc_path = str(values["path"]) if values["path"] else f"L{line_number}"
        stats["docs_read"] += 1
        stats["bytes_read"] += size
        yield Document.create(
            repo=repo, path=doc_path, content=content,
            licenses=licenses_value(values["licenses"]),
            lang=lang_value(values["lang"], doc_path),
            stars=stars_value(values["stars"]),
            id=str(values["id"]) if values["id"] not in (None, "") else None)
