"""Who a source tree or installed package belongs to, and under which licenses.

A Document's repository name and licenses come from the project around the file, not from the
file: the git remote or directory name, the LICENSE file at the root or the package metadata.
"""

from __future__ import annotations

import json
import re
import tomllib
from configparser import ConfigParser, Error as ConfigParserError
from importlib.metadata import Distribution
from pathlib import Path

from indexer.corpus.licenses import (detect_license_file, licenses_from_expression,
                                     normalize_license)

LICENSE_FILE_NAME = re.compile(r"^(?:licen[cs]e|copying|unlicense)(?:[-._].*)?$", re.IGNORECASE)
"""LICENSE, LICENSE.txt, LICENSE-MIT, LICENCE.md, COPYING, COPYING.LESSER, UNLICENSE..."""

MAX_LICENSE_FILE_BYTES = 512 << 10
MAX_SHORT_LICENSE_FIELD = 120
"""A ``License:`` metadata value longer than this (or spanning lines) is a license *text*,
pasted by older packages, and is recognised with :func:`detect_license_file` instead."""

_REMOTE_SECTION = re.compile(r'^\s*\[remote\s+"([^"]+)"\]\s*$')
_SECTION = re.compile(r"^\s*\[")
_URL_LINE = re.compile(r"^\s*url\s*=\s*(\S+)\s*$")


def repo_from_remote_url(url: str) -> str | None:
    """``owner/name`` from a git remote URL, or ``None`` for local paths and odd URLs.

    ``git@github.com:owner/name.git``, ``https://github.com/owner/name`` and
    ``ssh://git@host:22/owner/name.git`` all give ``owner/name``.
    """
    url = url.strip()
    if url.startswith(("/", ".", "file:")) or "://" not in url and ":" not in url:
        return None
    if "://" in url:
        location = url.split("://", 1)[1]
        location = location.split("/", 1)[1] if "/" in location else ""
    else:  # scp-like syntax: [user@]host:path
        location = url.split(":", 1)[1]
    location = location.strip("/")
    if location.endswith(".git"):
        location = location[:-4]
    parts = [part for part in location.split("/") if part]
    if len(parts) < 2:
        return None
    return f"{parts[-2]}/{parts[-1]}"


def git_remote_repo(root: Path) -> str | None:
    """``owner/name`` of the tree's git remote (``origin`` preferred), from ``.git/config``.

    Note:
        The config is parsed with a small line scanner rather than ``configparser``: git's
        indented ``key = value`` lines read as continuation lines there.
    """
    config = root / ".git" / "config"
    try:
        lines = config.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    urls: dict[str, str] = {}
    remote = None
    for line in lines:
        section = _REMOTE_SECTION.match(line)
        if section:
            remote = section.group(1)
        elif _SECTION.match(line):
            remote = None
        elif remote is not None and remote not in urls:
            url = _URL_LINE.match(line)
            if url:
                urls[remote] = url.group(1)
    for name in ["origin", *sorted(urls)]:
        if name in urls:
            repo = repo_from_remote_url(urls[name])
            if repo:
                return repo
    return None


def repo_name_for_tree(root: Path) -> str:
    """The tree's ``owner/name`` from its git remote, else the directory's own name."""
    return git_remote_repo(root) or root.resolve().name


