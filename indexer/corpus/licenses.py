"""License names, expressions and LICENSE-file texts turned into SPDX identifiers.

Corpora spell the same license many ways: The Stack stores SPDX ids (``"Apache-2.0"``), package
metadata uses free text (``"Apache License, Version 2.0"``), trove classifiers
(``"License :: OSI Approved :: Apache Software License"``) or SPDX expressions
(``"MIT OR Apache-2.0"``), and source trees ship the license text itself. Filters and the
attribution display need one spelling, so everything goes through this module.

Note:
    Recognition is deliberately conservative: an ambiguous name (``"BSD"``, ``"GPL"``) is *not*
    guessed into a specific SPDX id. :func:`normalize_license` returns ``None`` for it and the
    callers keep the name as given, so an unclear license stays visibly unclear instead of being
    silently upgraded to one the author may not have chosen. Every id this module returns maps
    to itself again (normalization is idempotent), so re-reading a shard written by the ingester
    does not change its licenses.
"""

from __future__ import annotations

import functools
import re

_SPDX_IDS = (
    "0BSD", "AFL-3.0", "AGPL-1.0-only", "AGPL-1.0-or-later", "AGPL-3.0-only", "AGPL-3.0-or-later",
    "Apache-1.0", "Apache-1.1", "Apache-2.0", "Artistic-1.0", "Artistic-2.0", "BlueOak-1.0.0",
    "BSD-1-Clause", "BSD-2-Clause", "BSD-3-Clause", "BSD-3-Clause-Clear", "BSD-4-Clause",
    "BSL-1.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC0-1.0",
    "CDDL-1.0", "CDDL-1.1", "CNRI-Python", "ECL-2.0", "EPL-1.0", "EPL-2.0", "EUPL-1.1",
    "EUPL-1.2", "GPL-1.0-only", "GPL-1.0-or-later", "GPL-2.0-only", "GPL-2.0-or-later",
    "GPL-3.0-only", "GPL-3.0-or-later", "HPND", "ISC", "LGPL-2.0-only", "LGPL-2.0-or-later",
    "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0-only", "LGPL-3.0-or-later", "Libpng",
    "MIT", "MIT-0", "MIT-CMU", "MPL-1.0", "MPL-1.1", "MPL-2.0", "MS-PL", "MS-RL", "NCSA",
    "OFL-1.1", "OpenSSL", "PostgreSQL", "PSF-2.0", "Python-2.0", "Ruby", "Unicode-DFS-2016",
    "Unicode-3.0", "Unlicense", "UPL-1.0", "Vim", "W3C", "WTFPL", "X11", "Zlib", "ZPL-2.1",
)
"""SPDX license ids recognised verbatim (case-insensitively)."""

_ALIASES = {
    # Deprecated SPDX ids and their current spelling.
    "gpl-1.0": "GPL-1.0-only", "gpl-1.0+": "GPL-1.0-or-later",
    "gpl-2.0": "GPL-2.0-only", "gpl-2.0+": "GPL-2.0-or-later",
    "gpl-3.0": "GPL-3.0-only", "gpl-3.0+": "GPL-3.0-or-later",
    "lgpl-2.0": "LGPL-2.0-only", "lgpl-2.0+": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only", "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3.0": "LGPL-3.0-only", "lgpl-3.0+": "LGPL-3.0-or-later",
    "agpl-1.0": "AGPL-1.0-only", "agpl-3.0": "AGPL-3.0-only", "agpl-3.0+": "AGPL-3.0-or-later",
    # Common short names that are not SPDX ids but are unambiguous.
    "zlib/libpng": "Zlib", "zlib/libpng license": "Zlib",
    "expat": "MIT", "expat license": "MIT",
    "public domain (unlicense)": "Unlicense",
}

_CANONICAL_BY_LOWER = {spdx.lower(): spdx for spdx in _SPDX_IDS} | _ALIASES

_CLASSIFIER_PREFIX = re.compile(r"^license\s*::\s*(?:osi approved\s*::\s*)?", re.IGNORECASE)
_OR_LATER = re.compile(r"\+|\bor[ -](?:any )?later\b|\band later\b|\bor newer\b|\bor above\b")
_GNU_VERSION = re.compile(
    r"(?:\bv|\bversion\s*|gpl\s*v?|-|\s|\()([123])(?:\.([01]))?(?:\.0)?(?![\d.])")
