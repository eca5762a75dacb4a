"""The collector assembled: the OTLP receiver and the status and usage API over one store.

No component builds another: the receiver serves the app it is given on its HTTP port and tells the
listeners it is given of each acknowledged ingest; the API knows nothing of the receiver. This
module, the top layer of the collector, builds both over the store the caller opened and wires the
API into the receiver (one process owns an embedded store, so the process that receives also
serves the API, and only there do ingests feed the API's live streams and budget checks).
``hive-otel collector`` runs a :class:`Collector` in the foreground; tests and the demo start one
in-process. The store stays the caller's: open it before, close it after ``stop()``.
"""

from __future__ import annotations

from typing import Any

from hive_otel.collector.api.service import ApiService
from hive_otel.collector.auth.principal import TenantAuth
from hive_otel.collector.config import (
    DEFAULT_GRPC_ENDPOINT,
    DEFAULT_HTTP_ENDPOINT,
    DEFAULT_MAX_BODY,
    HostPort,
    ReceiverConfig,
)
from hive_otel.collector.receiver.receiver import BoundPorts, CollectorServer

__all__ = ["Collector"]


class Collector:
    """The receiver with the API mounted on its HTTP port; ``start()``/``stop()`` run both.

    Takes the arguments of :class:`CollectorServer` (addresses, ``max_body`` and the other
    :class:`ReceiverConfig` fields as keywords), or a whole config through :meth:`from_config`.
    """

    def __init__(
        self,
        store: Any,
        grpc_addr: str | HostPort = DEFAULT_GRPC_ENDPOINT,
        http_addr: str | HostPort = DEFAULT_HTTP_ENDPOINT,
        max_body: int = DEFAULT_MAX_BODY,
        **options: Any,
    ) -> None:
        self._init(store, ReceiverConfig.listening(grpc_addr, http_addr, max_body, **options))

    @classmethod
    def from_config(cls, store: Any, config: ReceiverConfig) -> Collector:
        collector = cls.__new__(cls)
        collector._init(store, config)
        return collector

    def _init(self, store: Any, config: ReceiverConfig) -> None:
        self.config = config
        # The API checks tokens with the receiver's table: a token reads what it may write.
        self.api = ApiService(store, TenantAuth(config.tokens))
        self.receiver = CollectorServer.from_config(store, config, mount=self.api.app, listeners=[self.api.on_ingest])

    def start(self) -> BoundPorts:
        """Bind both listeners, then start the API's budget checks; raises ``OSError`` if a port is taken."""
        ports = self.receiver.start()
        self.api.start()
        return ports

    def stop(self) -> None:
        """Stop receiving (in-flight requests finish), then the API. Idempotent."""
        self.receiver.stop()
        self.api.stop()

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def ports(self) -> BoundPorts:
        return self.receiver.ports

    @property
    def http_url(self) -> str:
        """Base URL of the OTLP/HTTP port, which serves the API under ``/api/`` too."""
        return self.receiver.http_url

    @property
    def grpc_target(self) -> str:
        return self.receiver.grpc_target

    def counters(self) -> dict[str, dict[str, int]]:
        return self.receiver.counters()
