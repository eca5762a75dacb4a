"""Span and trace ids: Hive's own where it has them, otherwise derived deterministically.

Derived ids are hashes of stable fields, so the same Hive record always yields the same id and a
replay is recognisable downstream as a duplicate rather than a new span.
"""

from __future__ import annotations

from functools import lru_cache
from hashlib import blake2b

_SEP = "\x1f"
# Session and run ids repeat on every record of their session; their derived ids are remembered
# (a bounded cache: the functions are pure, so evicting only costs a hash).
_ID_CACHE_SIZE = 16384


# Copying a keyed hasher is about twice as fast as making one with its parameters (one per span).
_TRACE_HASH = blake2b(digest_size=16, person=b"hive-otel-trace")
_SPAN_HASH = blake2b(digest_size=8, person=b"hive-otel-span")
_CALL_KEY_HASH = blake2b(digest_size=10)


def derive_trace_id(*parts: object) -> bytes:
    return _derived(_TRACE_HASH, parts)


def derive_span_id(*parts: object) -> bytes:
    return _derived(_SPAN_HASH, parts)


def _derived(keyed: blake2b, parts: tuple[object, ...]) -> bytes:
    h = keyed.copy()
    h.update(_SEP.join(map(str, parts)).encode())
    return h.digest()


@lru_cache(maxsize=_ID_CACHE_SIZE)
def session_trace_id(session_id: str) -> bytes:
    """All spans built from one session's bus events share this trace."""
    return derive_trace_id("session", session_id)


@lru_cache(maxsize=_ID_CACHE_SIZE)
def session_span_id(session_id: str) -> bytes:
    return derive_span_id("session", session_id)


def log_ids(session_id: str) -> tuple[bytes, bytes]:
    """A log record's trace and span id: its session's trace and ``invoke_agent`` span, from the record alone.

    Not the node or execution span open when the line was read: Hive writes a worker's lifecycle lines
    to the worker's file and to its queen's, and a fork or a colony copies its origin's lines, so which
    span is open depends on which copy was read first. The store's key of a log record hashes all of it,
    ids included: only ids the copies agree on make them one record. Its node and execution stay in its
    attributes (``hive.node.id``, ``hive.execution.id``).
    """
    return session_trace_id(session_id), session_span_id(session_id)


@lru_cache(maxsize=_ID_CACHE_SIZE)
def run_span_id(trace_id: bytes) -> bytes:
    """The root of one Hive run trace (an L1 summary); L2 nodes and L3 steps hang under it."""
    return derive_span_id("run", trace_id.hex())


def hive_trace_id(value: object) -> bytes | None:
    """Hive's 32-hex trace id as bytes, or None when absent or malformed."""
    return _hex_id(value, 16)


def hive_span_id(value: object) -> bytes | None:
    """Hive's 16-hex span id as bytes, or None when absent or malformed."""
    return _hex_id(value, 8)


def _hex_id(value: object, size: int) -> bytes | None:
    if not isinstance(value, str) or len(value) != size * 2:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    return raw if any(raw) else None


def llm_call_key(session_id: str, node_id: str, iteration: int, input_tokens: int, output_tokens: int) -> str:
    """Stable identity of one LLM call, computable from the bus event and from the L3 step alike.

    The bus event and the L3 step share no id (L3's execution id is the trace context's, not the
    bus's), so the key is built from what both really carry: session, node, iteration (= L3
    step_index) and the token counts, which are the same numbers in both records.
    """
    h = _CALL_KEY_HASH.copy()
    h.update(f"{session_id}{_SEP}{node_id}{_SEP}{iteration}{_SEP}{input_tokens}{_SEP}{output_tokens}".encode())
    return "llm-" + h.hexdigest()


def tool_call_key(session_id: str, tool_use_id: str) -> str:
    """Stable identity of one tool call: the provider's tool_use_id is unique within a session."""
    h = _CALL_KEY_HASH.copy()
    h.update(f"{session_id}{_SEP}{tool_use_id}".encode())
    return "tool-" + h.hexdigest()
