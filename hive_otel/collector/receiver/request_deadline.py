"""A deadline for receiving each OTLP/HTTP request, against clients that send slowly or not at all.

uvicorn times out only the idle time between two requests on a keep-alive connection, and any byte
received resets that timer (uvicorn#157): a client that opens a connection and sends nothing, or
sends a request a byte at a time, holds a socket for as long as it likes. A few thousand of them
(slowloris) exhaust the process's file descriptors, which the embedded store needs too, before any
token is checked. Here each request must arrive whole, headers and body, within ``timeout_s`` of
the connection opening or of the previous response on it; otherwise the connection is closed,
counted and logged. A request received in time is never cut off, however long the store takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["RequestDeadlineProtocol"]

# The client's h11 states once its request is whole: DONE, or MUST_CLOSE after "Connection: close".
_RECEIVED = (h11.DONE, h11.MUST_CLOSE)


class RequestDeadlineProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol (h11) with the deadline above; ``on_timeout(peer)`` is called,
    in the event loop, for each connection closed by it."""

    def __init__(self, *args: Any, timeout_s: float, on_timeout: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeout_s = timeout_s
        self._on_timeout = on_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in _RECEIVED:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may already have read a pipelined request whole
        if self.conn.their_state not in _RECEIVED and not self.transport.is_closing():
            self._arm()  # the next request on this connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self._timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self._on_timeout(f"{self.client[0]}:{self.client[1]}" if self.client else "unknown")  # as otlp_http names peers
        self.transport.close()  # an application waiting for the body hears a disconnect
