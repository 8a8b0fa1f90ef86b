"""Stack-format parquet shards: the on-disk form of every corpus we ingest ourselves.

Source trees and Python environments are written with exactly The Stack's column names, so that
the rest of StarScope reads them with the same reader as the real Stack, and so that anyone else's
Stack tooling reads them too. This module owns the layout (``data-00000.parquet``, ...), the
schema, the writer and :func:`verify`; nothing else builds these paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq

from indexer.corpus.errors import CorpusError
from indexer.document import Document, content_sha

FORMAT_VERSION = "stack-shard/1"
"""Written into each shard's schema metadata under ``starscope_format``."""

STACK_SCHEMA = pa.schema(
    [
        ("hexsha", pa.string()),
        ("size", pa.int64()),
        ("ext", pa.string()),
        ("lang", pa.string()),
        ("max_stars_repo_path", pa.string()),
        ("max_stars_repo_name", pa.string()),
        ("max_stars_repo_licenses", pa.list_(pa.string())),
        ("max_stars_count", pa.int64()),
        ("content", pa.string()),
        ("id", pa.string()),
    ],
    metadata={b"starscope_format": FORMAT_VERSION.encode()},
)
"""The Stack's columns that carry a Document (in The Stack's order), plus our source ``id``.

Note:
    ``hexsha`` is the git blob sha of ``content`` (The Stack's definition, and
    :attr:`Document.sha`); ``id`` is the Document's source id, which lets a shard round-trip to
    identical Documents.
"""

SHARD_NAME = re.compile(r"^data-(\d{5})\.parquet$")
TEMPORARY_NAME = re.compile(r"^\.data-(\d{5})\.parquet\.tmp$")
INCOMPLETE_MARKER = ".ingest-incomplete"
"""Present in an output directory while a writer fills it: its shards are not yet the whole
corpus. :func:`~indexer.corpus.list_shards` refuses such a directory, and a new writer clears
it (see :class:`StackShardWriter`)."""
ROW_GROUP_BYTES = 8 << 20
"""Content bytes buffered before a row group is written: bounds the writer's memory."""


def shard_path(out_dir: Path, index: int) -> Path:
    """Final path of shard number ``index`` in ``out_dir``."""
    return Path(out_dir) / f"data-{index:05d}.parquet"


def _temporary_path(final_path: Path) -> Path:
    # Hidden and without the .parquet suffix, so list_shards never picks up a half-written shard.
    return final_path.with_name(f".{final_path.name}.tmp")


def shard_paths(out_dir: Path) -> list[Path]:
    """The finished shards in ``out_dir``, in order."""
    return sorted(path for path in Path(out_dir).iterdir() if SHARD_NAME.match(path.name))


