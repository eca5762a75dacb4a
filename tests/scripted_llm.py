"""A scripted LLM for running Hive's real agent loop in a test.

It replaces only the LLM (``framework.llm.provider.LLMProvider``, the part that would reach a provider
over the network, which a test here has no way to): everything above it — the agent loop, its tools,
judge, event bus and run logs — is Hive's own. Hive's ``MockLLMProvider`` is no substitute: it reports
no usage, and usage is what hive-otel exports. Each ``stream()`` request takes the next :class:`Reply`
of the script and keeps what it reported in :attr:`ScriptedLLM.requests`: the provider's own record,
the truth a test compares hive-otel's numbers with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from framework.llm.provider import LLMProvider, LLMResponse, Tool
from framework.llm.stream_events import FinishEvent, StreamEvent, TextDeltaEvent, TextEndEvent, ToolCallEvent


@dataclass(frozen=True)
class ToolCall:
    tool_use_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One provider request's answer: text, the tools it calls, and the usage it reports."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    model: str = "claude-sonnet-4-5"


class ScriptedLLM(LLMProvider):
    """Answers each streamed request with the next reply of ``script``, then with ``default``."""

    def __init__(self, script: list[Reply], default: Reply, model: str = "claude-sonnet-4-5") -> None:
        self.model = model
        self.script = list(script)
        self.default = default
        self.requests: list[Reply] = []  # every completed stream() request, as reported
        self.completions = 0  # complete()/acomplete(): auxiliary calls, reported without usage

    def complete(
        self,
        messages: list[dict[str, Any]],
        system: str = "",
        tools: list[Tool] | None = None,
        max_tokens: int | None = None,
        response_format: dict[str, Any] | None = None,
        json_mode: bool = False,
        max_retries: int | None = None,
    ) -> LLMResponse:
        self.completions += 1
        content = "{}" if json_mode or response_format else ""
        return LLMResponse(content=content, model=self.model, input_tokens=0, output_tokens=0, stop_reason="stop")

    async def acomplete(
        self,
        messages: list[dict[str, Any]],
        system: str = "",
        tools: list[Tool] | None = None,
        max_tokens: int | None = None,
        response_format: dict[str, Any] | None = None,
        json_mode: bool = False,
        max_retries: int | None = None,
        system_dynamic_suffix: str | None = None,
    ) -> LLMResponse:
        return self.complete(messages, system, tools, max_tokens, response_format, json_mode, max_retries)

    async def stream(
        self,
        messages: list[dict[str, Any]],
        system: str = "",
        tools: list[Tool] | None = None,
        max_tokens: int | None = None,
        system_dynamic_suffix: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        reply = self.script.pop(0) if self.script else self.default
        yield TextDeltaEvent(content=reply.text, snapshot=reply.text)
        yield TextEndEvent(full_text=reply.text)
        for call in reply.tool_calls:
            yield ToolCallEvent(tool_use_id=call.tool_use_id, tool_name=call.name, tool_input=call.arguments)
        self.requests.append(reply)
        yield FinishEvent(
            stop_reason="tool_calls" if reply.tool_calls else "stop",
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cached_tokens=reply.cached_tokens,
            cost_usd=reply.cost_usd,
            model=reply.model,
        )
