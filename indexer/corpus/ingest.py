"""Turn source trees and the running Python environment into Stack-format parquet shards.

Both ingesters list candidate files, keep human-written source in a known language (see
:mod:`indexer.corpus.source_files`), attach the repository name and licenses of the project
around each file (:mod:`indexer.corpus.repo_metadata`) and write the Documents with
:class:`~indexer.corpus.stack_parquet.StackShardWriter`. The shards are then read back like any
other corpus with :func:`indexer.corpus.iter_documents`.
"""

from __future__ import annotations

import collections
import csv
import logging
import os
import re
import site
import sysconfig
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import Distribution, distributions
from pathlib import Path

from indexer.corpus.errors import CorpusError
from indexer.corpus.repo_metadata import distribution_licenses, repo_name_for_tree, tree_licenses
from indexer.corpus.source_files import (ENVIRONMENT_PRUNED_DIRS, TREE_PRUNED_DIRS,
                                         is_pruned_dir, read_source_text, source_language)
from indexer.corpus.stack_parquet import StackShardWriter
from indexer.document import Document, source_id

CPYTHON_REPO = "python/cpython"
CPYTHON_LICENSES = ("PSF-2.0",)
STDLIB_PRUNED_DIRS = ENVIRONMENT_PRUNED_DIRS | {"site-packages", "dist-packages", "lib-dynload"}
FAIR_SHARE_QUANTUM_BYTES = 64 << 10
"""Most byte credit a repository earns per round of :func:`_fair_share_within_cap`."""

log = logging.getLogger(__name__)