class StackShardWriter:
    """Write Documents into Stack-format shards ``data-00000.parquet``, ``data-00001.parquet``...

    Use as a context manager. Each shard is written under a hidden temporary name and renamed
    into place only when complete, so a crash never leaves a partial file under a shard name. On
    an exception (in the block, or finishing the last shard) the temporary file is deleted, the
    finished shards stay, and the exception propagates unchanged.

    While the block runs the directory holds :data:`INCOMPLETE_MARKER`, removed only once every
    shard is in place: the shards of a run that failed or was killed are never mistaken for a
    whole corpus (``list_shards`` refuses the directory), and the same command run again clears
    them and starts over.

    Note:
        A shard is closed once its content reaches ``shard_bytes`` uncompressed UTF-8 bytes, so a
        shard holds at most ``shard_bytes`` plus one document. The output directory must be
        empty (or absent), or hold only an unfinished run's marker and shards: refusing to
        write into any other old output is what keeps a rerun from mixing two ingests' shards.
    """

    def __init__(self, out_dir: Path, *, shard_bytes: int = 64 << 20,
                 row_group_bytes: int = ROW_GROUP_BYTES) -> None:
        if shard_bytes < 1:
            raise ValueError(f"shard_bytes must be >= 1, got {shard_bytes}")
        self.out_dir = Path(out_dir)
        self.shard_bytes = shard_bytes
        self.row_group_bytes = max(1, min(row_group_bytes, shard_bytes))
        self.finished_shards: list[Path] = []
        self.docs_written = 0
        self.bytes_written = 0
        self._writer: pq.ParquetWriter | None = None
        self._temporary: Path | None = None
        self._shard_bytes_so_far = 0
        self._rows: dict[str, list] = {name: [] for name in STACK_SCHEMA.names}
        self._buffered_bytes = 0
        self._entered = False

    def __enter__(self) -> "StackShardWriter":
        if self.out_dir.exists():
            if not self.out_dir.is_dir():
                raise CorpusError(f"{self.out_dir}: output path exists and is not a directory")
            leftovers = sorted(path.name for path in self.out_dir.iterdir())
            if INCOMPLETE_MARKER in leftovers and all(
                    name == INCOMPLETE_MARKER or SHARD_NAME.match(name) or TEMPORARY_NAME.match(name)
                    for name in leftovers):
                # An earlier writer's unfinished run: its shards are part of a corpus, never a
                # whole one. The marker goes last, so a crash while clearing clears again.
                for name in leftovers:
                    if name != INCOMPLETE_MARKER:
                        (self.out_dir / name).unlink()
                leftovers = [INCOMPLETE_MARKER]
            if leftovers and leftovers != [INCOMPLETE_MARKER]:
                shown = ", ".join(leftovers[:5]) + (" ..." if len(leftovers) > 5 else "")
                raise CorpusError(f"{self.out_dir}: output directory is not empty ({shown}); "
                                  f"remove it or choose a new directory")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / INCOMPLETE_MARKER).write_text(
            "An ingest is writing (or was writing and stopped) the shards of this directory; "
            "they are not a whole corpus until this file is gone. Run the same ingest again to "
            "start over.\n")
        self._entered = True
        return self

    def write(self, doc: Document) -> None:
        """Append one document; may finish the current shard."""
        if not self._entered:
            raise RuntimeError("StackShardWriter.write() called outside its `with` block")
        size = doc.size
        suffix = PurePosixPath(doc.path).suffix
        row = {
            "hexsha": doc.sha, "size": size, "ext": suffix[1:] if suffix else "",
            "lang": doc.lang, "max_stars_repo_path": doc.path, "max_stars_repo_name": doc.repo,
            "max_stars_repo_licenses": list(doc.licenses), "max_stars_count": doc.stars,
            "content": doc.content, "id": doc.id,
        }
        for name, value in row.items():
            self._rows[name].append(value)
        self._buffered_bytes += size
        self._shard_bytes_so_far += size
        self.docs_written += 1
        self.bytes_written += size
        if self._buffered_bytes >= self.row_group_bytes:
            self._flush_rows()
        if self._shard_bytes_so_far >= self.shard_bytes:
            self._finish_shard()

    def _flush_rows(self) -> None:
        if not self._rows["content"]:
            return
        if self._writer is None:
            final = shard_path(self.out_dir, len(self.finished_shards))
            self._temporary = _temporary_path(final)
            self._writer = pq.ParquetWriter(self._temporary, STACK_SCHEMA, compression="zstd")
        table = pa.Table.from_pydict(self._rows, schema=STACK_SCHEMA)
        self._writer.write_table(table)
        self._rows = {name: [] for name in STACK_SCHEMA.names}
        self._buffered_bytes = 0

    def _finish_shard(self) -> None:
        self._flush_rows()
        if self._writer is None:
            return
        self._writer.close()
        final = shard_path(self.out_dir, len(self.finished_shards))
        os.replace(self._temporary, final)
        self.finished_shards.append(final)
        self._writer = None
        self._temporary = None
        self._shard_bytes_so_far = 0

    def _discard_shard(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
            self._temporary = None
        self._rows = {name: [] for name in STACK_SCHEMA.names}
        self._buffered_bytes = 0

    def __exit__(self, exc_type, exc, traceback) -> bool:
        self._entered = False
        if exc_type is not None:
            self._discard_shard()
            return False
        try:
            self._finish_shard()
        except BaseException:
            self._discard_shard()
            raise
        (self.out_dir / INCOMPLETE_MARKER).unlink()
        return False


@dataclass(frozen=True)
class ShardSummary:
    """What :func:`verify` found in one shard."""

    path: Path
    rows: int
    content_bytes: int


def iter_shard_rows(path: Path, *, batch_rows: int = 1024) -> Iterator[dict]:
    """The rows of one shard as dicts of The Stack's columns, a batch at a time."""
    parquet_file = pq.ParquetFile(path)
    for batch in parquet_file.iter_batches(batch_size=batch_rows):
        yield from batch.to_pylist()


def verify(path: Path) -> ShardSummary:
    """Re-read a shard and check it is a complete, self-consistent Stack-format shard.

    Checks the column names and types against :data:`STACK_SCHEMA`, that every row has content,
    and that each row's ``hexsha`` and ``size`` match its content (which catches corruption that
    still decodes).

    Raises:
        CorpusError: naming the shard and the first problem found.
    """
    path = Path(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as error:
        raise CorpusError(f"{path}: not a readable parquet shard ({error})") from error
    if not schema.remove_metadata().equals(STACK_SCHEMA.remove_metadata()):
        raise CorpusError(f"{path}: schema differs from the Stack shard schema; has "
                          f"{schema.remove_metadata()} expected {STACK_SCHEMA.remove_metadata()}")
    rows = content_bytes = 0
    try:
        for row in iter_shard_rows(path):
            rows += 1
            content = row["content"]
            if not content:
                raise CorpusError(f"{path}: row {rows} has no content")
            size = len(content.encode("utf-8", "surrogatepass"))
            if row["size"] != size or row["hexsha"] != content_sha(content):
                raise CorpusError(f"{path}: row {rows} ({row['max_stars_repo_name']}/"
                                  f"{row['max_stars_repo_path']}) size or hexsha does not match "
                                  f"its content")
            content_bytes += size
    except (pa.ArrowException, OSError) as error:
        raise CorpusError(f"{path}: unreadable after {rows} rows ({error})") from error
    return ShardSummary(path=path, rows=rows, content_bytes=content_bytes)
