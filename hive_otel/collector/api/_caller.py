"""Who is calling the API: a :class:`~hive_otel.collector.auth.principal.Principal`, whose
:meth:`~hive_otel.collector.auth.principal.Principal.reads` is the one tenant check of every route.

The same rules as the collector's other routes: with a tokens file every request needs
``Authorization: Bearer <token>`` and reads only its token's tenant (an admin token reads any);
without one the API serves this machine only, like the whole collector, and every local client may
read every tenant. ``?tenant=`` narrows an operator's view; naming another tenant with a tenant
token is 403.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hive_otel.collector.auth.loopback import local_request_refusal
from hive_otel.collector.auth.principal import AUTHORIZATION, Principal, TenantAuth, Unauthenticated
from hive_otel.collector.config import TENANT_HEADER

__all__ = ["bearer_scheme", "resolve_caller"]

bearer_scheme = HTTPBearer(auto_error=False, description="a token listed in the collector's tokens file")
"""Declares the bearer scheme in the OpenAPI document; the check itself is :func:`resolve_caller`."""

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="hive-otel"'}


def resolve_caller(request: Request, auth: TenantAuth, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The caller's principal; 401 without a valid token, 403 for a non-local client of a collector without tokens."""
    del credentials  # declared for the OpenAPI document; the raw header is checked below
    if not auth.requires_tokens:
        host = request.client.host if request.client else None
        refusal = local_request_refusal(host, request.headers, "without a tokens file the API")
        if refusal is not None:
            raise HTTPException(403, refusal)
    try:
        # The tenant header as the receiver reads it, so a caller's own tenant is the one its exports are stored as.
        return auth.principal(request.headers.get(AUTHORIZATION), request.headers.get(TENANT_HEADER) or None)
    except Unauthenticated as exc:
        raise HTTPException(401, exc.message, headers=_CHALLENGE) from None