_BSD_VARIANTS = (
    (re.compile(r"\b0[- ]clause|zero[- ]clause|\b0bsd\b"), "0BSD"),
    (re.compile(r"\b4[- ]clause|four[- ]clause|\boriginal\b|\bbsd-?4\b"), "BSD-4-Clause"),
    (re.compile(r"\b3[- ]clause|three[- ]clause|\bnew\b|\bmodified\b|\brevised\b|\bbsd-?3\b"),
     "BSD-3-Clause"),
    (re.compile(r"\b2[- ]clause|two[- ]clause|\bsimplified\b|\bfreebsd\b|\bbsd-?2\b"),
     "BSD-2-Clause"),
)
_NAME_RULES = (
    (re.compile(r"\bmit[- ]0\b|\bmit no attribution\b"), "MIT-0"),
    (re.compile(r"\bmit\b|\bexpat\b"), "MIT"),
    (re.compile(r"\bunlicense\b"), "Unlicense"),
    (re.compile(r"\bpython software foundation\b|\bpsfl?\b|\bpsf-2\.0\b"), "PSF-2.0"),
    (re.compile(r"\bcnri\b"), "CNRI-Python"),
    (re.compile(r"^python(?: license)?(?: 2\.0)?$"), "Python-2.0"),
    (re.compile(r"\biscl?\b"), "ISC"),
    (re.compile(r"\bzlib\b"), "Zlib"),
    (re.compile(r"\bcc0\b"), "CC0-1.0"),
    (re.compile(r"\bboost software\b|\bbsl-?1\.0\b"), "BSL-1.0"),
    (re.compile(r"\bwtfpl\b|\bdo what the f"), "WTFPL"),
    (re.compile(r"\bhistorical permission notice\b|\bhpnd\b"), "HPND"),
    (re.compile(r"\buniversal permissive\b|\bupl\b"), "UPL-1.0"),
    (re.compile(r"\bcommon development and distribution\b|\bcddl\b"), "CDDL-1.0"),
    (re.compile(r"\buniversity of illinois\b|\bncsa\b"), "NCSA"),
)
_VERSIONED_RULES = (
    # (family pattern, {version: spdx}) -- a family without a recognised version is ambiguous.
    (re.compile(r"\bmozilla public\b|\bmpl\b"),
     {"2.0": "MPL-2.0", "1.1": "MPL-1.1", "1.0": "MPL-1.0"}),
    (re.compile(r"\beclipse public\b|\bepl\b"), {"2.0": "EPL-2.0", "1.0": "EPL-1.0"}),
    (re.compile(r"\beuropean union public\b|\beupl\b"), {"1.2": "EUPL-1.2", "1.1": "EUPL-1.1"}),
    (re.compile(r"\bartistic\b"), {"2.0": "Artistic-2.0", "1.0": "Artistic-1.0"}),
    (re.compile(r"\bacademic free\b|\bafl\b"), {"3.0": "AFL-3.0"}),
)
_DECIMAL_VERSION = re.compile(r"(?<![\d.])(\d)(?:\.(\d))?(?![\d])")
_EXPRESSION_SEPARATORS = re.compile(r"\s+(?:or|and)\s+|\s*[()/;,&|]\s*", re.IGNORECASE)
_SPDX_OPERATORS = re.compile(r"\s+(?:OR|AND)\s+")


def _clean(text: str) -> str:
    """Lowercase, single-spaced, British 'licence' spelled 'license', classifier prefix removed."""
    text = _CLASSIFIER_PREFIX.sub("", " ".join(text.split()))
    text = text.split("::")[-1].strip()
    return re.sub(r"licen[cs]e", "license", text.lower())


def _gnu_license(text: str) -> str | None:
    if "affero" in text or re.search(r"\bagpl", text):
        family = "AGPL"
    elif re.search(r"\blesser\b|\blibrary general public\b|\blgpl", text):
        family = "LGPL"
    elif "general public license" in text or re.search(r"\bgpl", text):
        family = "GPL"
    else:
        return None
    match = _GNU_VERSION.search(text)
    if match is None:
        return None
    major, minor = match.group(1), match.group(2) or "0"
    version = f"{major}.{minor}"
    if version not in {"AGPL": ("1.0", "3.0"), "LGPL": ("2.0", "2.1", "3.0"),
                       "GPL": ("1.0", "2.0", "3.0")}[family]:
        return None
    suffix = "or-later" if _OR_LATER.search(text) else "only"
    return f"{family}-{version}-{suffix}"


def _apache_license(text: str) -> str | None:
    if not re.search(r"\bapache\b|\basl\b", text):
        return None
    if re.search(r"(?<![\d.])1\.1\b", text):
        return "Apache-1.1"
    if re.search(r"(?<![\d.])1(?:\.0)?\b", text):
        return "Apache-1.0"
    return "Apache-2.0"  # "Apache Software License" (the classifier) and "Apache 2" alike


def _bsd_license(text: str) -> str | None:
    if not re.search(r"\bbsd\b|\bbsd-|\bberkeley\b", text):
        return None
    for pattern, spdx in _BSD_VARIANTS:
        if pattern.search(text):
            return spdx
    return None  # plain "BSD" / "BSD License": 2-, 3- or 4-clause, we cannot tell


