"""Who is asking: the tenant (and rights) of one request, from its bearer token or its transport.

With a tokens file, every request must carry ``Authorization: Bearer <token>`` (HTTP header or gRPC
metadata) whose hash the file lists; the tenant comes from the file alone, and whatever tenant the
payload or the ``x-hive-tenant-id`` header names is overwritten. Without one, the collector only
listens on loopback (see :class:`~hive_otel.collector.config.ReceiverConfig`), every local client is
trusted alike, and the tenant is the header's value or ``local``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hive_otel.collector.auth.tokens import TokenTable

LOCAL_TENANT = "local"
"""The tenant of a request to a collector without a tokens file that names none."""

AUTHORIZATION = "authorization"
"""HTTP header / gRPC metadata key carrying ``Bearer <token>`` (the OTLP exporters' ``headers``)."""


class Forbidden(Exception):
    """The request is authenticated but may not read what it named (another tenant's rows)."""


class Unauthenticated(Exception):
    """No usable token; ``reason`` is a counter key (``missing_token``, ``malformed_token``, ``unknown_token``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Principal:
    """The tenant a request acts as, and whether it may run SQL on the query endpoint.

    The one tenant check of every read (the receiver's usage and status routes, the API): an admin
    token, or any client of a collector without a tokens file (which serves this machine only), reads
    every tenant; a tenant token reads its own tenant only.
    """

    tenant: str
    may_query_sql: bool
    authenticated: bool  # False on a collector without a tokens file

    @property
    def reads_every_tenant(self) -> bool:
        """An admin token, or a local client of a collector without tokens: may read and set any tenant."""
        return self.may_query_sql or not self.authenticated

    def reads(self, tenant: str | None) -> str | None:
        """The tenant a read is confined to, given the tenant the request named (None: every tenant,
        for those who may); raises :class:`Forbidden` when a tenant token names another tenant."""
        if self.reads_every_tenant:
            return tenant
        if tenant not in (None, self.tenant):
            raise Forbidden(f"this token reads tenant {self.tenant!r} only")
        return self.tenant


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` value; raises :class:`Unauthenticated`."""
    if not authorization or not authorization.strip():
        raise Unauthenticated("missing_token", "this collector requires a bearer token (Authorization: Bearer <token>)")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("malformed_token", "the Authorization header must be 'Bearer <token>'")
    return token


class TenantAuth:
    """Turns a request's ``Authorization`` and tenant header into a :class:`Principal`."""

    def __init__(self, tokens: TokenTable | None) -> None:
        self._tokens = tokens

    @property
    def requires_tokens(self) -> bool:
        return self._tokens is not None

    def principal(self, authorization: str | None, tenant_header: str | None) -> Principal:
        if self._tokens is None:
            return Principal(tenant=tenant_header or LOCAL_TENANT, may_query_sql=True, authenticated=False)
        grant = self._tokens.lookup(bearer_token(authorization))
        if grant is None:
            raise Unauthenticated("unknown_token", "the bearer token is not valid for this collector")
        return Principal(tenant=grant.tenant, may_query_sql=grant.admin, authenticated=True)


__all__ = ["AUTHORIZATION", "Forbidden", "Principal", "TenantAuth", "Unauthenticated", "bearer_token"]
