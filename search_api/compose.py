"""Generate, then attribute: where the model and membership meet.

The model knows nothing of attribution and membership nothing of models; the API composes the
two, and so does the command line's ``generate --attribute``, through this module, which imports
no Flask: the blueprints add what HTTP needs (errors, redaction) around it.
"""

from __future__ import annotations

from membership.attribution import AttributionInputError, MembershipIndex
from model.generate import GenerationRequest, Generator

NOT_ATTRIBUTABLE = ("empty_text", "text_too_short")
"""The refusals that say only that the generated text is too little to attribute: a tiny model
may write nothing or a few spaces. These become a reason beside a None attribution; any other
refusal of the text is raised."""


def attribute_generated(index: MembershipIndex, text: str) -> tuple[dict | None, str | None]:
    """The attribution of generated ``text`` (its JSON form) and None, or None and the reason
    when the text is empty or too short to hold one 50-character chunk."""
    try:
        return index.attribute(text).to_json(), None
    except AttributionInputError as e:
        if e.code not in NOT_ATTRIBUTABLE:
            raise
        return None, str(e)


def generate_and_attribute(generator: Generator, index: MembershipIndex, req: GenerationRequest) -> dict:
    """Generate, then attribute the generated part only (never the prompt): ``{"text",
    "generation", "attribution"}``, attribution None (with ``attribution_reason``) when the text
    is too short to hold one 50-character chunk."""
    result = generator.generate(req)
    body = {"text": result.text, "generation": result.to_json(), "attribution": None}
    attribution, reason = attribute_generated(index, result.text)
    if reason is None:
        body["attribution"] = attribution
    else:
        body["attribution_reason"] = reason
    return body
