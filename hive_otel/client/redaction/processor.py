"""Applies a `RedactionPolicy` to mapped telemetry before anything is encoded or stored.

It does what the Collector's redaction processor does with ``allow_all_keys: false`` (plus what
collector/agent.yaml's transform does for the places redaction does not reach):
- attributes of resources, spans and log records whose key is not allowed are removed (fail closed);
- string values of allowed keys have blocked values masked, except under ``ignored_keys``; so do
  the string items of list values (stricter than the Collector, which does not look into arrays);
- span names and log event names have blocked values masked;
- span status messages are emptied and log bodies removed, unless the policy opts in, in which
  case they are masked like values.

Not thread-safe: one processor per export worker (it keeps counters and caches).
"""

from __future__ import annotations

from collections import Counter

from hive_otel.client.mapping.telemetry import Attributes, LogRecord, Resource, SpanRecord, Telemetry
from hive_otel.policy import MASK, RedactionPolicy

# Summary attribute keys, as the Collector's redaction processor writes them.
SUMMARY_REDACTED_COUNT = "redaction.redacted.count"
SUMMARY_REDACTED_KEYS = "redaction.redacted.keys"
SUMMARY_MASKED_COUNT = "redaction.masked.count"
SUMMARY_MASKED_KEYS = "redaction.masked.keys"

COUNTER_NAMES = (
    "attributes_removed",
    "values_masked",
    "span_names_masked",
    "event_names_masked",
    "status_messages_dropped",
    "status_messages_masked",
    "log_bodies_dropped",
    "log_bodies_masked",
)

# Bounds on the per-value caches: values repeat (models, tool names, span names, resources) but
# some are unique per call (call keys), so a cache that fills up is simply started again.
_STRING_CACHE_LIMIT = 65536
_SCALARS = (bool, int, float)  # attribute values the encoder writes as they are; anything else as its str()
_RESOURCE_CACHE_LIMIT = 4096


