"""Membership and attribution over HTTP: ``/api/membership``, ``/api/attribution``,
``/api/attribution/batch`` (JSONL in, JSONL out, streamed) and ``/overlap``, the Data Portraits
protocol that existing clients (llm-vscode's ``llm.attributionEndpoint``) speak.

Submitted text is never logged.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, g, request, stream_with_context
from pydantic import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from indexer.store import StoreUnavailable
from membership.attribution import AttributionInputError, MembershipIndex

from . import models
from .errors import STORE_UNAVAILABLE, ApiError
from .privacy import attribution_json
from .openapi import NDJSON, json_body, operation, parse_json, validation_error
from .served import served_index

bp = Blueprint("membership", __name__)


def membership_index() -> MembershipIndex:
    served = served_index()
    index = served.membership
    if index is None and served.filter_outdated is not None:
        raise ApiError(served.filter_outdated_message, status=409, code="filter_outdated")
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


BLOCK = 64 << 10


def _body_lines(stream, max_line: int):
    """The body's lines, read a block at a time (iterating the stream reads it a byte at a
    time); a line longer than ``max_line`` comes as its length alone, never held whole."""
    pending, skipped = b"", 0  # the line under way; its length when it is being skipped
    while block := stream.read(BLOCK):
        start = 0
        while (end := block.find(b"\n", start)) >= 0:
            if skipped:
                yield skipped + end - start
            else:
                line = pending + block[start:end]
                yield line if len(line) <= max_line else len(line)
            pending, skipped, start = b"", 0, end + 1
        if skipped:
            skipped += len(block) - start
        else:
            pending += block[start:]
            if len(pending) > max_line:
                pending, skipped = b"", len(pending)
    if skipped:
        yield skipped
    elif pending:
        yield pending


def _attribute_line(index: MembershipIndex, raw: bytes, record: dict) -> None:
    """Fill ``record`` with the line's ``result`` or its ``error``: whatever the line holds or
    does, the batch goes on."""
    try:
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
    except StoreUnavailable as e:
        current_app.logger.error("store unavailable on line %d of a batch (request %s): %s", record["line"],
                                 g.get("request_id"), e)
        record["error"] = {"code": "store_unavailable", "message": STORE_UNAVAILABLE}
    except Exception:  # noqa: BLE001 - one line's failure is that line's answer, as a request's is its
        current_app.logger.exception("unhandled error on line %d of a batch (request %s)", record["line"],
                                     g.get("request_id"))
        record["error"] = {"code": "internal_error", "message": "internal error; the server log has the details"}


def _batch_lines(index: MembershipIndex, limit: int, max_line: int):
    number = 0
    try:
        for raw in _body_lines(request.stream, max_line):
            number += 1
            if isinstance(raw, bytes) and not raw.strip():
                continue
            if number > limit:
                yield {"line": number, "error": {"code": "batch_too_long", "message":
                       f"a batch holds at most {limit} lines; lines from {number} on were not read"}}
                return
            record: dict = {"line": number}
            if isinstance(raw, int):
                record["error"] = {"code": "line_too_long",
                                   "message": f"the line is {raw:,} bytes; the limit is {max_line:,}"}
            else:
                _attribute_line(index, raw, record)
            yield record
    except RequestEntityTooLarge as e:  # a body without Content-Length, cut at MAX_BATCH_BYTES
        yield {"line": number + 1, "error": {"code": "payload_too_large", "message": e.description}}


def _ndjson(record: dict) -> bytes:
    try:
        return (json.dumps(record, ensure_ascii=False) + "\n").encode()
    except UnicodeEncodeError:  # a lone surrogate (in an id, say): escaped, as the other endpoints send it
        return (json.dumps(record) + "\n").encode()


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
            yield _ndjson(record)

    return Response(stream_with_context(generate()), mimetype=NDJSON)


@operation(bp, "/overlap", "POST", summary="Data Portraits overlap (llm-vscode's attribution endpoint)",
           body=models.OverlapRequest, response=models.OverlapResponse, errors=(409, 413, 415, 429))
def overlap():
    """The protocol of Data Portraits' servers: ``{"document": text}`` in, ``{"spans": [[start,
    end], ...]}`` out in raw character offsets of the document, so clients such as the Hugging
    Face VS Code extension underline them unchanged. Spans are the verified verbatim matches
    (boilerplate included: an IDE shows all of it); ``matches`` gives their sources. A document
    too short to hold one 50-character chunk overlaps nothing. Beyond the protocol, ``truncated``
    and ``limits`` say whether a limit cut the answer (a span's count; never a span)."""
    req = json_body(models.OverlapRequest)
    index = membership_index()
    try:
        result = index.attribute(req.document, near_duplicates=False)
    except AttributionInputError as e:
        if e.code not in ("empty_text", "text_too_short"):
            raise
        return {"spans": [], "member": False, "fraction": 0.0, "longest_chain": 0, "matches": [],
                "truncated": False, "limits": index.no_limits().to_json()}
    spans = sorted(result.spans, key=lambda s: s.start)
    answer = result.to_json()
    return {"spans": [[s.start, s.end] for s in spans], "member": bool(spans),
            "fraction": result.coverage, "longest_chain": result.longest,
            "matches": attribution_json({"spans": [s.to_json() for s in spans]}, served_index().store)["spans"],
            **{key: answer[key] for key in ("truncated", "limits")}}
