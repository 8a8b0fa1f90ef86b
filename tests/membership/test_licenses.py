from membership.licenses import COPYLEFT, PERMISSIVE, UNKNOWN, family, overall_family, summarize


def test_families_of_common_licenses():
    assert [family(x) for x in ("MIT", "BSD-3-Clause", "Apache-2.0", "PSF-2.0", "ISC", "Unlicense")] == [PERMISSIVE] * 6
    assert [family(x) for x in ("GPL-3.0-only", "AGPL-3.0-or-later", "LGPL-2.1-only", "MPL-2.0", "EPL-2.0")] == [COPYLEFT] * 5
    assert [family(x) for x in ("unknown", None, "", "LicenseRef-proprietary", "NOASSERTION")] == [UNKNOWN] * 5


def test_summary_flags_copyleft_and_unknown_and_counts_each_source_once_per_license():
    s = summarize([("MIT",), ("MIT", "GPL-2.0-only"), (), ("LGPL-3.0-only",)])
    assert s["sources"] == 4 and s["licenses"] == {"MIT": 2, "GPL-2.0-only": 1, "LGPL-3.0-only": 1, "unknown": 1}
    assert s["families"] == {PERMISSIVE: 2, COPYLEFT: 2, UNKNOWN: 1}
    assert s["copyleft"] and s["unknown"] and not s["weak_copyleft_only"]
    assert summarize([("MPL-2.0",)])["weak_copyleft_only"]
    assert summarize([]) == {"sources": 0, "licenses": {}, "families": {PERMISSIVE: 0, COPYLEFT: 0, UNKNOWN: 0},
                             "copyleft": False, "weak_copyleft_only": False, "unknown": False}


def test_a_source_with_several_licenses_shows_the_one_to_heed_first():
    assert overall_family(("MIT", "GPL-2.0-only")) == COPYLEFT
    assert overall_family(("MIT", "unknown")) == UNKNOWN
    assert overall_family(("MIT", "Apache-2.0")) == PERMISSIVE
    assert overall_family(()) == UNKNOWN
