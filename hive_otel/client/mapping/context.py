"""Which Hive session a record belongs to, and that session's OpenTelemetry resource.

Identity is pinned on the session (seed §8.4): user, tenant and the session tree live on the
resource, not on every span, and the store joins on them at query time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from hive_otel import attributes as A
from hive_otel.client.mapping.telemetry import Resource
from hive_otel.client.sources.records import SessionContext

WORKER_STREAM_PREFIX = "worker:"


def context_for_stream(context: SessionContext, stream_id: object) -> SessionContext:
    """Refine a file's context for one event: worker streams in a queen's log are the worker's session.

    A parallel worker's stream is ``worker:<worker session id>``; without HIVE_SPLIT_WORKER_EVENTS
    all its events sit in the queen's events.jsonl, with it some are in both files. Mapping both to
    the worker's own session makes the two layouts (and the duplicated lifecycle lines) agree.
    """
    if context.agent_role == A.ROLE_WORKER or not isinstance(stream_id, str):
        return context
    if stream_id.startswith(WORKER_STREAM_PREFIX):
        worker_id = stream_id[len(WORKER_STREAM_PREFIX) :].strip()
    elif stream_id == "worker":  # a single spawn: one worker stream, no directory of its own
        worker_id = f"{context.session_id}:worker"
    else:
        return context
    if not worker_id:
        return context
    return SessionContext(
        session_id=worker_id,
        queen_id=context.queen_id,
        colony_id=context.colony_id,
        worker_id=worker_id,
        parent_session_id=context.session_id,
        agent_role=A.ROLE_WORKER,
        lineage=(context.session_id, *context.lineage),
    )


def with_colony(context: SessionContext, colony_id: object) -> SessionContext:
    """Fill the colony from an event when the path did not say (a live session instrumented without one).

    In aden-hive 1.0.12 an event's ``colony_id`` is the bus scope ColonyRuntime stamps, the queen's
    session id, not a colony: such a value (``session_...``) is not a colony and is ignored.
    """
    if context.colony_id or not isinstance(colony_id, str) or not colony_id or colony_id.startswith("session_"):
        return context
    return replace(context, colony_id=colony_id)


def root_session_id(context: SessionContext) -> str:
    """Where cost rolls up: the DM session at the top of the context's chain, or the session itself."""
    return context.root_session_id


class ResourceFactory:
    """Builds (and caches) one Resource per session context."""

    def __init__(
        self,
        service_name: str = "hive",
        extra: Mapping[str, str] | None = None,
        user_id: str | None = None,
        tenant_id: str | None = None,
    ) -> None:
        self._base: dict[str, object] = dict(extra or {})
        self._base[A.SERVICE_NAME] = service_name
        self._base[A.HIVE_SCHEMA_VERSION] = A.SCHEMA_VERSION
        if user_id:
            self._base[A.HIVE_USER_ID] = user_id
        if tenant_id:
            self._base[A.HIVE_TENANT_ID] = tenant_id
        self._cache: dict[SessionContext, Resource] = {}

    def for_context(self, context: SessionContext) -> Resource:
        resource = self._cache.get(context)
        if resource is None:
            attrs = dict(self._base)
            attrs[A.HIVE_SESSION_ID] = context.session_id
            attrs[A.HIVE_ROOT_SESSION_ID] = root_session_id(context)
            attrs[A.HIVE_AGENT_ROLE] = context.agent_role
            attrs[A.GEN_AI_CONVERSATION_ID] = context.session_id
            optional = {
                A.HIVE_PARENT_SESSION_ID: context.parent_session_id,
                A.HIVE_QUEEN_ID: context.queen_id,
                A.HIVE_COLONY_ID: context.colony_id,
                A.HIVE_WORKER_ID: context.worker_id,
            }
            attrs.update({k: v for k, v in optional.items() if v})
            resource = Resource.of(attrs)  # type: ignore[arg-type]
            self._cache[context] = resource
        return resource
