"""HTTP/1.1 connections with a deadline and a size limit for every request head.

uvicorn arms its keep-alive timer only after a response, and any byte received disarms it: a
client that opens a connection, or sends part of a request head, and then goes quiet holds the
connection (and its file descriptor) forever. Here the whole head must arrive within
`header_timeout` seconds of the connection opening or of the previous response; if it does not,
the connection is closed (with a 408 if the client had started a request). An idle connection
between requests is closed by uvicorn's own keep-alive timeout.

The parser is httptools (llhttp, in C), which uvicorn prefers when it is installed: h11's, in
Python, was a tenth of the server's CPU at 16 agents. llhttp sets no bound on a head's size, so
a head still unfinished past `MAX_HEAD_BYTES` is refused here with a 431, as h11 refused it: a
client cannot make the server buffer a head without end.
"""

import asyncio
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = structlog.get_logger(__name__)

MAX_HEAD_BYTES = 16 * 1024

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class GuardedHttpTools(HttpToolsProtocol):
    header_timeout = 10.0  # seconds; set by `guarded_http`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._awaiting_head = True  # no whole head yet since the last request's end (or ever)
        self._head_begun = False  # some of that head has arrived
        self._head_bytes = 0  # bytes received while awaiting it

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._awaiting_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            log.info("connection.head_too_large", client=self.client, received=self._head_bytes)
            self._close_with(_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._stop_waiting()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_head, self._head_begun, self._head_bytes = True, False, 0

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request, its head already here
        if not self.transport.is_closing() and self._idle():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _idle(self) -> bool:
        """No request is being answered."""
        return self.cycle is None or self.cycle.response_complete

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or not self._idle():
            return
        if self._awaiting_head and self._head_begun:  # part of a head, never finished: say why
            log.info("connection.head_timeout", client=self.client, received=self._head_bytes)
            self._close_with(_TIMED_OUT)
        else:
            self.transport.close()

    def _close_with(self, response: bytes) -> None:
        """Close, saying why unless a response is being sent: it must not be cut into."""
        if self._idle():
            self.transport.write(response)
        self.transport.close()


def guarded_http(header_timeout: float) -> type[HttpToolsProtocol]:
    """The protocol class to pass as `uvicorn.Config(http=...)`."""
    return type("GuardedHttpTools", (GuardedHttpTools,), {"header_timeout": header_timeout})
