"""License families for attribution: what a user must know about code that matched.

Three families, as code-referencing tools show them: ``permissive`` (MIT, BSD, Apache, ...),
``copyleft`` (GPL family, MPL, EPL, ...: obligations follow the code; ``weak`` for the
file- or library-scoped ones) and ``unknown`` (no license found, or one we cannot classify:
shown as unknown, never guessed).
"""

from __future__ import annotations

from typing import Iterable

PERMISSIVE = "permissive"
COPYLEFT = "copyleft"
UNKNOWN = "unknown"

_STRONG_COPYLEFT = ("GPL-", "AGPL-", "OSL-", "EUPL-", "CC-BY-SA-", "CECILL-2", "SSPL-", "RPL-",
                    "Sleepycat", "QPL-", "CPAL-")
_WEAK_COPYLEFT = ("LGPL-", "MPL-", "EPL-", "CDDL-", "MS-RL", "CPL-", "APSL-", "CECILL-C",
                  "Artistic-1.0")
_PERMISSIVE_PREFIXES = ("MIT", "BSD-", "Apache-", "ISC", "PSF-", "Python-", "Zlib", "Unlicense",
                        "CC0-", "0BSD", "BSL-1.0", "X11", "NCSA", "PostgreSQL", "Artistic-2.0",
                        "WTFPL", "UPL-", "Unicode-", "HPND", "CC-BY-4.0", "CC-BY-3.0", "AFL-",
                        "ZPL-", "OpenSSL", "libpng", "curl", "BlueOak-", "MIT-0", "Beerware", "Vim")


def family(spdx: str | None) -> str:
    """``permissive``, ``copyleft`` or ``unknown`` for one SPDX id."""
    if not spdx or spdx.lower() in ("unknown", "noassertion", "none"):
        return UNKNOWN
    if spdx.startswith(_STRONG_COPYLEFT) or spdx.startswith(_WEAK_COPYLEFT):
        return COPYLEFT
    if spdx.startswith(_PERMISSIVE_PREFIXES):
        return PERMISSIVE
    return UNKNOWN


def overall_family(licenses) -> str:
    """One family for a source with several licenses: what a user must heed first, so
    ``copyleft`` over ``unknown`` over ``permissive`` (no license at all is ``unknown``)."""
    families = {family(x) for x in licenses} or {UNKNOWN}
    return next(f for f in (COPYLEFT, UNKNOWN, PERMISSIVE) if f in families)


def is_weak_copyleft(spdx: str) -> bool:
    return spdx.startswith(_WEAK_COPYLEFT)


def summarize(license_lists: Iterable[Iterable[str]]) -> dict:
    """Counts per license and per family over sources (each given by its license list).

    A source with several licenses counts once for each; ``copyleft`` is true when any source
    carries a copyleft license, ``unknown`` when any source has no known license.
    """
    return summarize_counts((licenses, 1) for licenses in license_lists)


def summarize_counts(weighted: Iterable[tuple[Iterable[str], int]]) -> dict:
    """:func:`summarize` of sources given as ``(license list, how many sources carry it)``
    (plain dicts: a span's summary is asked hundreds of times in one attribution)."""
    per_license: dict[str, int] = {}
    per_family: dict[str, int] = {}
    sources = 0
    for licenses, n in weighted:
        sources += n
        licenses = tuple(licenses) or (UNKNOWN,)
        for x in licenses:
            per_license[x] = per_license.get(x, 0) + n
        for f in {family(x) for x in licenses}:
            per_family[f] = per_family.get(f, 0) + n
    return {"sources": sources,
            "licenses": dict(sorted(per_license.items(), key=lambda kv: (-kv[1], kv[0]))),
            "families": {f: per_family.get(f, 0) for f in (PERMISSIVE, COPYLEFT, UNKNOWN)},
            "copyleft": per_family.get(COPYLEFT, 0) > 0,
            "weak_copyleft_only": (per_family.get(COPYLEFT, 0) > 0 and all(
                is_weak_copyleft(lic) for lic in per_license if family(lic) == COPYLEFT)),
            "unknown": per_family.get(UNKNOWN, 0) > 0}
