"""Every environment variable hive-otel reads, with its meaning and default.

Precedence everywhere: explicit argument, then environment, then the default named here.
Callers import the constant rather than retyping the string; `hive_otel.settings` parses them.
"""

from __future__ import annotations

HIVE_HOME = "HIVE_HOME"
"""Hive's data root, read exactly as Hive reads it. Default: ``~/.hive``."""

HIVE_OTEL_ENDPOINT = "HIVE_OTEL_ENDPOINT"
"""OTLP base URL to export to, e.g. ``http://127.0.0.1:4318``. Unset (the default): nothing is
exported, nothing is buffered and no socket is opened — hive-otel is opt-in."""

HIVE_OTEL_STATE_DIR = "HIVE_OTEL_STATE_DIR"
"""Where the client keeps its checkpoints and outbox. Default: ``$HIVE_HOME/otel``."""

HIVE_OTEL_TOKEN = "HIVE_OTEL_TOKEN"
"""Bearer token sent as ``Authorization: Bearer <token>``. Default: none."""

HIVE_OTEL_USER_ID = "HIVE_OTEL_USER_ID"
"""User identity pinned on every session resource (``hive.user.id``). Default: none."""

HIVE_OTEL_TENANT_ID = "HIVE_OTEL_TENANT_ID"
"""Tenant identity pinned on every session resource (``hive.tenant.id``). Default: none."""

HIVE_OTEL_POLICY = "HIVE_OTEL_POLICY"
"""Path of the redaction policy file. Default: the packaged copy of ``collector/redaction.yaml``."""

HIVE_OTEL_OUTBOX_MAX_BYTES = "HIVE_OTEL_OUTBOX_MAX_BYTES"
"""Outbox size cap in bytes; when full the oldest requests are dropped and counted.
Default: 536870912 (512 MB)."""

HIVE_OTEL_MAX_REQUEST_BYTES = "HIVE_OTEL_MAX_REQUEST_BYTES"
"""Largest OTLP export request the client builds, in bytes of uncompressed protobuf; bigger batches
are sent as several requests. The default fits an OpenTelemetry Collector's default gRPC receiver
(4 MiB messages) and is well under hive-otel's collector (16 MiB). A request a receiver still
refuses as too large (HTTP 413, gRPC RESOURCE_EXHAUSTED) is split in halves and sent again; one item
bigger than this limit becomes a dead letter alone. At least 65536. Default: 4194304 (4 MiB)."""

HIVE_OTEL_QUEUE_SIZE = "HIVE_OTEL_QUEUE_SIZE"
"""Capacity of the in-memory queue between the runtime thread and the export worker; a full
queue drops and counts. Default: 65536 events."""

HIVE_OTEL_JOIN_WINDOW_S = "HIVE_OTEL_JOIN_WINDOW_S"
"""Seconds an LLM or tool call waits for its other half (bus event vs. L3 log line) in ``watch`` before
it is exported alone (the live hook sees no L3 line: its calls go out at once). Default: 5."""

HIVE_OTEL_HEARTBEAT_S = "HIVE_OTEL_HEARTBEAT_S"
"""Seconds between the ``hive.heartbeat`` records a live session sends while instrumented, from which
the collector computes "last seen N s ago". ``0`` sends none. Default: 15."""

HIVE_OTEL_QUOTA_URL = "HIVE_OTEL_QUOTA_URL"
"""Base URL of the hive-otel API that ``hive_otel.client.quota`` reads budgets and decisions from
(``GET {url}/api/quotas/{tenant}/decisions``). Default: ``HIVE_OTEL_ENDPOINT`` (the collector serves
the API on its OTLP/HTTP port)."""

HIVE_OTEL_QUOTA_REFRESH_S = "HIVE_OTEL_QUOTA_REFRESH_S"
"""Seconds between refreshes of the local quota cache by its background thread. Default: 30."""

