"""``/api/admin/...``: what only the operator may do, behind a bearer token; and
``/api/optout/requests``, where code authors ask for it.

The token is the app's ``ADMIN_TOKEN`` (``starscope serve`` reads it from the environment);
without one the admin endpoints answer 403. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Callable

from flask import Blueprint, current_app, g, request

from indexer.optout import opt_out
from indexer.optout_requests import OptoutRequestError, OptoutRequests, validate
from indexer.superseded import IndexSuperseded

from . import models
from .errors import ApiError
from .openapi import json_body, operation
from .served import EXTENSION, follow_switch, served_index

bp = Blueprint("admin", __name__)


def require_admin() -> None:
    """Raise unless the request carries the configured bearer token."""
    token = current_app.config["ADMIN_TOKEN"]
    if not token:
        raise ApiError("admin endpoints are off: start the server with STARSCOPE_ADMIN_TOKEN set",
                       status=403, code="admin_disabled")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError("a valid admin token is required (Authorization: Bearer TOKEN)", status=401,
                       code="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="starscope-admin"'})


@operation(bp, "/api/admin/optout", "POST", summary="Remove a repository or an owner from the index",
           body=models.OptoutRequest, response=models.OptoutResponse, errors=(401, 403, 415, 503), bearer=True)
def optout():
    """Deletes the repository's (or owner's) sources from the store in one operation: search,
    attribution and near-duplicates stop returning them at once; contents also found elsewhere
    keep their other sources."""
    require_admin()
    req = json_body(models.OptoutRequest)
    who = f"admin-api:{g.get('request_id', '?')}"
    try:
        entry = _on_current_index(lambda served: opt_out(served.path, served.store, repo=req.repo,
                                                         owner=req.owner, reason=req.reason, who=who))
    except OSError as e:  # a full or read-only disk: recorded and not carried out, or neither
        raise ApiError(f"the index cannot be written ({e.strerror}); free space or make it writable, then "
                       "send the same opt-out again to finish it", status=503, code="index_unwritable") from None
    current_app.logger.info("opt-out %d: %r %s %d contents", entry["seq"], req.repo or req.owner,
                            "was already removed, by" if entry.get("already") else "removed", entry["removed"])
    return {"removed": entry["removed"], "repo": entry.get("repo"), "owner": entry.get("owner"), "seq": entry["seq"],
            "contents_removed": entry["contents_removed"], "already": bool(entry.get("already"))}


def _on_current_index(write: Callable):
    """``write(served_index)``; if a switch superseded the served directory (the write, made
    under the log's lock, found out and did nothing), once more on the directory switched to."""
    try:
        return write(served_index())
    except IndexSuperseded:
        try:
            return write(follow_switch())
        except IndexSuperseded:  # switched again meanwhile, or the new one cannot be opened yet
            raise ApiError("the index is being switched to a rebuilt one; retry in a second", status=503,
                           code="index_switching", headers={"Retry-After": "1"}) from None


@operation(bp, "/api/optout/requests", "POST", summary="Ask for a repository or an owner to be removed",
           body=models.AuthorOptoutRequest, response=models.AuthorOptoutResponse, errors=(415, 503),
           status=201)
def request_optout():
    """A code author's request, recorded (append-only, on disk before the answer) for the operator
    to review; nothing is removed until the operator acts (``POST /api/admin/optout``). The answer
    says how many documents of that repository or owner are indexed now."""
    req = json_body(models.AuthorOptoutRequest)
    try:
        fields = validate(repo=req.repo, owner=req.owner, contact=req.contact, reason=req.reason)
    except OptoutRequestError as e:
        raise ApiError(str(e), code=e.code) from None
    field, name = ("repo", fields["repo"]) if fields["repo"] else ("owner", fields["owner"])

    def record_request(served):
        # exactly that repository (a search's repo filter would take a name without '/' as an owner)
        indexed = served.store.count_docs_with_terms(field, [name.lower()])
        return OptoutRequests(served.path).add(**fields, indexed_documents=indexed)

    try:
        record = _on_current_index(record_request)
    except OSError as e:
        raise ApiError(f"the request could not be recorded ({e.strerror}); try again later", status=503,
                       code="optout_unavailable") from None
    current_app.logger.info("opt-out request %s for %s %r", record["id"], field, name)
    body = {k: record.get(k) for k in ("id", "received_at", "repo", "owner", "indexed_documents")}
    return {**body, "status": "pending"}, 201


@operation(bp, "/api/admin/status", summary="What this server worker serves, with its paths",
           response=models.AdminStatus, errors=(401, 403), bearer=True)
def status():
    """The operator's view of ``/api/health``: the index directory this worker serves, the
    link it follows, the model it loaded, and, after a failed switch, the directory that could
    not be opened and why (public answers name no path)."""
    require_admin()
    live = current_app.extensions[EXTENSION]
    link = live.link if live.link.is_symlink() else None
    return {"index_dir": str(served_index().path), "link": None if link is None else str(link),
            "model": current_app.config["MODEL"], "switched_at": live.switched_at,
            "switch_error": live.switch_error}


@operation(bp, "/api/admin/optout/requests", summary="The opt-out requests received",
           response=models.AuthorOptoutList, errors=(401, 403), bearer=True)
def list_optout_requests():
    """Every request, oldest first, with the requester's contact."""
    require_admin()
    log = OptoutRequests(served_index().path)
    return {"requests": log.list(), "bad_lines": log.verify()["bad_lines"]}
