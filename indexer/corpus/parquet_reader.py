"""Stream Documents out of Stack-like parquet shards (The Stack, StarCoderData, our own shards).

Only the needed columns are read, ``batch_rows`` rows at a time, so memory stays at one batch
whatever the shard size: The Stack's shards carry ~30 columns of which we need at most seven.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from indexer.corpus.errors import CorpusError
from indexer.corpus.fields import FieldMap, choose_column, lang_value, licenses_value, stars_value
from indexer.document import Document

_READ_ERRORS = (pa.ArrowException, OSError, EOFError, ValueError)
_NOT_UTF8 = object()
"""Stands for a cell whose bytes are not valid UTF-8."""


def _resolve_columns(path: Path, available: list[str], fields: FieldMap) -> dict[str, str | None]:
    """Map each Document field to a column of this shard, or fail naming the shard's columns."""
    available_set = set(available)
    listing = ", ".join(available) or "(none)"
    if fields.text not in available_set:
        raise CorpusError(f"{path}: no text column {fields.text!r}; the file has columns: "
                          f"{listing}. Pass FieldMap(text=...) naming the one with the file text.")
    columns: dict[str, str | None] = {"text": fields.text}
    for field, explicit in fields.metadata_fields().items():
        column = choose_column(field, explicit, available_set)
        if explicit is not None and column is None:
            raise CorpusError(f"{path}: FieldMap.{field}={explicit!r} is not a column; the file "
                              f"has columns: {listing}")
        columns[field] = column
    missing = [field for field in ("repo", "path") if columns[field] is None]
    if missing:
        raise CorpusError(f"{path}: no {' or '.join(missing)} column (looked for FieldMap "
                          f"overrides and the known names); the file has columns: {listing}")
    return columns


def _column_values(batch: pa.RecordBatch, name: str) -> list:
    """A batch column as Python values; cells that are not valid UTF-8 become ``_NOT_UTF8``.

    Note:
        Parquet does not guarantee that a string column holds valid UTF-8. Converting the whole
        column is the fast path; only when it fails are cells converted one by one, so a single
        bad cell costs its row, not the shard.
    """
    column = batch.column(batch.schema.get_field_index(name))
    try:
        return column.to_pylist()
    except UnicodeDecodeError:
        values = []
        for index in range(len(column)):
            try:
                values.append(column[index].as_py())
            except UnicodeDecodeError:
                values.append(_NOT_UTF8)
        return values


def _cell(values: dict[str, list], field: str, index: int):
    """One metadata cell; absent columns and undecodable cells read as null."""
    value = values[field][index] if field in values else None
    return None if value is _NOT_UTF8 else value


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except _READ_ERRORS as error:
        raise CorpusError(f"{path}: not a readable parquet file ({type(error).__name__}: "
                          f"{error})") from error


def iter_parquet_documents(path: Path, *, stats: collections.Counter,
                           fields: FieldMap | None = None,
                           batch_rows: int = 1024) -> Iterator[Document]:
    """Yield one Document per row with non-empty text, ``batch_rows`` rows in memory at a time.

    Counts ``docs_read`` and ``bytes_read`` (UTF-8 bytes of yielded text), ``skipped_empty``
    (null or empty text) and ``skipped_non_utf8`` (a text cell that is not valid UTF-8). A row
    with a null repo or path gets the shard's file name or ``row-N`` instead (counted as
    ``defaulted_source``).

    Raises:
        CorpusError: naming the shard, when it is not parquet, is truncated or corrupt (found
            on opening or mid-way, after the good batches were yielded), or lacks a text, repo
            or path column. Opening happens on the first ``next()``, not on the call.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    fields = fields or FieldMap()
    parquet_file = _open(path)
    columns = _resolve_columns(path, parquet_file.schema_arrow.names, fields)
    needed = list(dict.fromkeys(column for column in columns.values() if column is not None))
    try:
        batches = parquet_file.iter_batches(batch_size=batch_rows, columns=needed)
    except _READ_ERRORS as error:
        raise CorpusError(f"{path}: cannot read columns {needed} ({error})") from error
    row_number = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except _READ_ERRORS as error:
            raise CorpusError(f"{path}: corrupt or truncated parquet after {row_number} rows "
                              f"({type(error).__name__}: {error})") from error
        values = {field: _column_values(batch, column)
                  for field, column in columns.items() if column is not None}

        for index in range(batch.num_rows):
            row_number += 1
            content = values["text"][index]
            if content is _NOT_UTF8:
                stats["skipped_non_utf8"] += 1
                continue
            if not isinstance(content, str) or not content:
                stats["skipped_empty"] += 1
                continue
            repo = _cell(values, "repo", index)
            doc_path = _cell(values, "path", index)
            if not repo or not doc_path:
                stats["defaulted_source"] += 1
                repo = str(repo) if repo else path.name
                doc_path = str(doc_path) if doc_path else f"row-{row_number}"
            doc_id = _cell(values, "id", index)
            stats["docs_read"] += 1
            stats["bytes_read"] += len(content.encode("utf-8", "surrogatepass"))
            yield Document.create(
                repo=str(repo), path=str(doc_path), content=content,
                licenses=licenses_value(_cell(values, "licenses", index)),
                lang=lang_value(_cell(values, "lang", index), str(doc_path)),
                stars=stars_value(_cell(values, "stars", index)),
                id=str(doc_id) if doc_id not in (None, "") else None)
