"""Membership and attribution over HTTP: ``/api/membership``, ``/api/attribution``,
``/api/attribution/batch`` (JSONL in, JSONL out, streamed) and ``/overlap``, the Data Portraits
protocol that existing clients (llm-vscode's ``llm.attributionEndpoint``) speak.

Submitted text is never logged.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request, stream_with_context
from pydantic import ValidationError

from membership.attribution import AttributionInputError, MembershipIndex

from . import models
from .app import served_index
from .privacy import attribution_json
from .errors import ApiError
from .openapi import NDJSON, json_body, operation, parse_json, validation_error

bp = Blueprint("membership", __name__)


def membership_index() -> MembershipIndex:
    index = served_index().membership
    if index is None:
        raise ApiError("this index was built without the membership sketch (--no-membership); "
                       "rebuild it with `starscope index` to test membership and attribute text",
                       status=409, code="no_membership_sketch")
    return index


def _attribute(index: MembershipIndex, req: models.AttributionRequest):
    return index.attribute(req.text, min_length=req.min_length, common_threshold=req.common_threshold,
                           max_sources=req.max_sources, near_duplicates=req.near_duplicates,
                           lang=req.lang, path=req.path)


@operation(bp, "/api/membership", "POST", summary="Is this text in the corpus?",
           body=models.MembershipRequest, response=models.MembershipResponse, errors=(409, 413, 415, 429))
def membership():
    """Every 50-character window of the normalized text is tested against the Bloom filter;
    hits chain into spans in raw character offsets. ``exact`` confirms each hit in the store,
    so no false positive is left; ``filter`` gives the filter's false-positive rates."""
    req = json_body(models.MembershipRequest)
    return membership_index().test(req.text, exact=req.exact).to_json()


@operation(bp, "/api/attribution", "POST", summary="Where did this text come from?",
           body=models.AttributionRequest, response=models.AttributionResponse, errors=(409, 413, 415, 429))
def attribution():
    """Maximal verbatim spans with their sources (repository, path, lines, licenses), spans
    held by more than ``common_threshold`` documents flagged ``common``, near-duplicates and
    renamed copies, and a license summary."""
    req = json_body(models.AttributionRequest)
    return attribution_json(_attribute(membership_index(), req).to_json(), served_index().store)


def _batch_lines(index: MembershipIndex, limit: int, max_line: int):
    number = 0
    for raw in request.stream:
        number += 1
        if not raw.strip():
            continue
        if number > limit:
            yield {"line": number, "error": {"code": "batch_too_long", "message":
                   f"a batch holds at most {limit} lines; lines from {number} on were not read"}}
            return
        record: dict = {"line": number}
        try:
            if len(raw) > max_line:
                raise ApiError(f"the line is {len(raw):,} bytes; the limit is {max_line:,}",
                               status=413, code="line_too_long")
            data = parse_json(raw)
            if not isinstance(data, dict):
                raise ApiError("each line must be a JSON object", code="invalid_body")
            if "id" in data:
                record["id"] = data.pop("id") if isinstance(data["id"], (str, int)) else str(data.pop("id"))
            try:
                req = models.AttributionRequest.model_validate(data)
            except ValidationError as e:
                raise validation_error(e) from None
            record["result"] = attribution_json(_attribute(index, req).to_json(), served_index().store)
        except AttributionInputError as e:
            record["error"] = {"code": e.code, "message": str(e)}
        except ApiError as e:
            record["error"] = {"code": e.code, "message": e.message}
        yield record


@operation(bp, "/api/attribution/batch", "POST", summary="Attribute many texts (JSONL in, JSONL out)",
           body=models.AttributionRequest, body_media=NDJSON, response=models.BatchLine,
           response_media=NDJSON, errors=(409, 413, 429))
def attribution_batch():
    """For pipelines: one attribution request per line (``{"id"?, "text", ...knobs}``), one
    result per line in order, streamed as each is done: ``{"line", "id"?, "result"}`` or
    ``{"line", "id"?, "error": {"code", "message"}}`` for a line that cannot be attributed. At
    most ``MAX_BATCH_LINES`` lines and ``MAX_BATCH_BYTES`` bytes."""
    index = membership_index()
    config = current_app.config
    limit, max_line = config["MAX_BATCH_LINES"], config["MAX_CONTENT_LENGTH"]
    if request.content_length == 0 or (request.content_length is None and not request.headers.get("Transfer-Encoding")):
        raise ApiError("the batch is empty: send one JSON object per line", code="empty_batch")

    def generate():
        for record in _batch_lines(index, limit, max_line):
            yield json.dumps(record, ensure_ascii=False) + "\n"

    return Response(stream_with_context(generate()), mimetype=NDJSON)


@operation(bp, "/overlap", "POST", summary="Data Portraits overlap (llm-vscode's attribution endpoint)",
           body=models.OverlapRequest, response=models.OverlapResponse, errors=(409, 413, 415, 429))
def overlap():
    """The protocol of Data Portraits' servers: ``{"document": text}`` in, ``{"spans": [[start,
    end], ...]}`` out in raw character offsets of the document, so clients such as the Hugging
    Face VS Code extension underline them unchanged. Spans are the verified verbatim matches
    (boilerplate included: an IDE shows all of it); ``matches`` gives their sources. A document
    too short to hold one 50-character chunk overlaps nothing."""
    req = json_body(models.OverlapRequest)
    index = membership_index()
    try:
        result = index.attribute(req.document, near_duplicates=False)
    except AttributionInputError as e:
        if e.code not in ("empty_text", "text_too_short"):
            raise
        return {"spans": [], "member": False, "fraction": 0.0, "longest_chain": 0, "matches": []}
    spans = sorted(result.spans, key=lambda s: s.start)
    return {"spans": [[s.start, s.end] for s in spans], "member": bool(spans),
            "fraction": result.coverage, "longest_chain": result.longest,
            "matches": attribution_json({"spans": [s.to_json() for s in spans]}, served_index().store)["spans"]}