HIVE_OTEL_BACKFILL_TIMEOUT_S = "HIVE_OTEL_BACKFILL_TIMEOUT_S"
"""Seconds ``hive-otel backfill`` waits for the receiver to acknowledge everything it queued before
it exits 4 with the rest still queued (``--timeout``). Default: 600."""

HIVE_OTEL_WATCH_INTERVAL_S = "HIVE_OTEL_WATCH_INTERVAL_S"
"""Seconds between two polls of Hive's files by ``hive-otel watch`` (``--interval``); positive. Default: 1."""

HIVE_CLICKHOUSE_URL = "HIVE_CLICKHOUSE_URL"
"""Store for the cloud collector and ``hive-otel usage``: ``chdb:///path`` (embedded, the default at
``chdb://$HIVE_HOME/otel/clickhouse``) or ``http(s)://user:pass@host:8123/db`` (a ClickHouse server)."""

HIVE_OTEL_COLLECTOR_MAX_BODY = "HIVE_OTEL_COLLECTOR_MAX_BODY"
"""Largest OTLP request body the collector accepts, in bytes, both as sent and after decompression.
Default: 16777216 (16 MiB)."""

HIVE_OTEL_COLLECTOR_TOKENS = "HIVE_OTEL_COLLECTOR_TOKENS"
"""Tokens file of the collector (``--tokens``): SHA-256 hashes of bearer tokens and the tenant each
one writes as. Default: none: the collector listens on loopback only, and a request's tenant is its
``x-hive-tenant-id`` header, else ``local``."""

HIVE_OTEL_CACHE = "HIVE_OTEL_CACHE"
"""Where ``make otelcol`` builds the local agent (``otelcol-<version>/otelcol-hive``) and ``make stack``
finds it. Default: ``$XDG_CACHE_HOME/hive-otel``, else ``~/.cache/hive-otel``."""

# Standard OpenTelemetry variables honoured by the client.
OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
"""``true`` turns hive-otel off entirely, as it does the OpenTelemetry SDK."""

OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
"""``service.name`` on every resource. Default: ``hive``."""

OTEL_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
"""Extra resource attributes, ``k1=v1,k2=v2`` (W3C baggage-style, percent-decoded)."""

OTEL_SEMCONV_STABILITY_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
"""Comma-separated semantic-convention opt-ins, read as OpenTelemetry instrumentations read them.
Unset (or no GenAI value): the names of the pinned release (semantic-conventions-genai 1.42).
``gen_ai_latest_experimental``: also the proposed cost group ``gen_ai.usage.cost.*`` on LLM spans.
``gen_ai_latest_experimental/dup``: that, plus the names 1.42 replaced
(``gen_ai.usage.cache_creation.input_tokens``) for backends not yet reading the new ones; ``/dup`` wins."""

OTEL_EXPORTER_OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
"""``http/protobuf`` (default) or ``grpc``."""

OTEL_EXPORTER_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
"""Extra request headers, ``k1=v1,k2=v2``."""

OTEL_EXPORTER_OTLP_COMPRESSION = "OTEL_EXPORTER_OTLP_COMPRESSION"
"""``gzip`` (default here) or ``none``."""

OTEL_EXPORTER_OTLP_TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT"
"""Per-request timeout in milliseconds. Default: 10000."""

OTEL_EXPORTER_OTLP_CERTIFICATE = "OTEL_EXPORTER_OTLP_CERTIFICATE"
"""PEM file of the CA certificate(s) that verify the receiver's TLS certificate, instead of the default
roots. Used with ``https://`` only. Default: none (the system's roots; over gRPC, grpcio's bundled ones)."""

OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
"""PEM file of the client certificate (and its chain) presented for mutual TLS; needs
``OTEL_EXPORTER_OTLP_CLIENT_KEY``. Used with ``https://`` only. Default: none."""

OTEL_EXPORTER_OTLP_CLIENT_KEY = "OTEL_EXPORTER_OTLP_CLIENT_KEY"
"""PEM file of the unencrypted private key of ``OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE``; needs it.
Default: none."""

__all__ = [name for name in dir() if name.isupper()]
