"""Who is calling the API, and which tenants' rows they may read or write.

The same rules as the collector's other routes (:mod:`hive_otel.collector.auth.principal`): with a tokens
file every request needs ``Authorization: Bearer <token>`` and reads only its token's tenant (an
admin token reads any); without one the API serves this machine only, like the whole collector,
and every local client may read every tenant. ``?tenant=`` narrows an operator's view; naming
another tenant with a tenant token is 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hive_otel.collector.auth.loopback import is_loopback_client, is_loopback_host
from hive_otel.collector.auth.principal import AUTHORIZATION, TenantAuth, Unauthenticated

__all__ = ["Caller", "bearer_scheme", "resolve_caller"]

bearer_scheme = HTTPBearer(auto_error=False, description="a token listed in the collector's tokens file")
"""Declares the bearer scheme in the OpenAPI document; the check itself is :func:`resolve_caller`."""

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="hive-otel"'}


@dataclass(frozen=True)
class Caller:
    tenant: str | None  # None: every tenant (an admin token, or a local client without tokens)
    may_write_any: bool  # may set quotas of any tenant (admin, or local without tokens)
    own_tenant: str

    def reads(self, tenant: str | None) -> str | None:
        """The tenant a read is confined to, given the ``?tenant=`` the caller named."""
        if self.tenant is None:
            return tenant
        if tenant not in (None, self.tenant):
            raise HTTPException(403, f"this token reads tenant {self.tenant!r} only")
        return self.tenant


def resolve_caller(request: Request, auth: TenantAuth, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    del credentials  # declared for the OpenAPI document; the raw header is checked below
    if not auth.requires_tokens:
        host = request.client.host if request.client else None
        if not is_loopback_client(host, request.headers):
            raise HTTPException(403, "without a tokens file the API only serves clients on this machine")
        # A web page open in the user's browser can reach 127.0.0.1 too (a form POST needs no
        # preflight; a DNS-rebinding page even reads answers): no local tool sends an Origin, and
        # a local tool addresses a loopback host name.
        if request.headers.get("origin") is not None:
            raise HTTPException(403, "without a tokens file the API does not serve web pages (Origin header)")
        if not is_loopback_host(request.headers.get("host", "")):
            raise HTTPException(403, "without a tokens file the API answers only requests to a loopback host name")
    try:
        principal = auth.principal(request.headers.get(AUTHORIZATION), None)
    except Unauthenticated as exc:
        raise HTTPException(401, exc.message, headers=_CHALLENGE) from None
    everyone = principal.may_query_sql or not principal.authenticated
    return Caller(tenant=None if everyone else principal.tenant, may_write_any=everyone, own_tenant=principal.tenant)
