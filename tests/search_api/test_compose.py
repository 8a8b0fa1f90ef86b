"""Generate, then attribute: the composition the API makes."""

import pytest

from membership.attribution import AttributionConfig, AttributionInputError, MembershipIndex
from search_api.compose import attribute_generated

from .conftest import FIB


def test_text_too_little_to_attribute_is_a_reason_and_any_other_refusal_is_raised(index_dir):
    index = MembershipIndex.open(index_dir, config=AttributionConfig(max_chars=1000))
    for text, code in ((" \n\t ", "empty_text"), ("x = 1\n", "text_too_short")):
        with pytest.raises(AttributionInputError) as e:
            index.attribute(text)
        assert e.value.code == code
        assert attribute_generated(index, text) == (None, str(e.value))  # membership's own words
    with pytest.raises(AttributionInputError) as e:
        attribute_generated(index, "x = 1\n" * 200)
    assert e.value.code == "text_too_long"
    attribution, reason = attribute_generated(index, "# mine\n" + FIB)
    assert reason is None and attribution["length"] == len("# mine\n" + FIB) and attribution["spans"]

