"""The one rule for joining the two halves of an LLM or tool call, used by the client and the store.

A call reaches hive-otel as two halves: the bus event (``llm_turn_complete``, ``tool_call_*``: model,
cost, cached tokens, wall-clock times) and the L3 step line (``tool_logs.jsonl``: Hive's own trace and
span ids, latency, verdict), in either order, or only one of them. The client joins the halves it sees
within its join window (``client/mapping/calls.py``); halves sent apart are joined by the store, at
ingest (``collector/rollups/usage_merge.py``, SQL over the stored and incoming versions) and in
``usage_calls`` (ClickHouse's own merge of every fact version, ``hive-otel settle``). The client and
the ingest merge apply :data:`RULES`, so a call joined in the client and the same call joined in the
store are the same row, ids included. ``usage_calls`` (migration 0021) keeps ``time`` and ``ids`` as the
ranked tuples of :func:`ranked_tuple_sql`, so ClickHouse's max merge picks the same winners.

Every rule is a maximum over the halves, optionally ranked by which half a value came from, so it is
order-independent and idempotent: the store applies it to any number of versions in any order (a
version already joined ranks as both halves), and ClickHouse applies it when parts merge.

Why Hive's L3 ids win: they are the ids of Hive's own trace (the run's L1/L2/L3 tree, and whatever a
user's trace links to); the bus event carries none, so an event alone gets ids derived from its session
and call key, which nothing else refers to. A log half without ids gets the same derived ids as its
event half, so the choice never depends on arrival order. A graph agent's log half is sent without
Hive's ids (``client/mapping/run_logs.py``): its bus half only ever comes live, never joined with it,
and cannot know them, so only the derived ids make the two one span. Forks: a forked session (and a
colony made from one) copies its origin's lines; the copies stay the origin's (a queen's execution id names the
session that wrote them), so they carry the same call key and the same Hive ids, and reach the store as
a replay that changes nothing. Two log halves of one key with different ids (a copy re-stamped by a
newer Hive) would be ranked equal; the larger pair then wins in the store, and the client keeps the first
it saw until the store's merge settles it.

Why the bus event's time wins: it is the one wall clock Hive gives a call (the L3 line has no time of
its own; a log-only call is dated by its tool calls or its run). So a joined call starts where its bus
event alone would start (its first streamed delta, else its completion) and lasts its latency.
Why the larger latency: the L3 latency is Hive's measure around the whole request; the bus event only
sees first delta to completion, a lower bound; the longer is the closer to the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SOURCE_EVENT = "event"
SOURCE_LOG = "log"
SOURCE_BOTH = "event+log"


class Winner(StrEnum):
    LOG = "log"  # Hive's L3 half where it has the value, else the bus half's
    EVENT = "event"  # the bus half where it has the value, else the L3 half's
    LARGER = "larger"  # both halves report it: the larger (for text, the non-empty) wins
    EVENT_ONLY = "event only"  # only the bus half carries it: the L3 half's is always empty
    LOG_ONLY = "log only"  # only the L3 half carries it
    BOTH = "both"  # call_source: the halves seen, together


@dataclass(frozen=True, slots=True)
class Rule:
    winner: Winner
    why: str
    columns: tuple[str, ...] = ()  # usage fact columns it decides (store); a ranked rule's columns win together
    fields: tuple[str, ...] = ()  # LlmCall / ToolCall attributes it decides (client)
    together: bool = False  # the fields come from one half, whole (a trace id and its span id)


RULES: dict[str, Rule] = {
    "key": Rule(Winner.EVENT, "equal in both halves: they make the call key",
                fields=("call_key", "session_id", "iteration", "tool_use_id")),
    "ids": Rule(Winner.LOG, "Hive's own trace and span ids, what the rest of Hive's telemetry refers to",
                columns=("trace_id", "span_id"), fields=("trace_id", "span_id", "step_span_id"), together=True),
    "parent": Rule(Winner.LOG_ONLY, "the L3 step's parent in Hive's trace", fields=("parent_span_id",)),
    "time": Rule(Winner.EVENT, "the bus event's wall clock; the L3 line has no time of its own",
                 columns=("occurred_at",), fields=("start_ns", "end_ns"), together=True),
    "time rank": Rule(Winner.LARGER, "1 once the bus event's time is in", columns=("time_rank",)),
    "latency": Rule(Winner.LARGER, "L3 times the whole request, the bus event only first delta to completion",
                    columns=("latency_ms",), fields=("latency_ms",)),
    "tokens": Rule(Winner.LARGER, "both report the same counts (they are part of an LLM call's key)",
                   columns=("input_tokens", "output_tokens"), fields=("input_tokens", "output_tokens")),
    "runtime usage": Rule(Winner.EVENT_ONLY, "the runtime reports model, cache tokens and cost on the bus only",
                          columns=("model", "provider", "cached_tokens", "cache_creation_tokens", "cost_usd"),
                          fields=("model", "cached_tokens", "cache_creation_tokens", "cost_usd", "credits",
                                  "stop_reason")),
    "bus placement": Rule(Winner.EVENT_ONLY, "the execution and the stream are the bus's",
                          columns=("execution_id",), fields=("execution_id", "stream_id", "event_parent_span_id")),
    "step outcome": Rule(Winner.LOG_ONLY, "Hive's verdict on the step, and its text, are in the L3 line",
                         fields=("verdict", "error", "is_partial", "output_text", "fallback_time_ns")),
    "failure": Rule(Winner.LARGER, "a call failed if either half says so",
                    columns=("is_error", "error_type"), fields=("is_error",)),
    "what": Rule(Winner.LARGER, "both name it; a half may not",
                 columns=("kind", "tool_name", "node_id"), fields=("tool_name", "node_id")),
    "who": Rule(Winner.LARGER, "both halves' resources describe one session; a half may know less",
                columns=("user", "session", "root_session", "parent_session", "colony", "queen", "worker",
                         "agent_role", "schema_version"), fields=("resource",)),
    "content": Rule(Winner.EVENT, "the same text in both halves (private, dropped by default)",
                    fields=("arguments", "result", "extra")),
    "source": Rule(Winner.BOTH, "which halves are in", columns=("call_source",), fields=("source",)),
}  # fmt: skip


def has_value(value: object) -> bool:
    """Whether a half knows this field (None and empty text are "does not know"; 0 and False are values)."""
    return value is not None and value != "" and value != b""


def _log_wins(event_value: object, log_value: object) -> object:
    return log_value if has_value(log_value) else event_value


def _event_wins(event_value: object, log_value: object) -> object:
    return event_value if has_value(event_value) else log_value


def _larger(event_value: object, log_value: object) -> object:
    if not has_value(log_value):
        return event_value
    return max(event_value, log_value) if has_value(event_value) else log_value  # type: ignore[type-var]


def _both(event_source: object, log_source: object) -> str:
    return join_sources(str(event_source or ""), str(log_source or ""))


# How each winner picks a field of the joined call from its value in each half.
PICKERS = {
    Winner.LOG: _log_wins,
    Winner.LOG_ONLY: _log_wins,
    Winner.EVENT: _event_wins,
    Winner.EVENT_ONLY: _event_wins,
    Winner.LARGER: _larger,
    Winner.BOTH: _both,
}


def pick(winner: Winner, event_value: object, log_value: object) -> object:
    """One field of the joined call, from its value in each half."""
    return PICKERS[winner](event_value, log_value)


def _whole(values: tuple) -> bool:
    return None not in values and "" not in values and b"" not in values


def pick_together(winner: Winner, event_values: tuple, log_values: tuple) -> tuple:
    """Fields that win together (a trace id and its span id): one half's, whole, where it has them all."""
    event_whole, log_whole = _whole(event_values), _whole(log_values)
    if winner is Winner.LOG:
        return log_values if log_whole or not event_whole else event_values
    return event_values if event_whole or not log_whole else log_values