class RedactionProcessor:
    """Redacts `Telemetry` by a policy, and counts what it removed, masked or dropped."""

    def __init__(self, policy: RedactionPolicy) -> None:
        self.policy = policy
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self.removed_keys: Counter[str] = Counter()
        """How often each attribute key was removed: what the policy is keeping back."""
        self._exported = policy.exported_keys
        self._unmasked = policy.unmasked_keys
        self._pattern = policy.blocked_pattern
        self._summary = policy.summary
        self._with_summary = policy.summary != "silent"
        self._keep_status = policy.opt_in.status_messages
        self._keep_bodies = policy.opt_in.log_bodies
        self._masked: dict[str, str] = {}  # value -> value with blocked parts masked
        self._clean: set[str] = set()  # the values in _masked with nothing blocked in them
        self._resources: dict[Resource, tuple[Resource, tuple[str, ...], int]] = {}

    def process(self, telemetry: Telemetry) -> Telemetry:
        """Return a redacted copy of ``telemetry``; the input is left as it was."""
        span, log = self._span, self._log
        return Telemetry([span(s) for s in telemetry.spans], [log(r) for r in telemetry.logs])

    def _span(self, span: SpanRecord) -> SpanRecord:
        name = span.name
        masked_name = self._masked.get(name)
        if masked_name is None:
            masked_name = self._mask(name)
        if masked_name is not name and masked_name != name:
            self.counters["span_names_masked"] += 1
        message = span.status_message
        if message:
            if not self._keep_status:
                message = ""
                self.counters["status_messages_dropped"] += 1
            else:
                message = self._mask(message)
                if message != span.status_message:
                    self.counters["status_messages_masked"] += 1
        # Positional: SpanRecord's field order (resource, ids, name, kind, times, attributes, status, links).
        return SpanRecord(
            self._resource(span.resource),
            span.trace_id,
            span.span_id,
            span.parent_span_id,
            masked_name,
            span.kind,
            span.start_ns,
            span.end_ns,
            self._attributes(span.attributes),
            span.status_code,
            message,
            list(span.links),
        )

    def _log(self, log: LogRecord) -> LogRecord:
        event_name = log.event_name
        masked_name = self._masked.get(event_name)
        if masked_name is None:
            masked_name = self._mask(event_name)
        if masked_name is not event_name and masked_name != event_name:
            self.counters["event_names_masked"] += 1
        body = log.body
        if body is not None:
            if not self._keep_bodies:
                body = None
                self.counters["log_bodies_dropped"] += 1
            else:
                body = self._mask(body)
                if body != log.body:
                    self.counters["log_bodies_masked"] += 1
        # Positional: LogRecord's field order (resource, time, names, severity, attributes, body, ids).
        return LogRecord(
            self._resource(log.resource),
            log.time_ns,
            masked_name,
            log.severity_number,
            log.severity_text,
            self._attributes(log.attributes),
            body,
            log.trace_id,
            log.span_id,
        )

    def _resource(self, resource: Resource) -> Resource:
        # A session's resource is shared by all of its records: redact it once, count it every time.
        try:
            cached = self._resources.get(resource)
        except TypeError:  # a list value makes it unhashable; redact without the cache
            return Resource.of(self._attributes(resource.as_dict()))
        if cached is None:
            kept, removed, masked = self._redact(resource.as_dict())
            cached = (Resource.of(kept), tuple(removed), len(masked))
            if len(self._resources) >= _RESOURCE_CACHE_LIMIT:
                self._resources.clear()
            self._resources[resource] = cached
        redacted, removed, masked_count = cached
        self._count(removed, masked_count)
        return redacted

    def _attributes(self, attributes: Attributes) -> Attributes:
        kept, removed, masked = self._redact(attributes)
        if removed:
            self.counters["attributes_removed"] += len(removed)
            self.removed_keys.update(removed)
        if masked:
            self.counters["values_masked"] += len(masked)
        return kept

    def _count(self, removed: list[str] | tuple[str, ...], masked_count: int) -> None:
        if removed:
            self.counters["attributes_removed"] += len(removed)
            self.removed_keys.update(removed)
        if masked_count:
            self.counters["values_masked"] += masked_count

    def _redact(self, attributes: Attributes) -> tuple[Attributes, list[str], list[str]]:
        """Allowed attributes with blocked values masked, and the keys removed and masked."""
        # The hot path, ~20% of a backfill: a copy of the attributes (the input is left as it was)
        # in which only what changes is written over, one set lookup per key, and one per string
        # value, which is nearly always a value already known to hold nothing blocked.
        exported, unmasked, clean = self._exported, self._unmasked, self._clean
        kept = attributes.copy()
        removed: list[str] = []
        masked: list[str] = []
        for key, value in attributes.items():
            if key not in exported:
                removed.append(key)
                del kept[key]
            elif type(value) is str:
                if value in clean or key in unmasked:
                    continue
                new_value = self._mask(value)  # type: ignore[arg-type]
                if new_value != value:  # the cache may hand back an equal string that is another object
                    masked.append(key)
                    kept[key] = new_value
            elif type(value) is list and key not in unmasked:
                new_items = [self._masked_value(item) for item in value]  # type: ignore[union-attr]
                if new_items != value:
                    masked.append(key)
                kept[key] = new_items  # a new list either way, as the copy of the input
            elif type(value) not in _SCALARS and key not in unmasked:
                as_text = str(value)  # what the encoder would write: masked as the text it is
                kept[key] = self._mask(as_text)
                if kept[key] != as_text:
                    masked.append(key)
        if self._with_summary:
            self._add_summary(kept, removed, masked)
        return kept, removed, masked

    def _add_summary(self, attributes: Attributes, removed: list[str], masked: list[str]) -> None:
        # Mirrors the Collector's summary: counts at `info`, and the keys too at `debug`.
        for keys, count_key, keys_key in (
            (removed, SUMMARY_REDACTED_COUNT, SUMMARY_REDACTED_KEYS),
            (masked, SUMMARY_MASKED_COUNT, SUMMARY_MASKED_KEYS),
        ):
            if not keys:
                continue
            attributes[count_key] = len(keys)
            if self._summary == "debug":
                attributes[keys_key] = ",".join(sorted(keys))

    def _masked_value(self, value: object) -> object:
        """A list item: a string masked, a number or bool as it is, anything else masked as its text."""
        if type(value) is str:
            return self._mask(value)
        return value if type(value) in _SCALARS else self._mask(str(value))

    def _mask(self, text: str) -> str:
        """``text`` with blocked values masked; the very same object when nothing matched."""
        masked = self._masked.get(text)
        if masked is None:
            pattern = self._pattern
            masked = pattern.sub(MASK, text) if pattern is not None and pattern.search(text) else text
            if len(self._masked) >= _STRING_CACHE_LIMIT:
                self._masked.clear()
                self._clean.clear()
            self._masked[text] = masked
            if masked is text:
                self._clean.add(text)
        return masked