def _named_license(text: str) -> str | None:
    for function in (_gnu_license, _apache_license, _bsd_license):
        found = function(text)
        if found:
            return found
    for pattern, spdx in _NAME_RULES:
        if pattern.search(text):
            return spdx
    for pattern, by_version in _VERSIONED_RULES:
        if pattern.search(text):
            version = _DECIMAL_VERSION.search(text)
            if version is None:
                return None
            return by_version.get(f"{version.group(1)}.{version.group(2) or '0'}")
    return None


def _lookup(text: str) -> str | None:
    """Exact SPDX id, deprecated id or alias; no fuzzy matching."""
    stripped = " ".join(text.split())
    found = _CANONICAL_BY_LOWER.get(stripped.lower())
    if found is None:
        found = _CANONICAL_BY_LOWER.get(_clean(stripped))
    return found


@functools.lru_cache(maxsize=4096)
def normalize_license(text: str | None) -> str | None:
    """The SPDX id of one license name, or ``None`` when it is not recognisable as exactly one.

    Accepts SPDX ids in any case (``"apache-2.0"``), deprecated ids (``"GPL-2.0+"``), names
    (``"Apache License, Version 2.0"``, ``"GNU GPLv3"``, ``"New BSD"``), trove classifiers
    (``"License :: OSI Approved :: MIT License"``) and ``WITH`` exceptions
    (``"Apache-2.0 WITH LLVM-exception"`` keeps the exception). Returns ``None`` for empty text,
    for unknown or ambiguous names (``"BSD"``, ``"GPL"``, ``"Proprietary"``) and for compound
    expressions such as ``"MIT OR Apache-2.0"`` -- use :func:`licenses_from_expression` for those.
    """
    if not text or not text.strip():
        return None
    found = _lookup(text)
    if found:
        return found
    with_exception = re.split(r"\s+WITH\s+", text.strip(), maxsplit=1, flags=re.IGNORECASE)
    if len(with_exception) == 2:
        base = normalize_license(with_exception[0])
        return f"{base} WITH {with_exception[1].strip()}" if base else None
    if len(_split_expression(text)) > 1 or len(_SPDX_OPERATORS.split(text)) > 1:
        return None
    return _named_license(_clean(text))


def _split_expression(text: str) -> tuple[str, ...]:
    """The parts of a compound license text, when every part is a recognisable license."""
    parts = [part for part in _EXPRESSION_SEPARATORS.split(text) if part and part.strip()]
    if len(parts) < 2:
        return ()
    normalized = []
    for part in parts:
        found = normalize_license(part)  # terminates: a part holds no separator any more
        if found is None:
            return ()
        normalized.append(found)
    return tuple(dict.fromkeys(normalized))


@functools.lru_cache(maxsize=4096)
def licenses_from_expression(text: str | None) -> tuple[str, ...]:
    """Every license named by a license field, as SPDX ids where recognisable.

    ``"MIT OR Apache-2.0"`` -> ``("MIT", "Apache-2.0")``; ``"(MIT OR Apache-2.0) AND
    BSD-3-Clause"`` -> three ids; ``"MIT/Apache-2.0"`` -> two ids; ``"GPLv2 or later"`` -> one
    id (``"or later"`` is part of the name, not an operator). Parts that are not recognisable are
    kept as given, and text that is not a recognisable license at all comes back unchanged as a
    single item. Empty text gives ``()``; the caller decides that this means ``unknown``.

    Note:
        Both ``OR`` and ``AND`` produce a flat tuple: the corpus records which licenses a file is
        offered under, and the choice between them is the user's, not the indexer's.
    """
    if not text or not text.strip():
        return ()
    found = _lookup(text)
    if found:
        return (found,)
    parts = _split_expression(text)
    if parts:
        return parts
    single = normalize_license(text)
    if single:
        return (single,)
    operator_parts = [part.strip() for part in _SPDX_OPERATORS.split(text) if part and part.strip()]
    if len(operator_parts) > 1:
        return tuple(dict.fromkeys(normalize_license(part) or part for part in operator_parts))
    return (" ".join(text.split()),)


@functools.lru_cache(maxsize=4096)
def licenses_from_values(values: tuple[str, ...]) -> tuple[str, ...]:
    """Normalize a list of license fields (as in The Stack's ``max_stars_repo_licenses``)."""
    normalized: list[str] = []
    for value in values:
        if value is not None:
            normalized.extend(licenses_from_expression(str(value)))
    return tuple(dict.fromkeys(normalized))


def _window(text: str, start: int, length: int = 1500) -> str:
    return text[start:start + length]


def _mit_variant(text: str, start: int) -> str:
    included = "above copyright notice and this permission notice shall be included"
    return "MIT" if included in _window(text, start) else "MIT-0"


