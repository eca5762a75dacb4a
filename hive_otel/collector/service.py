"""The collector assembled: the OTLP receiver with the status and usage API over one store.

No component builds another: the receiver serves the app it is given on its HTTP port and tells the
listeners it is given of each acknowledged ingest; the API knows nothing of the receiver. This
module, the top layer of the collector, builds the API over the store the caller opened and hands
it to the receiver (one process owns an embedded store, so the process that receives also serves
the API, and only there do ingests feed the API's live streams and budget checks).
``hive-otel collector`` runs a :class:`Collector` in the foreground; tests and the demo start one
in-process. The store stays the caller's: open it before, close it after ``stop()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp

from hive_otel.collector.api.service import ApiService
from hive_otel.collector.auth.principal import TenantAuth
from hive_otel.collector.config import ReceiverConfig
from hive_otel.collector.receiver.receiver import BoundPorts, CollectorServer, IngestListener

__all__ = ["Collector"]


class Collector(CollectorServer):
    """A :class:`CollectorServer` (same arguments, addresses and lifecycle) with the API mounted.

    ``api`` is the :class:`ApiService`: its app answers under ``/api/`` on the HTTP port, its
    ``on_ingest`` hears every acknowledged ingest, and ``start()``/``stop()`` run its budget checks
    with the listeners.
    """

    def _init(
        self, store: Any, config: ReceiverConfig, mount: ASGIApp | None, listeners: Sequence[IngestListener]
    ) -> None:
        if mount is not None:
            raise TypeError("a Collector mounts its own API; give a CollectorServer the app to mount instead")
        # The API checks tokens with the receiver's table: a token reads what it may write.
        self.api = ApiService(store, TenantAuth(config.tokens))
        super()._init(store, config, self.api.app, [self.api.on_ingest, *listeners])

    def start(self) -> BoundPorts:
        """Bind both listeners, then start the API's budget checks; raises ``OSError`` if a port is taken."""
        ports = super().start()
        self.api.start()
        return ports

    def stop(self) -> None:
        """Stop receiving (in-flight requests finish), then the API. Idempotent."""
        super().stop()
        self.api.stop()
