"""``/api/generate``: generation with the server's model, optionally attributed, optionally
streamed as server-sent events. A client that goes away mid-stream stops the generation."""

from __future__ import annotations

import json

from flask import Blueprint, Response, stream_with_context

from model.generate import GenerationError, GenerationRequest

from . import models
from .compose import attribute_generated
from .errors import ApiError
from .membership import membership_index
from .openapi import json_body, operation
from .privacy import attribution_json
from .served import served_index

bp = Blueprint("generation", __name__)


def _generator():
    generator = served_index().generator
    if generator is None:
        raise ApiError("this server has no model: start it with `starscope serve INDEX --model DIR`",
                       status=409, code="no_model")
    return generator


def _request(body: models.GenerateRequest) -> GenerationRequest:
    fim = body.fim_prefix is not None or body.fim_suffix is not None
    if fim and (body.prompt or body.mode == "assistant"):
        raise ApiError("give prompt, or fim_prefix and fim_suffix, not both", code="invalid_parameter")
    try:
        return GenerationRequest(prompt=(body.fim_prefix or "") if fim else (body.prompt or ""),
                                 mode="fim" if fim else body.mode, fim_suffix=body.fim_suffix or "",
                                 repo=body.repo, filename=body.filename, stars=body.stars,
                                 humaneval_prefix=body.humaneval_prefix, max_new_tokens=body.max_new_tokens,
                                 temperature=body.temperature, top_p=body.top_p, seed=body.seed,
                                 stop=tuple(body.stop))
    except GenerationError as e:
        raise ApiError(str(e), code=e.code) from None


def _attribution(text: str) -> tuple[dict | None, str | None]:
    attribution, reason = attribute_generated(membership_index(), text)
    return (None if attribution is None else attribution_json(attribution, served_index().store)), reason


@operation(bp, "/api/generate", "POST", summary="Generate code (and attribute it)",
           body=models.GenerateRequest, response=models.GenerateResponse, errors=(409, 413, 415, 429))
def generate():
    """Completion (``prompt``, with optional metadata prefixes), fill-in-the-middle
    (``fim_prefix`` + ``fim_suffix``) or the technical assistant (``mode: assistant``).
    ``attribute: true`` adds the attribution of the generated part only. ``stream: true``
    answers ``text/event-stream``: ``data: {"text": piece}`` events as tokens come, then one
    ``event: done`` with the whole answer (or ``event: error``)."""
    body = json_body(models.GenerateRequest)
    generator = _generator()
    req = _request(body)
    if body.attribute:
        membership_index()  # refuse before generating, not after
    try:
        if not body.stream:
            result = generator.generate(req)
            answer = {"text": result.text, "generation": result.to_json()}
            if body.attribute:
                answer["attribution"], answer["attribution_reason"] = _attribution(result.text)
            return answer
        stream = generator.stream(req)
        ended = None
        try:
            first = next(stream)  # errors in the request surface as a normal error response
        except StopIteration as done:  # nothing generated (an end of sequence straight away)
            first, ended = None, done.value
    except GenerationError as e:
        raise ApiError(str(e), status=e.status, code=e.code) from None

    def events():
        pieces = [] if first is None else [first]
        try:
            if first is not None:
                yield f"data: {json.dumps({'text': first})}\n\n"
            result = ended
            while result is None:
                try:
                    piece = next(stream)
                except StopIteration as done:
                    result = done.value
                    break
                pieces.append(piece)
                yield f"data: {json.dumps({'text': piece})}\n\n"
            answer = {"text": result.text, "generation": result.to_json()}
            if body.attribute:
                answer["attribution"], answer["attribution_reason"] = _attribution(result.text)
            yield f"event: done\ndata: {json.dumps(answer)}\n\n"
        except GenerationError as e:
            yield f"event: error\ndata: {json.dumps({'code': e.code, 'message': str(e)})}\n\n"
        finally:
            stream.close()  # the client went away: stop the model

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
