"""Every attribute key hive-otel writes, in one place.

Standard keys come from the OpenTelemetry semantic conventions (GenAI, errors,
service); everything Hive-specific lives under the single ``hive.`` prefix.
Import the constant instead of retyping the string, so a rename is one edit.
"""

from __future__ import annotations

from enum import StrEnum

SCHEMA_VERSION = "1"
"""Version of the hive-otel payload shape; sent as ``hive.schema_version`` on every resource."""

SEMCONV_VERSION = "1.42.0"
"""The OpenTelemetry semantic conventions release hive-otel pins (GenAI: semantic-conventions-genai 1.42)."""
SEMCONV_SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
"""Sent as ``schema_url`` on every resource and scope, so a backend knows which names to expect."""

# --- OpenTelemetry resource / service -------------------------------------------------------
SERVICE_NAME = "service.name"
SERVICE_VERSION = "service.version"
TELEMETRY_SDK_NAME = "telemetry.sdk.name"

# --- GenAI semantic conventions --------------------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
# The provider's name before semantic conventions 1.37. Never sent by hive-otel; other senders' GenAI
# instrumentations still send it, and the collector reads it as the provider where provider.name is missing.
GEN_AI_SYSTEM = "gen_ai.system"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"  # includes cached tokens
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_write.input_tokens"  # 1.42: was cache_creation
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"  # before 1.42 (``/dup`` only)
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"  # Hive 1.0.12 does not report it
# Proposed (semantic-conventions-genai PR #443, not in 1.42): sent only with gen_ai_latest_experimental.
GEN_AI_USAGE_COST_AMOUNT = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY = "gen_ai.usage.cost.currency"
GEN_AI_USAGE_COST_SOURCE = "gen_ai.usage.cost.source"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"  # private: redacted by default
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"  # private: redacted by default
GEN_AI_OUTPUT_TEXT = "gen_ai.output.text"  # private: LLM text, redacted by default
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
ERROR_TYPE = "error.type"

OP_CHAT = "chat"
# Every gen_ai.operation.name of a model call: an LLM call for usage (migration 0026), Hive's or another sender's.
MODEL_OPERATIONS = frozenset({OP_CHAT, "text_completion", "generate_content", "embeddings"})
OP_EXECUTE_TOOL = "execute_tool"
OP_INVOKE_AGENT = "invoke_agent"

