"""Connections: a request head that never finishes is cut off after MEMGPT_HEADER_TIMEOUT, an idle
keep-alive connection after MEMGPT_KEEPALIVE_TIMEOUT, and nothing else is disturbed meanwhile."""

import selectors
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import h11
import httpx
import pytest

from tests.support import PASSWORD, Server

HEADER_TIMEOUT = 2.0
KEEPALIVE_TIMEOUT = 3.0
MARGIN = 15.0  # generous: the machine may be busy
HALF_OPEN = 300
HEAD = f"GET /api/tools HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {PASSWORD}\r\n\r\n".encode()
ENV = {"MEMGPT_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "MEMGPT_KEEPALIVE_TIMEOUT": str(KEEPALIVE_TIMEOUT)}


@pytest.fixture(scope="module")
def guarded(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(Path(tmp_path_factory.mktemp("home")), dsn, env=ENV).start()
    try:
        yield running
    finally:
        running.stop()


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=MARGIN)


def _request(client: h11.Connection) -> bytes:
    head = h11.Request(
        method="GET", target="/api/tools", headers=[("Host", "localhost"), ("Authorization", f"Bearer {PASSWORD}")]
    )
    return client.send(head) + client.send(h11.EndOfMessage())


def _response(sock: socket.socket, client: h11.Connection) -> tuple[int, bytes]:
    """Reads one whole response off the socket."""
    status, body = 0, b""
    while True:
        event = client.next_event()
        if event is h11.NEED_DATA:
            client.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return status, body


def _closed_after(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes the connection (fails past `deadline`)."""
    received = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError):
            chunk = b""
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"still open after the deadline; received {received!r}")


def test_heads_that_never_finish_are_closed_while_the_server_keeps_answering(guarded: Server) -> None:
    opened = time.monotonic()
    selector = selectors.DefaultSelector()
    for i in range(HALF_OPEN):
        sock = _connect(guarded)
        sock.setblocking(False)
        if i % 10:  # most start a request and stop mid-head; some never send a byte
            sock.sendall(HEAD[: len(HEAD) // 2])
        selector.register(sock, selectors.EVENT_READ, data=[b"", bool(i % 10)])
    deadline = opened + HEADER_TIMEOUT + MARGIN
    answered = 0
    with httpx.Client(base_url=guarded.url, headers={"Authorization": f"Bearer {PASSWORD}"}, timeout=MARGIN) as c:
        while selector.get_map() and time.monotonic() < deadline:
            assert c.get("/api/tools", headers={"Connection": "close"}).status_code == 200
            answered += 1
            for key, _ in selector.select(timeout=0.2):
                sock, (received, started) = key.fileobj, key.data
                try:
                    chunk = sock.recv(65536)  # type: ignore[union-attr]
                except ConnectionResetError:
                    chunk = b""
                key.data[0] = received + chunk
                if not chunk:
                    assert key.data[0].startswith(b"HTTP/1.1 408 ") if started else key.data[0] == b""
                    selector.unregister(sock)
                    sock.close()  # type: ignore[union-attr]
    still_open = len(selector.get_map())
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    assert still_open == 0, f"{still_open} of {HALF_OPEN} half-open connections outlived the header timeout"
    assert answered >= 2


def test_a_slow_head_that_arrives_in_time_is_served(guarded: Server) -> None:
    with _connect(guarded) as sock:
        pieces = [HEAD[i : i + 20] for i in range(0, len(HEAD), 20)]
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(HEADER_TIMEOUT / 2 / len(pieces))
        status, body = _response(sock, h11.Connection(h11.CLIENT))
    assert status == 200 and b"send_message" in body


def test_keep_alive_serves_several_requests_then_closes_when_idle_or_stalled(guarded: Server) -> None:
    with _connect(guarded) as sock:
        client = h11.Connection(h11.CLIENT)
        for _ in range(3):  # one connection, three requests
            sock.sendall(_request(client))
            assert _response(sock, client)[0] == 200
            client.start_next_cycle()
        started = time.monotonic()
        assert _closed_after(sock, started + KEEPALIVE_TIMEOUT + MARGIN) == b""
        assert time.monotonic() - started >= KEEPALIVE_TIMEOUT / 2  # idle, not refused
    with _connect(guarded) as sock:  # a head begun after a response must finish in time too
        sock.sendall(HEAD)
        assert _response(sock, h11.Connection(h11.CLIENT))[0] == 200
        sock.sendall(HEAD[:30])
        assert _closed_after(sock, time.monotonic() + HEADER_TIMEOUT + MARGIN).startswith(b"HTTP/1.1 408 ")


def test_a_head_that_grows_past_its_bound_is_refused_and_one_within_it_is_served(guarded: Server) -> None:
    start, end = HEAD.split(b"\r\n\r\n")[0], b"\r\n\r\n"
    with _connect(guarded) as sock:  # 12 KB of headers: served
        sock.sendall(start + b"\r\nX-Padding: " + b"p" * 12_000 + end)
        assert _response(sock, h11.Connection(h11.CLIENT))[0] == 200
    with _connect(guarded) as sock:  # 20 KB of headers, not yet ended: refused at once
        sock.sendall(start + b"".join(f"\r\nX-Padding-{n}: ".encode() + b"p" * 1000 for n in range(20)))
        refused = _closed_after(sock, time.monotonic() + HEADER_TIMEOUT / 2)
        assert refused.startswith(b"HTTP/1.1 431 "), refused[:100]


def test_a_pipelined_stream_outlives_the_head_deadline(guarded: Server) -> None:
    """Both heads arrive at once; the second request, a stream, is answered after the first and
    stays open past the deadline: the deadline is for heads, not for answers."""
    stream = f"GET /admin/events?follow=true HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {PASSWORD}\r\n\r\n"
    with _connect(guarded) as sock:
        sock.sendall(HEAD + stream.encode())
        received, until = b"", time.monotonic() + 2 * HEADER_TIMEOUT + 1
        while time.monotonic() < until:
            sock.settimeout(max(0.01, until - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            assert chunk, f"closed while the stream was open, after {received[-200:]!r}"
            received += chunk
    assert received.count(b"HTTP/1.1 200 ") == 2 and b"text/event-stream" in received


def test_over_tls_too(dsn: str, tmp_path: Path) -> None:
    server = Server(tmp_path, dsn, env=ENV, args=("--use-ssl",)).start()
    try:
        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        with tls.wrap_socket(_connect(server), server_hostname="localhost") as sock:
            sock.sendall(HEAD[:30])
            assert _closed_after(sock, time.monotonic() + HEADER_TIMEOUT + MARGIN).startswith(b"HTTP/1.1 408 ")
        with server.client() as c:
            assert c.get("/api/tools").status_code == 200
    finally:
        server.stop()