def larger_attributes(event_attrs: dict[str, object], log_attrs: dict[str, object]) -> dict[str, object]:
    """Resource attributes by :attr:`Winner.LARGER`, key by key (keys only one half has are kept)."""
    out = dict(log_attrs)
    for key, value in event_attrs.items():
        other = out.get(key)
        same_type = type(other) is type(value)
        out[key] = value if other is None or not same_type else pick(Winner.LARGER, value, other)
    return out


def join_sources(*sources: str) -> str:
    """``event``, ``log`` or ``event+log``: the halves present in any of ``sources``."""
    seen = "+".join(sources)
    event, log = SOURCE_EVENT in seen, SOURCE_LOG in seen
    return SOURCE_BOTH if event and log else SOURCE_EVENT if event else SOURCE_LOG if log else ""


# ---------------------------------------------------------------- the same rules in ClickHouse SQL
# Over rows of usage_staging / usage_facts: a version joined already ranks as both halves.
RANK_SQL = {
    Winner.EVENT: "time_rank",  # toUInt8(position(call_source, 'event') > 0), stored with every version
    Winner.LOG: "toUInt8(position(call_source, 'log') > 0)",
}
CALL_SOURCE_SQL = (
    "multiIf(max(position(call_source, 'event') > 0) AND max(position(call_source, 'log') > 0), 'event+log', "
    "max(position(call_source, 'event') > 0), 'event', max(position(call_source, 'log') > 0), 'log', '')"
)


def ranked_tuple_sql(name: str) -> str:
    """``(rank, column, ...)`` of a ranked rule: its maximum is the winning half's columns."""
    rule = RULES[name]
    return f"({RANK_SQL[rule.winner]}, {', '.join(rule.columns)})"


def merged_columns_sql(columns: list[str]) -> list[str]:
    """SELECT expressions aggregating ``columns`` over a call's versions (GROUP BY its key) by the rules."""
    wanted = set(columns)
    out: list[str] = []
    for name, rule in RULES.items():
        mine = [c for c in rule.columns if c in wanted]
        if not mine:
            continue
        if rule.winner is Winner.BOTH:
            out.append(f"{CALL_SOURCE_SQL} AS call_source")
        elif rule.winner in RANK_SQL:
            alias = "_" + name.replace(" ", "_")
            out.append(f"max({ranked_tuple_sql(name)}) AS {alias}")
            out += [f"{alias}.{i} AS {c}" for i, c in enumerate(rule.columns, start=2) if c in wanted]
        else:
            out += [f"max({c}) AS {c}" for c in mine]
    return out


def rule_of_column(column: str) -> Rule | None:
    return next((rule for rule in RULES.values() if column in rule.columns), None)