def _read_license_text(path: Path) -> str | None:
    try:
        with open(path, "rb") as stream:
            return stream.read(MAX_LICENSE_FILE_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None


def _license_field(value) -> tuple[str, ...]:
    """A metadata license value: SPDX expression, free text, or a pasted license text."""
    if not isinstance(value, str) or not value.strip() or value.strip().upper() == "UNKNOWN":
        return ()
    if len(value) > MAX_SHORT_LICENSE_FIELD or "\n" in value.strip():
        detected = detect_license_file(value)
        return (detected,) if detected else ()
    return licenses_from_expression(value)


def _manifest_licenses(root: Path) -> tuple[str, ...]:
    """Licenses declared in pyproject.toml, package.json, Cargo.toml or setup.cfg at ``root``."""
    for manifest in ("pyproject.toml", "Cargo.toml"):
        try:
            data = tomllib.loads((root / manifest).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
        for table in (data.get("project"), data.get("package"), tool.get("poetry")):
            if not isinstance(table, dict):
                continue
            value = table.get("license")
            if isinstance(value, dict):  # PEP 621 table form: {text = "..."} or {file = "..."}
                if "file" in value:
                    found = detect_license_file(_read_license_text(root / str(value["file"])))
                    if found:
                        return (found,)
                value = value.get("text")
            licenses = _license_field(value)
            if licenses:
                return licenses
    try:
        package = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        package = None
    if isinstance(package, dict):
        value = package.get("license")
        if isinstance(value, dict):
            value = value.get("type")
        licenses = _license_field(value)
        if licenses:
            return licenses
    setup_cfg = ConfigParser(interpolation=None)
    try:
        setup_cfg.read(root / "setup.cfg", encoding="utf-8")
        return _license_field(setup_cfg.get("metadata", "license", fallback=None))
    except (ConfigParserError, UnicodeDecodeError):
        return ()


def tree_licenses(root: Path) -> tuple[str, ...]:
    """Licenses of a source tree: its root LICENSE/COPYING files, else its package manifest.

    Returns ``()`` when nothing is recognisable; the caller records ``unknown``. A LICENSE file
    whose text is not recognised is not guessed at.
    """
    detected: list[str] = []
    try:
        names = sorted(entry.name for entry in root.iterdir() if entry.is_file())
    except OSError:
        names = []
    for name in names:
        if LICENSE_FILE_NAME.match(name):
            found = detect_license_file(_read_license_text(root / name))
            if found:
                detected.append(found)
    if detected:
        return tuple(dict.fromkeys(detected))
    return _manifest_licenses(root)


def _is_own_license_file(parts: tuple[str, ...]) -> bool:
    """Whether a RECORD path is the distribution's own license file: top level, directly in its
    ``.dist-info``, or in ``.dist-info/licenses/`` (PEP 639) -- not a vendored project's license
    deeper below, such as ``licenses/src/_vendor/idna/LICENSE.md``."""
    if len(parts) == 1:
        return True
    if not parts[0].endswith((".dist-info", ".egg-info")):
        return False
    return len(parts) == 2 or (len(parts) == 3 and parts[1] == "licenses")


def distribution_licenses(dist: Distribution) -> tuple[str, ...]:
    """Licenses of an installed distribution, from the most specific source that has them.

    Order: ``License-Expression`` (PEP 639, an SPDX expression); a ``License`` field whose every
    part is recognised; recognised ``License ::`` classifiers; license files listed in the
    distribution's RECORD (``*.dist-info/licenses/LICENSE`` and the like); then an unrecognised
    short ``License`` field kept as given. Returns ``()`` when all are missing.

    Note:
        Classifiers come before license files because a bundled LICENSE often concatenates
        the licenses of vendored code; but a recognised classifier beats a vague ``License:
        BSD`` field, which is why unrecognised fields come last.
    """
    metadata = dist.metadata
    expression = metadata.get("License-Expression")
    if expression and expression.strip():
        return licenses_from_expression(expression)
    field = metadata.get("License")
    field_licenses = _license_field(field)
    if field_licenses and all(normalize_license(item) == item for item in field_licenses):
        return field_licenses
    from_classifiers = [normalize_license(classifier)
                        for classifier in metadata.get_all("Classifier") or []
                        if classifier.startswith("License ::")]
    recognised = tuple(dict.fromkeys(item for item in from_classifiers if item))
    if recognised:
        return recognised
    detected: list[str] = []
    for file in sorted(dist.files or [], key=str):
        if LICENSE_FILE_NAME.match(file.name) and _is_own_license_file(file.parts):
            found = detect_license_file(_read_license_text(Path(dist.locate_file(file))))
            if found:
                detected.append(found)
    if detected:
        return tuple(dict.fromkeys(detected))
    return field_licenses
