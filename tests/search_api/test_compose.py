"""Generate, then attribute: the composition the API and ``starscope generate --attribute`` share."""

import pytest

from indexer.index_dir import IndexDir
from membership.attribution import AttributionConfig, AttributionInputError
from model.generate import GenerationRequest, Generator
from search_api.compose import attribute_generated, generate_and_attribute

from .conftest import FIB


def test_text_too_little_to_attribute_is_a_reason_and_any_other_refusal_is_raised(index_dir):
    index = IndexDir(index_dir).membership(AttributionConfig(max_chars=1000))
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


def test_attribution_covers_the_generated_part_only(demo_model):
    generator = Generator.load(demo_model.path, device="cpu")
    index = IndexDir(demo_model.index).membership()
    body = generate_and_attribute(generator, index, GenerationRequest(prompt="import os\n\n\ndef ", max_new_tokens=120,
                                                                      temperature=0))
    assert body["generation"]["new_tokens"] >= 1 and body["generation"]["text"] == body["text"]
    attribution, reason = attribute_generated(index, body["text"])  # the generated text alone, not the prompt
    assert (body["attribution"], body.get("attribution_reason")) == (attribution, reason)
    if body["attribution"] is None:  # too little text for one chunk (a tiny model may write spaces)
        assert "characters" in body["attribution_reason"] or "empty" in body["attribution_reason"]
    else:
        assert body["attribution"]["length"] == len(body["text"])  # offsets are in the generated text
        for span in body["attribution"]["spans"]:
            assert body["text"][span["start"]:span["end"]] == span["text"]
