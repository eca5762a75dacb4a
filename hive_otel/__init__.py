"""hive-otel: Hive's usage and status as plain OpenTelemetry, exported over OTLP.

Public entry points: :func:`instrument` (subscribe to a live Hive EventBus) and the ``hive-otel`` CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from hive_otel.client.client import LiveExport


def instrument(event_bus: Any, **kwargs: Any) -> LiveExport:
    """Export a live ``framework`` EventBus over OTLP; see :func:`hive_otel.client.client.instrument`.

    Opt-in: without ``HIVE_OTEL_ENDPOINT`` it subscribes to nothing and opens nothing.
    """
    from hive_otel.client.client import instrument as _instrument

    return _instrument(event_bus, **kwargs)


__all__ = ["__version__", "instrument"]
