"""``/api/admin/...``: what only the operator may do, behind a bearer token.

The token is the app's ``ADMIN_TOKEN`` (``starscope serve`` reads it from the environment);
without one the admin endpoints answer 403. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, current_app, request

from . import models
from .app import served_index
from .errors import ApiError
from .openapi import json_body, operation

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
           body=models.OptoutRequest, response=models.OptoutResponse, errors=(401, 403, 415), bearer=True)
def optout():
    """Deletes the repository's (or owner's) sources from the store in one operation: search,
    attribution and near-duplicates stop returning them at once; contents also found elsewhere
    keep their other sources."""
    require_admin()
    req = json_body(models.OptoutRequest)
    with served_index().store.session() as session:
        removed = session.delete(repo=req.repo, owner=req.owner)
    current_app.logger.info("opt-out: %s removed %d contents", req.repo or req.owner, removed)
    return {"removed": removed, "repo": req.repo, "owner": req.owner}
