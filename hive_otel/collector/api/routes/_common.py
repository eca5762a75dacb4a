"""What every route module shares: the parameters, the documented errors, and the app's parts
(store, auth, broadcaster, quotas), which :func:`~hive_otel.collector.api.app.create_app` keeps in
``app.state``."""

# No "from __future__ import annotations": FastAPI reads the route signatures.

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials

from hive_otel.collector.api import models as M
from hive_otel.collector.api._caller import bearer_scheme, resolve_caller
from hive_otel.collector.auth.principal import Principal
from hive_otel.collector.auth.tokens import TENANT_PATTERN
from hive_otel.collector.queries import status as S
from hive_otel.collector.queries.group_by import parse_keys
from hive_otel.collector.queries.time_range import RANGE_PATTERN, TimeRange, parse_range
from hive_otel.collector.queries.usage import GROUP_KEYS, Queryable, usage

_ID = r"^[^\x00-\x1f]{1,256}$"  # session, colony ids: any printable text up to 256 characters


def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Principal:
    return resolve_caller(request, request.app.state.auth, credentials)


def store_of(request: Request) -> Queryable:
    return request.app.state.store


CallerDep = Annotated[Principal, Depends(caller)]
StoreDep = Annotated[Queryable, Depends(store_of)]
SessionId = Annotated[str, Path(pattern=_ID)]
ColonyId = Annotated[str, Path(pattern=_ID)]
TenantParam = Annotated[str | None, Query(pattern=TENANT_PATTERN, description="an operator's narrowing to one tenant")]
RANGE_DESCRIPTION = (
    "all, today, month (to date), Nh / Nd / Nw (the last N whole hours, days or weeks, the current one "
    "included), or START/END in ISO (UTC, half-open)"
)
GROUP_BY_DESCRIPTION = f"comma-separated: {', '.join(GROUP_KEYS)}"

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "a bad group_by, range or policy", "model": M.ErrorMessage},
    401: {"description": "no valid bearer token", "model": M.ErrorMessage},
    403: {"description": "another tenant", "model": M.ErrorMessage},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    **ERRORS, 404: {"description": "no such session in this tenant", "model": M.ErrorMessage}
}


def range_param(default: str) -> Any:
    return Query(default, alias="range", pattern=RANGE_PATTERN, description=RANGE_DESCRIPTION)


def time_range(text: str) -> TimeRange:
    """The API's ``range``: 400 with the grammar's reason."""
    try:
        return parse_range(text)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def keys(text: str | None, allowed: tuple[str, ...], what: str = "group_by") -> list[str]:
    """A comma-separated key list: 400 with the parser's reason."""
    try:
        return parse_keys(text, allowed, what=what)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def report(
    store: Queryable, group_by: list[str], span: TimeRange, tenant: str | None, **filters: str | list[str]
) -> M.UsageReport:
    """The query layer's usage report as the API's model; 400 for what the query layer refuses.
    ``filters``: a key's value, or ``session`` a list of ids (any of them)."""
    try:
        answer = usage(store, group_by, span.since, span.until, tenant, filters=filters or None)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return M.UsageReport.model_validate(answer.as_dict())


def found_session(store: Queryable, who: Principal, tenant: str | None, session: str) -> dict[str, Any]:
    """The session's status row in the caller's tenant (or the one an operator named), else 404."""
    found = S.session_health(store, who.reads(tenant), session)
    if found is None:
        raise HTTPException(404, f"no session {session!r}")
    return found


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
