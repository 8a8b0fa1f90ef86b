"""The API's operations, declared once: each view is registered with :func:`operation`, which
routes it and records its models, and ``GET /openapi.json`` is built from those records and the
models in :mod:`search_api.models` (OpenAPI 3.1, whose schemas are JSON Schema as pydantic
writes it). :func:`json_body` validates a request body with the same models.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from flask import Blueprint, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from werkzeug.exceptions import RequestEntityTooLarge

from . import models
from .errors import ApiError, InvalidParameter

OPENAPI_VERSION = "3.1.0"
JSON, NDJSON = "application/json", "application/x-ndjson"
# Why each error status may come back (the body is always models.ErrorResponse).
ERROR_REASONS = {400: "invalid parameter or body", 401: "missing or wrong bearer token",
                 403: "admin endpoints are off (no token configured)", 404: "not found",
                 409: "the index lacks what this needs", 413: "body, query or text over its limit",
                 415: "the body is not JSON", 429: "too many requests from this client (RATE_LIMIT, SEARCH_RATE_LIMIT)",
                 503: "the store cannot be reached"}
_RULE_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str
    summary: str
    description: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    body_media: str = JSON
    response_media: str = JSON
    bearer: bool = False
    status: int = 200  # the success status
    tags: tuple[str, ...] = field(default=())

    @property
    def path(self) -> str:
        return _RULE_PARAM.sub(r"{\1}", self.rule)


OPERATIONS: list[Operation] = []


def operation(bp: Blueprint, rule: str, method: str = "GET", **spec):
    """Route the decorated view on ``bp`` and record it for the OpenAPI document; ``spec``:
    the :class:`Operation` fields (``summary`` required; the view's docstring is the
    description)."""
    def register(view):
        doc = (view.__doc__ or "").strip()
        OPERATIONS.append(Operation(method=method.lower(), rule=rule, description=doc,
                                    tags=(bp.name,), **spec))
        bp.add_url_rule(rule, view_func=view, methods=[method])
        return view
    return register


def validation_error(e: ValidationError, where: str = "body") -> InvalidParameter:
    """The first problem named, all of them in ``details.errors``."""
    problems = [{"parameter": ".".join(str(p) for p in err["loc"]) or where, "message": err["msg"]}
                for err in e.errors(include_url=False)]
    first = problems[0]
    return InvalidParameter(first["parameter"], f"{first['parameter']}: {first['message']}",
                            errors=problems[:20])


def parse_json(raw: bytes):
    """``raw`` parsed, or ApiError 400 ``invalid_json``; that includes JSON Python cannot hold
    (nesting past its recursion limit, an integer of over 4,300 digits), which is the sender's
    doing like any other bad body, not the server's."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ApiError("the body is not valid JSON here (nested too deeply)", code="invalid_json") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ApiError(f"the body is not valid JSON ({e})", code="invalid_json") from None
    except ValueError:  # int()'s limit on digits
        raise ApiError("the body is not valid JSON here (a number of over 4,300 digits)",
                       code="invalid_json") from None


def request_body() -> bytes:
    """The request's whole body, 413 when over the request's size limit.

    A body without Content-Length (chunked) is cut at the limit by Werkzeug without a word, as
    if it ended there: one byte more in the input means it did not.

    Raises:
        RequestEntityTooLarge: over ``request.max_content_length``.
    """
    data = request.get_data(cache=False)
    limit = request.max_content_length
    if (request.content_length is None and limit is not None and len(data) >= limit
            and request.environ["wsgi.input"].read(1)):
        raise RequestEntityTooLarge(f"the request body is over the limit of {limit} bytes")
    return data


def json_body(model: type[BaseModel]) -> BaseModel:
    """The request's JSON body as ``model``.

    Raises:
        ApiError: 415 ``unsupported_media_type`` when the body is not declared JSON,
            400 ``invalid_json`` when it does not parse, ``invalid_parameter`` when it does not
            validate (``details.parameter`` names the field).
        RequestEntityTooLarge: a body over the size limit (413 ``payload_too_large``).
    """
    if not request.is_json:
        raise ApiError(f"send the body as JSON (Content-Type: {JSON}), got "
                       f"{request.content_type or 'none'!r}", status=415, code="unsupported_media_type")
    data = parse_json(request_body())
    if not isinstance(data, dict):
        raise ApiError(f"the body must be a JSON object, got {type(data).__name__}", code="invalid_body")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise validation_error(e) from None


def query_params(model: type[BaseModel]) -> BaseModel:
    """The query string as ``model`` (a parameter given twice is an error, not a silent pick).

    Raises:
        InvalidParameter: an unknown, repeated, missing or malformed parameter, named.
    """
    for name in request.args:
        if len(request.args.getlist(name)) > 1:
            raise InvalidParameter(name, f"{name[:40]!r} is given more than once")
    try:
        return model.model_validate(dict(request.args))
    except ValidationError as e:
        raise validation_error(e, where="query") from None


def _schema_ref(model: type[BaseModel]) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _query_parameters(op: Operation, schemas: dict, examples: dict) -> list[dict]:
    params = []
    for name in _RULE_PARAM.findall(op.rule):
        schema = {"type": "string", "pattern": "^[0-9a-fA-F]{40}$"} if name == "sha" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema,
                       **({"example": examples[name]} if name in examples else {})})
    if op.query is not None:
        schema = schemas[op.query.__name__]
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in schema.get("required", []),
                           "schema": prop, **({"description": prop["description"]} if "description" in prop else {})})
    return params


def openapi_document(*, title: str, version: str, description: str, examples: dict | None = None) -> dict:
    """The OpenAPI 3.1 document of every recorded operation; ``examples``: values of path
    parameters that exist in the served index (a document id), so clients can try them."""
    wanted = {models.ErrorResponse}
    for op in OPERATIONS:
        wanted |= {m for m in (op.query, op.body, op.response) if m is not None}
    _, top = models_json_schema([(m, "validation") for m in sorted(wanted, key=lambda m: m.__name__)],
                                ref_template="#/components/schemas/{model}")
    schemas = top.get("$defs", {})
    paths: dict = {}
    for op in OPERATIONS:
        entry = {"operationId": f"{op.method}_{op.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
                 "summary": op.summary, "description": op.description, "tags": list(op.tags),
                 "parameters": _query_parameters(op, schemas, examples or {}), "responses": {}}
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {op.body_media: {"schema": _schema_ref(op.body)}}}
        ok = {"description": "success"}
        if op.response is not None:
            ok["content"] = {op.response_media: {"schema": _schema_ref(op.response)}}
        entry["responses"][str(op.status)] = ok
        for status in sorted(set(op.errors) | {400, 503}):
            entry["responses"][str(status)] = {
                "description": ERROR_REASONS.get(status, "error"),
                "content": {JSON: {"schema": _schema_ref(models.ErrorResponse)}}}
        if op.bearer:
            entry["security"] = [{"bearer": []}]
        paths.setdefault(op.path, {})[op.method] = entry
    return {"openapi": OPENAPI_VERSION,
            "info": {"title": title, "version": version, "description": description},
            "paths": paths,
            "components": {"schemas": schemas,
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}}