def _is_utf8_name(name: str) -> bool:
    """Whether a name read from the file system is valid UTF-8. Python decodes other bytes to
    lone surrogates (``surrogateescape``), which no shard column (UTF-8) can hold."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_name(path: str | Path) -> str:
    """A file name fit to print: bytes that are not UTF-8 as ``\\xff`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class CandidateFile:
    """A file that may become a Document: its path inside the repository, where it is on disk,
    its language and its size in bytes (from a stat or a RECORD, so known before reading)."""

    path: str
    location: Path
    lang: str
    size: int


@dataclass
class RepositoryFiles:
    """One repository's candidate files, with the metadata every Document from it shares."""

    repo: str
    licenses: tuple[str, ...]
    files: list[CandidateFile] = field(default_factory=list)


def _walk_candidates(root: Path, *, prefix: str, pruned: frozenset[str],
                     stats: collections.Counter,
                     skip_dirs: frozenset[str] = frozenset()) -> Iterator[CandidateFile]:
    """Files under ``root`` in a known language, in sorted order, symlinks not followed.

    ``skip_dirs`` holds absolute paths of directories to leave out as well (the output
    directory, when it lies inside the tree). Counts ``skipped_vendored_dirs`` (pruned
    directories, whose files are not listed), ``skipped_symlink``,
    ``skipped_unknown_language`` and ``skipped_non_utf8_name`` (a file or directory whose name
    is not valid UTF-8: no shard can hold its path; each is logged, naming it).
    """
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        kept = []
        for name in sorted(dirnames):
            full = Path(directory, name)
            if not _is_utf8_name(name):
                stats["skipped_non_utf8_name"] += 1
                log.warning("skipped %s/ and everything in it: the directory's name is not valid "
                            "UTF-8 (rename it to ingest it)", shown_name(full))
            elif is_pruned_dir(name, pruned) or (skip_dirs and os.path.abspath(full) in skip_dirs):
                stats["skipped_vendored_dirs"] += 1
            elif full.is_symlink():
                stats["skipped_symlink"] += 1
            else:
                kept.append(name)
        dirnames[:] = kept
        relative_dir = Path(directory).relative_to(root)
        for name in sorted(filenames):
            full = Path(directory, name)
            if not _is_utf8_name(name):
                stats["skipped_non_utf8_name"] += 1
                log.warning("skipped %s: the file's name is not valid UTF-8 (rename it to ingest it)",
                            shown_name(full))
                continue
            if full.is_symlink():
                # A link may point out of the tree or duplicate a file inside it; neither is a
                # source of this repository.
                stats["skipped_symlink"] += 1
                continue
            lang = source_language(name, stats)
            if not lang:
                continue
            try:
                size = full.stat().st_size
            except OSError:
                stats["skipped_unreadable"] += 1
                continue
            yield CandidateFile(path=prefix + (relative_dir / name).as_posix().removeprefix("./"),
                                location=full, lang=lang, size=size)


def _document(repository: RepositoryFiles, candidate: CandidateFile, text: str) -> Document:
    return Document.create(repo=repository.repo, path=candidate.path, content=text,
                           licenses=repository.licenses,
                           lang=candidate.lang, stars=0)


def ingest_trees(dirs: Sequence[Path], out_dir: Path, *, max_file_bytes: int = 1_000_000,
                 shard_bytes: int = 64 << 20,
                 stats: collections.Counter | None = None) -> collections.Counter:
    """Ingest source trees (one repository each) into Stack-format shards in ``out_dir``.

    Each tree's repository is the ``owner/name`` of its git remote, else the directory name
    (see :func:`~indexer.corpus.repo_metadata.repo_name_for_tree`); its licenses come from the
    root LICENSE/COPYING files, else the package manifest, else ``unknown``. Files are visited
    in sorted order; see :func:`read_source_text` and ``_walk_candidates`` for what is skipped
    and counted (a file whose name is not UTF-8 is skipped and logged, and the rest goes on).
    ``out_dir`` must be empty or absent, or hold an unfinished ingest's shards (which are
    cleared: the same command started again starts over; see
    :class:`~indexer.corpus.stack_parquet.StackShardWriter`).

    Returns ``stats`` (a new Counter when none is given) with ``repos``, ``docs_written``,
    ``bytes_written``, ``shards_written`` and one ``skipped_*`` count per reason.

    Raises:
        CorpusError: a tree is not a directory, its name (its repository's, without a git
            remote) is not valid UTF-8, two trees get the same repository name, or ``out_dir``
            is not empty. All are checked before anything is written.
    """
    stats = collections.Counter() if stats is None else stats
    roots = [Path(directory) for directory in dirs]
    repositories: dict[str, Path] = {}
    for root in roots:
        if not root.is_dir():
            raise CorpusError(f"{root}: not a directory; ingest_trees takes source tree roots")
        repo = repo_name_for_tree(root)
        if not _is_utf8_name(repo):
            raise CorpusError(f"{shown_name(root)}: the folder's name is not valid UTF-8, so it cannot "
                              f"name the tree's repository; rename the folder (or give the tree a git "
                              f"remote, whose owner/name is used instead)")
        if repo in repositories:
            raise CorpusError(f"{root}: repository name {repo!r} is also the name of "
                              f"{repositories[repo]}; ingest them separately or rename one")
        repositories[repo] = root
    out_dir = Path(out_dir)
    with StackShardWriter(out_dir, shard_bytes=shard_bytes) as writer:
        skip_dirs = frozenset({os.path.abspath(out_dir), str(out_dir.resolve())})
        for repo, root in repositories.items():
            repository = RepositoryFiles(repo=repo, licenses=tree_licenses(root))
            stats["repos"] += 1
            for candidate in _walk_candidates(root, prefix="", pruned=TREE_PRUNED_DIRS,
                                              stats=stats, skip_dirs=skip_dirs):
                text = read_source_text(candidate.location, size=candidate.size,
                                        max_file_bytes=max_file_bytes, stats=stats)
                if text is not None:
                    writer.write(_document(repository, candidate, text))
    stats["docs_written"] += writer.docs_written
    stats["bytes_written"] += writer.bytes_written
    stats["shards_written"] += len(writer.finished_shards)
    return stats


def _normalized_distribution_name(name: str) -> str:
    """PEP 503 normalization: ``Typing_Extensions`` -> ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _site_directories() -> list[str]:
    """The environment's site-packages directories (not the working directory or sys.path
    extras), so the same environment lists the same distributions wherever it is run from."""
    candidates = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    candidates += site.getsitepackages() if hasattr(site, "getsitepackages") else []
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        candidates.append(site.getusersitepackages())
    return [path for path in dict.fromkeys(candidates) if os.path.isdir(path)]


def _stdlib_repository(stats: collections.Counter) -> RepositoryFiles:
    """The running interpreter's standard library and C headers, laid out as in CPython's repo
    (``Lib/json/__init__.py``, ``Include/Python.h``)."""
    repository = RepositoryFiles(repo=CPYTHON_REPO, licenses=CPYTHON_LICENSES)
    paths = sysconfig.get_paths()
    for key, prefix in (("stdlib", "Lib/"), ("include", "Include/")):
        root = Path(paths[key])
        if root.is_dir():
            repository.files.extend(_walk_candidates(root, prefix=prefix,
                                                     pruned=STDLIB_PRUNED_DIRS, stats=stats))
    return repository


def _recorded_files(dist: Distribution) -> list[tuple[str, int | None]] | None:
    """(path relative to site-packages, size or None) for each file a distribution installed.

    Note:
        RECORD is parsed directly rather than through ``Distribution.files``, which builds a
        path object per entry: torch alone records tens of thousands of files.
    """
    record = dist.read_text("RECORD")
    if record is None:
        files = dist.files
        if files is None:
            return None
        return [(file.as_posix(), file.size) for file in files]
    entries = []
    for row in csv.reader(record.splitlines()):
        if row and row[0]:
            size = row[2] if len(row) > 2 else ""
            entries.append((row[0], int(size) if size.isdigit() else None))
    return entries


def _distribution_repository(dist: Distribution, repo: str,
                             stats: collections.Counter) -> RepositoryFiles:
    """An installed distribution's source files from its RECORD, relative to site-packages."""
    repository = RepositoryFiles(repo=repo, licenses=distribution_licenses(dist))
    entries = _recorded_files(dist)
    if entries is None:
        stats["skipped_dists_without_record"] += 1
        return repository
    base = str(dist.locate_file(""))
    for relative, size in sorted(entries):
        parts = relative.split("/")
        if ".." in parts or any(part.endswith((".dist-info", ".egg-info")) for part in parts):
            continue  # scripts outside site-packages, and metadata
        lang = source_language(parts[-1], stats)
        if not lang:
            continue
        if any(is_pruned_dir(part, ENVIRONMENT_PRUNED_DIRS) for part in parts[:-1]):
            stats["skipped_vendored"] += 1
            continue
        location = Path(base, relative)
        if size is None:
            try:
                size = location.stat().st_size
            except OSError:
                stats["skipped_unreadable"] += 1
                continue
        repository.files.append(CandidateFile(path=relative, location=location, lang=lang,
                                              size=size))
    return repository


def python_environment_repositories(stats: collections.Counter) -> list[RepositoryFiles]:
    """The running interpreter's stdlib plus one repository per installed distribution.

    Distributions are found in the environment's site-packages; when two directories hold the
    same distribution, the first (the one ``import`` would use) wins. Sorted by repository name,
    with ``python/cpython`` first.
    """
    by_name: dict[str, Distribution] = {}
    for dist in distributions(path=_site_directories()):
        name = dist.metadata.get("Name")
        if name:
            by_name.setdefault(_normalized_distribution_name(name), dist)
    repositories = [_stdlib_repository(stats)]
    repositories += [_distribution_repository(by_name[name], name, stats)
                     for name in sorted(by_name)]
    return repositories


def _fair_share_within_cap(repositories: list[RepositoryFiles], *, max_total_bytes: int,
                           max_file_bytes: int,
                           stats: collections.Counter) -> Iterator[Document]:
    """Documents chosen so that every repository gets an equal share of ``max_total_bytes``.

    Deficit round robin over repositories: each round, every repository earns the same byte
    credit and takes its next files while they fit in its credit, so a repository of huge files
    advances as many bytes per round as one of small files, and a repository that runs out of
    files leaves its share to the others. Each repository's files are ordered by a hash of
    (repo, path), so a cap yields a spread of each package instead of its alphabetically first
    directory.

    Note:
        Everything is decided from names and sizes with integer arithmetic, so the same
        environment always gives the same selection. Files that the filters reject cost no
        credit. A file larger than what is left of the cap is counted as ``skipped_over_cap``
        and smaller ones may still follow.
    """
    queues = [
        (repository, collections.deque(sorted(
            repository.files,
            key=lambda candidate, repo=repository.repo: source_id(repo, candidate.path))))
        for repository in repositories if repository.files]
    remaining = max_total_bytes
    quantum = max(1, min(FAIR_SHARE_QUANTUM_BYTES, max_total_bytes // max(1, len(queues))))
    credit = {repository.repo: 0 for repository, _ in queues}

    def rounds_until_affordable(repository: RepositoryFiles, queue) -> int:
        size = queue[0].size
        if size > max_file_bytes or size > remaining:
            return 0  # dropped on its turn whatever the credit
        return -(-(size - credit[repository.repo]) // quantum)

    while queues:
        # Rounds in which no repository could afford its next file change nothing: skip them.
        rounds = max(1, min(rounds_until_affordable(repository, queue)
                            for repository, queue in queues))
        still_active = []
        for repository, queue in queues:
            credit[repository.repo] += rounds * quantum
            while queue:
                candidate = queue[0]
                if candidate.size <= max_file_bytes and candidate.size > remaining:
                    queue.popleft()
                    stats["skipped_over_cap"] += 1
                    continue
                if candidate.size > credit[repository.repo] and candidate.size <= max_file_bytes:
                    break
                queue.popleft()
                if candidate.location.is_symlink():
                    stats["skipped_symlink"] += 1
                    continue
                text = read_source_text(candidate.location, size=candidate.size,
                                        max_file_bytes=max_file_bytes, stats=stats)
                if text is None:
                    continue
                document = _document(repository, candidate, text)
                if document.size > remaining:  # the file grew since it was listed
                    stats["skipped_over_cap"] += 1
                    continue
                credit[repository.repo] -= document.size
                remaining -= document.size
                yield document
            if queue:
                still_active.append((repository, queue))
            else:
                credit[repository.repo] = 0
        queues = still_active


def ingest_python_env(out_dir: Path, *, max_total_bytes: int = 200_000_000,
                      max_file_bytes: int = 1_000_000, shard_bytes: int = 64 << 20,
                      stats: collections.Counter | None = None) -> collections.Counter:
    """Ingest the running interpreter's stdlib and installed packages into Stack-format shards.

    The standard library (and C headers) becomes repository ``python/cpython`` under
    ``PSF-2.0``; each installed distribution becomes a repository named by its normalized
    distribution name, with licenses from its metadata (see
    :func:`~indexer.corpus.repo_metadata.distribution_licenses`). Stars are 0. At most
    ``max_total_bytes`` of content is written, chosen deterministically and fairly across
    repositories. ``out_dir`` must be empty or absent.

    Returns ``stats`` with ``repos`` (repositories found), ``repos_written`` (with at least one
    document), ``files_listed``, ``docs_written``, ``bytes_written``, ``shards_written``,
    ``skipped_over_cap`` and the per-reason ``skipped_*`` counts of the file filters.
    """
    stats = collections.Counter() if stats is None else stats
    if max_total_bytes < 1:
        raise ValueError(f"max_total_bytes must be >= 1, got {max_total_bytes}")
    repositories = python_environment_repositories(stats)
    stats["repos"] += len(repositories)
    stats["files_listed"] += sum(len(repository.files) for repository in repositories)
    written_repos: set[str] = set()
    with StackShardWriter(Path(out_dir), shard_bytes=shard_bytes) as writer:
        for document in _fair_share_within_cap(repositories, max_total_bytes=max_total_bytes,
                                               max_file_bytes=max_file_bytes, stats=stats):
            writer.write(document)
            written_repos.add(document.repo)
    stats["repos_written"] += len(written_repos)
    stats["docs_written"] += writer.docs_written
    stats["bytes_written"] += writer.bytes_written
    stats["shards_written"] += len(writer.finished_shards)
    return stats
