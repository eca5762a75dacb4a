"""What the bus-event and the run-log mappings share: the sessions seen, the calls waiting for their
other half (a call can come as a bus event and as an L3 line, in either order), the counters, and
whether content (prompts, tool arguments, error text) is built at all."""

from __future__ import annotations

from dataclasses import dataclass, field

from hive_otel.client.mapping.calls import LlmCall, ToolCall, merge_llm, merge_tool
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.joiner import CallJoiner
from hive_otel.client.mapping.sessions import Sessions

__all__ = ["COUNTER_NAMES", "MappingState"]

COUNTER_NAMES = ("records", "deltas_dropped", "unknown_event_types", "unusable_records")


@dataclass(slots=True)
class MappingState:
    sessions: Sessions
    llm: CallJoiner[LlmCall]
    tools: CallJoiner[ToolCall]
    include_content: bool
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTER_NAMES, 0))

    @classmethod
    def new(cls, resources: ResourceFactory, join_window_ns: int | None, include_content: bool) -> MappingState:
        """``join_window_ns=None``: halves wait for their partner until released (a backfill)."""
        return cls(
            Sessions(resources),
            CallJoiner[LlmCall](merge_llm, join_window_ns),
            CallJoiner[ToolCall](merge_tool, join_window_ns),
            include_content,
        )