def _bsd_variant(text: str, start: int) -> str:
    window = _window(text, start, 2000)
    if "all advertising materials mentioning features or use of this software" in window:
        return "BSD-4-Clause"
    if "neither the name" in window or "may be used to endorse or promote products" in window:
        return "BSD-3-Clause"
    return "BSD-2-Clause"


def _isc_variant(text: str, start: int) -> str:
    notice = "provided that the above copyright notice and this permission notice appear in all"
    return "ISC" if notice in _window(text, start, 400) else "0BSD"


def _gnu_variant(family: str):
    def variant(text: str, start: int) -> str | None:
        window = _window(text, start, 400)
        dated = re.search(r"version (\d)(?: (\d))? (?:\d+ )?(?:january|february|march|april|may|"
                          r"june|july|august|september|october|november|december)", window)
        if dated:  # the license text itself: its title carries a version and a date
            version = f"{dated.group(1)}.{dated.group(2) or '0'}"
            return f"{family}-{version}-only"
        notice = re.search(r"either version (\d)(?: (\d))? of the license or at your option any "
                           r"later version", _window(text, start, 800))
        if notice:
            return f"{family}-{notice.group(1)}.{notice.group(2) or '0'}-or-later"
        plain = re.search(r"version (\d)(?: (\d))?\b", window)
        if plain:
            return f"{family}-{plain.group(1)}.{plain.group(2) or '0'}-only"
        return None
    return variant


_LICENSE_FILE_MARKERS = (
    # (characteristic phrase in normalized text, SPDX id or function(text, start) -> id)
    ("python software foundation license version 2", "PSF-2.0"),
    ("psf license agreement for python", "PSF-2.0"),
    ("apache license version 2 0", "Apache-2.0"),
    ("www apache org licenses license 2 0", "Apache-2.0"),
    ("gnu affero general public license", _gnu_variant("AGPL")),
    ("gnu lesser general public license", _gnu_variant("LGPL")),
    ("gnu library general public license", lambda text, start: "LGPL-2.0-only"),
    ("gnu general public license", _gnu_variant("GPL")),
    ("mozilla public license version 2 0", "MPL-2.0"),
    ("mozilla public license v 2 0", "MPL-2.0"),
    ("mozilla public license version 1 1", "MPL-1.1"),
    ("permission is hereby granted free of charge to any person obtaining a copy", _mit_variant),
    ("redistribution and use in source and binary forms with or without modification are "
     "permitted", _bsd_variant),
    ("permission to use copy modify and or distribute this software for any purpose with or "
     "without fee is hereby granted", _isc_variant),
    ("permission to use copy modify and distribute this software for any purpose with or without "
     "fee is hereby granted", _isc_variant),
    ("this is free and unencumbered software released into the public domain", "Unlicense"),
    ("boost software license version 1 0", "BSL-1.0"),
    ("eclipse public license v 2 0", "EPL-2.0"),
    ("eclipse public license v 1 0", "EPL-1.0"),
    ("cc0 1 0 universal", "CC0-1.0"),
    ("this software is provided as is without any express or implied warranty in no event will "
     "the authors be held liable", "Zlib"),
    ("do what the fuck you want to public license", "WTFPL"),
)


def detect_license_file(text: str | None) -> str | None:
    """The SPDX id of a LICENSE/COPYING file's text, recognised by its characteristic phrases.

    Wrapping, punctuation and case do not matter (the text is reduced to lowercase words).
    When a file holds several licenses -- a project's own followed by those of vendored code,
    as in NumPy's or CPython's -- the one whose phrase comes first wins, because projects put
    their own license at the top. A very short file that merely names a license (``"MIT"``) is
    read as a name. Returns ``None`` when nothing is recognised; callers then record
    ``unknown``.

    Note:
        The full GPL/LGPL texts contain the "or (at your option) any later version" phrase in
        their how-to-apply appendix, so a bare copy of the license is reported as ``-only``; a
        source notice ("either version 2 of the License, or ... any later version") without the
        license title is reported as ``-or-later``.
    """
    if not text or not text.strip():
        return None
    normalized = " ".join(re.sub(r"[^a-z0-9+]+", " ", text.lower()).split())
    earliest: tuple[int, object] | None = None
    for phrase, license_or_variant in _LICENSE_FILE_MARKERS:
        position = normalized.find(phrase)
        if position >= 0 and (earliest is None or position < earliest[0]):
            earliest = (position, license_or_variant)
    if earliest is not None:
        position, license_or_variant = earliest
        if callable(license_or_variant):
            return license_or_variant(normalized, position)
        return license_or_variant
    if len(text) <= 200:
        return normalize_license(text.strip().splitlines()[0])
    return None
