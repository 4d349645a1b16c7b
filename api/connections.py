"""HTTP/1.1 connections with a deadline for every request head.

uvicorn's h11 protocol arms its keep-alive timer only after a response, and any byte received
disarms it: a client that opens a connection, or sends part of a request head, and then goes
quiet holds the connection (and its file descriptor) forever. Here the whole head must arrive
within `header_timeout` seconds of the connection opening or of the previous response; if it
does not, the connection is closed (with a 408 if the client had started a request). An idle
connection between requests is closed by uvicorn's own keep-alive timeout.
"""

import asyncio
from typing import Any

import h11
import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol

log = structlog.get_logger(__name__)

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class HeaderTimeoutH11(H11Protocol):
    header_timeout = 10.0  # seconds; set by `with_header_timeout`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a whole request head has arrived
            self._stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may go on with a pipelined request at once
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        started, _ = self.conn.trailing_data
        if started:  # part of a head, never finished: say why before closing
            log.info("connection.head_timeout", client=self.client, received=len(started))
            self.transport.write(_TIMED_OUT)
        self.transport.close()


def with_header_timeout(seconds: float) -> type[H11Protocol]:
    """The protocol class to pass as `uvicorn.Config(http=...)`."""
    return type("HeaderTimeoutH11", (HeaderTimeoutH11,), {"header_timeout": seconds})
