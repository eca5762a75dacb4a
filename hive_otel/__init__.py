"""hive-otel: Hive's usage and status as plain OpenTelemetry, exported over OTLP.

Public entry points: :func:`instrument` (subscribe to a live Hive EventBus) and the ``hive-otel`` CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from hive_otel.sources.live import Instrumentation


def instrument(event_bus: Any, **kwargs: Any) -> Instrumentation:
    """Subscribe hive-otel to a live ``framework`` EventBus; see :func:`hive_otel.sources.live.instrument`."""
    from hive_otel.sources.live import instrument as _instrument

    return _instrument(event_bus, **kwargs)


__all__ = ["__version__", "instrument"]
