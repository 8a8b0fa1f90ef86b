"""Which input column or JSON key feeds which :class:`~indexer.document.Document` field.

Public code corpora agree on almost nothing but the idea: The Stack calls the repository
``max_stars_repo_name``, other dumps ``repo_name`` or ``repository_name``; licenses come as a list
or a string. :class:`FieldMap` names the columns explicitly; every field left ``None`` is
auto-detected from :data:`KNOWN_FIELD_NAMES`, first match wins.
"""

from __future__ import annotations

from dataclasses import dataclass, fields as dataclass_fields

from indexer.corpus.licenses import licenses_from_expression, licenses_from_values
from indexer.document import UNKNOWN_LICENSE
from membership.languages import canonical_language, language_for

KNOWN_FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "repo": ("max_stars_repo_name", "max_issues_repo_name", "max_forks_repo_name", "repo_name",
             "repository_name", "repo"),
    "path": ("max_stars_repo_path", "max_issues_repo_path", "max_forks_repo_path", "path",
             "file_path", "filepath"),
    "licenses": ("max_stars_repo_licenses", "max_issues_repo_licenses",
                 "max_forks_repo_licenses", "licenses", "license"),
    "lang": ("lang", "language"),
    "stars": ("max_stars_count", "stars"),
    "id": ("id", "hexsha"),
}
"""Column names tried, in order, for each metadata field left ``None`` in a :class:`FieldMap`."""


@dataclass(frozen=True)
class FieldMap:
    """Input column (parquet) or key (JSONL) for each Document field.

    ``text`` is always used as given. A metadata field set to a name must exist in a parquet
    file (else :class:`~indexer.corpus.CorpusError`); ``None`` means auto-detect from
    :data:`KNOWN_FIELD_NAMES`. In JSONL a named key that a line lacks is treated like a missing
    value.
    """

    text: str = "content"
    repo: str | None = None
    path: str | None = None
    licenses: str | None = None
    lang: str | None = None
    stars: str | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        for field in dataclass_fields(self):
            value = getattr(self, field.name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"FieldMap.{field.name} must be a non-empty column name or None "
                                 f"(auto-detect), got {value!r}")

    def metadata_fields(self) -> dict[str, str | None]:
        """The metadata field names (not ``text``) and what this map says about each."""
        return {name: getattr(self, name) for name in KNOWN_FIELD_NAMES}


def choose_column(field: str, explicit: str | None, available) -> str | None:
    """The column that feeds ``field``: the explicit one when given, else the first known name
    in ``available`` (anything supporting ``in``), else ``None``."""
    if explicit is not None:
        return explicit if explicit in available else None
    for candidate in KNOWN_FIELD_NAMES[field]:
        if candidate in available:
            return candidate
    return None


def licenses_value(raw) -> tuple[str, ...]:
    """A licenses cell (string, list of strings or null) as normalized SPDX ids or ``unknown``."""
    if raw is None:
        licenses: tuple[str, ...] = ()
    elif isinstance(raw, str):
        licenses = licenses_from_expression(raw)
    elif isinstance(raw, (list, tuple)):
        licenses = licenses_from_values(tuple(str(item) for item in raw if item is not None))
    else:
        licenses = licenses_from_expression(str(raw))
    return licenses or (UNKNOWN_LICENSE,)


def stars_value(raw) -> int:
    """A stars cell as a non-negative int; null, NaN and garbage count as 0 stars."""
    if raw is None or isinstance(raw, bool):
        return 0
    try:
        stars = int(float(raw))
    except (TypeError, ValueError, OverflowError):
        return 0
    return max(stars, 0)


def lang_value(raw, path: str) -> str:
    """The corpus' language label in The Stack's spelling, or the one the path implies."""
    return canonical_language(raw if isinstance(raw, str) else None) or language_for(path)