# --- hive.* namespace ------------------------------------------------------------------------
HIVE_SCHEMA_VERSION = "hive.schema_version"
HIVE_SESSION_ID = "hive.session.id"
HIVE_PARENT_SESSION_ID = "hive.parent_session.id"  # where a session came from: spawning queen, forked or source DM
HIVE_ROOT_SESSION_ID = "hive.root_session.id"  # the DM session atop the chain of forks, colonies, workers
# On colony_created / session_forked records: the session Hive made (a colony's queen session, a fork).
HIVE_CHILD_SESSION_ID = "hive.child_session.id"
HIVE_QUEEN_ID = "hive.queen.id"
HIVE_COLONY_ID = "hive.colony.id"
HIVE_WORKER_ID = "hive.worker.id"
HIVE_AGENT_ROLE = "hive.agent.role"  # queen | worker
HIVE_USER_ID = "hive.user.id"
HIVE_TENANT_ID = "hive.tenant.id"
HIVE_STREAM_ID = "hive.stream.id"
HIVE_NODE_ID = "hive.node.id"
HIVE_EXECUTION_ID = "hive.execution.id"  # the bus execution id
HIVE_RUN_ID = "hive.run.id"
HIVE_ITERATION = "hive.iteration"
HIVE_CALL_KEY = "hive.call_key"  # stable identity of one LLM or tool call, whichever channel it came by
HIVE_CALL_SOURCE = "hive.call.source"  # event | log | event+log
HIVE_COST_USD = "hive.cost_usd"
HIVE_COST_SOURCE = "hive.cost_source"  # runtime | unpriced (the collector may add estimated:...)
HIVE_CREDITS = "hive.credits"
HIVE_LATENCY_MS = "hive.latency_ms"
HIVE_STOP_REASON = "hive.stop_reason"
HIVE_STATUS = "hive.status"
HIVE_QUEEN_PHASE = "hive.queen.phase"
HIVE_QUEEN_NAME = "hive.queen.name"  # the queen's display name (queen_identity_selected), never free text
# On a queen_session_meta record: the colony the session spawned (meta.json ``spawned_colony_id``).
HIVE_SPAWNED_COLONY_ID = "hive.spawned_colony.id"
HIVE_EVENT_TYPE = "hive.event.type"
HIVE_EVENT_SEQ = "hive.event.seq"
HIVE_VERDICT = "hive.verdict"
HIVE_EXIT_STATUS = "hive.exit_status"
HIVE_TOOL_IS_ERROR = "hive.tool.is_error"
HIVE_TASK_ID = "hive.task.id"
HIVE_TASK_STATUS = "hive.task.status"
HIVE_TRIGGER_ID = "hive.trigger.id"
HIVE_TRIGGER_TYPE = "hive.trigger.type"  # timer | webhook | ...
HIVE_TRIGGER_NEXT_FIRE_AT = "hive.trigger.next_fire_at"  # epoch milliseconds of the trigger's next wake
HIVE_TASK_BLOCKS = "hive.task.blocks"  # ids of the tasks this one blocks (string array)
HIVE_TASK_BLOCKED_BY = "hive.task.blocked_by"  # ids of the tasks blocking this one (string array)
HIVE_LOOP_PARK_REASON = "hive.loop.park_reason"  # why an agent loop parked: ask_user, turn_done, llm_error, ...
HIVE_LOOP_INTERRUPT_CAUSE = "hive.loop.interrupt_cause"  # stream_stall | crashed | stale
HIVE_UNKNOWN_EVENT = "hive.unknown_event"  # set on pass-through records of event types we do not map
HIVE_ERROR_MESSAGE = "hive.error.message"  # private: redacted by default
HIVE_FILE_PATH = "hive.file.path"  # private: redacted by default
HIVE_EVENT_DATA = "hive.event.data"  # private: raw event payload of unknown types, redacted by default



class HiveOtelEvent(StrEnum):
    """Event types hive-otel emits itself, as log records named ``hive.<type>`` next to Hive's own."""

    HEARTBEAT = "heartbeat"
    """Sent every ``HIVE_OTEL_HEARTBEAT_S`` per live session while instrumented (S7: last seen)."""
    STREAM_STATE_CHANGED = "stream_state_changed"
    """The live streaming indicator changed (S3); ``hive.status`` holds a :class:`StreamState`."""
    QUEEN_SESSION_META = "queen_session_meta"
    """What a queen session's ``meta.json`` states (file mode), sent when it changes, dated by its mtime."""


class StreamState(StrEnum):
    """What a stream is doing, derived on the client from deltas and tool events (S3)."""

    IDLE = "idle"
    THINKING = "thinking"  # reasoning deltas
    TYPING = "typing"  # text deltas
    TOOL_CALLING = "tool_calling"  # a tool call is open


COST_SOURCE_RUNTIME = "runtime"
COST_SOURCE_UNPRICED = "unpriced"
COST_SOURCE_ESTIMATED_PREFIX = "estimated:"

ROLE_QUEEN = "queen"
ROLE_WORKER = "worker"
ROLE_AGENT = "agent"  # a graph agent run (AgentLoader): no queen, known from its L1-L3 run logs only

# --- metric names ----------------------------------------------------------------------------
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_COST = "hive.cost"
METRIC_TOOL_CALLS = "hive.tool.calls"
METRIC_ERRORS = "hive.errors"

# Bucket boundaries from the GenAI semantic conventions.
TOKEN_USAGE_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)
OPERATION_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)

# Keys that carry conversation content, arguments, results, errors or paths: never exported unless
# the user's redaction policy opts in. The mapping does not even build them when the policy doesn't.
PRIVATE_CONTENT_KEYS = frozenset(
    {
        GEN_AI_TOOL_CALL_ARGUMENTS,
        GEN_AI_TOOL_CALL_RESULT,
        GEN_AI_OUTPUT_TEXT,
        HIVE_ERROR_MESSAGE,
        HIVE_FILE_PATH,
        HIVE_EVENT_DATA,
    }
)
