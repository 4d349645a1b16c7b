"""What an endpoint, or the server's environment, can make the model client do.

A raw HTTP server on loopback answers each connection with exactly the bytes a test gives, so the
answers can be what no well-behaved endpoint sends: endless bodies, gzip bombs, redirects.
"""

import asyncio
import functools
import gzip
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from runtime.adapters.wire import Wire, WireError


@asynccontextmanager
async def raw_server(head: bytes, body: bytes = b"", repeat: int = 1) -> AsyncIterator[tuple[str, list[bytes]]]:
    """Answers every connection with `head`, then `body` `repeat` times; yields (url, requests seen)."""
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(head)
        try:
            for _ in range(repeat):
                writer.write(body)
                await writer.drain()
        except ConnectionError:
            pass  # the client hung up: what the size limit should make it do
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()


def run(test: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """A coroutine test run in an event loop of its own."""
    return functools.wraps(test)(lambda: asyncio.run(test()))  # type: ignore[arg-type]


@run
async def test_an_endless_answer_is_cut_at_the_limit() -> None:
    """A hostile endpoint streaming a body with no end (no length, closed never) does not fill the
    server's memory: the answer is dropped once it passes the limit."""
    wire = Wire(timeout=10.0, max_answer=1_000_000)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    async with raw_server(head, b"[" + b"0," * 32_768, repeat=1_000) as (url, _):
        with pytest.raises(WireError, match="AnswerTooLarge"):
            await wire.post(url + "/chat/completions", {"messages": []}, {})
    await wire.close()


@run
async def test_an_answer_declared_larger_than_the_limit_is_refused() -> None:
    wire = Wire(timeout=10.0, max_answer=1_000)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n"
    async with raw_server(head, b"x" * 5000) as (url, _):
        with pytest.raises(WireError, match="AnswerTooLarge"):
            await wire.post(url + "/embeddings", {}, {})
    await wire.close()


@run
async def test_a_compressed_answer_is_measured_as_it_unpacks() -> None:
    """A few kilobytes of gzip that unpack to 50 MB stay a refusal, not 50 MB in memory."""
    wire = Wire(timeout=10.0, max_answer=1_000_000)
    bomb = gzip.compress(b" " * 50_000_000)
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\nConnection: close\r\n\r\n"
    async with raw_server(head.encode(), bomb) as (url, _):
        with pytest.raises(WireError, match="AnswerTooLarge"):
            await wire.post(url + "/chat/completions", {}, {})
    await wire.close()


@run
async def test_redirects_are_answers_not_followed() -> None:
    wire = Wire(timeout=10.0)
    async with raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}") as (target, hit):
        head = f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}/x\r\nContent-Length: 0\r\n\r\n"
        async with raw_server(head.encode()) as (url, _):
            answer = await wire.post(url + "/chat/completions", {}, {})
    await wire.close()
    assert answer.status == 307 and hit == []


def test_the_environments_proxy_and_netrc_are_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An operator's HTTP_PROXY and ~/.netrc are for the operator's tools: a user's endpoint must
    neither be reached through the proxy nor be sent the netrc's password for its host."""
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login operator password hunter2\n")
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))

    async def check() -> None:
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        async with raw_server(ok) as (proxy, via_proxy), raw_server(ok) as (url, direct):
            monkeypatch.setenv("HTTP_PROXY", proxy)
            monkeypatch.setenv("http_proxy", proxy)
            wire = Wire(timeout=10.0)
            assert (await wire.post(url + "/chat/completions", {}, {})).json() == {}
            await wire.close()
        assert via_proxy == [] and len(direct) == 1
        assert b"authorization" not in direct[0].lower()

    asyncio.run(check())


@run
async def test_an_endpoint_that_never_answers_fails_within_the_timeout() -> None:
    """A model that accepts the connection and then says nothing does not hold a turn forever."""
    wire = Wire(timeout=0.5)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = asyncio.get_running_loop().time()
    with pytest.raises(WireError, match="Timeout"):
        await wire.post(f"http://127.0.0.1:{port}/chat/completions", {}, {})
    assert asyncio.get_running_loop().time() - started < 5
    await wire.close()
    server.close()


def test_the_client_works_without_its_compiled_parts() -> None:
    """On a CPU aiohttp ships no wheel for, it runs as pure Python: the same answers come back."""
    script = """
import asyncio, sys
sys.path.insert(0, %r)
from tests.test_wire import raw_server
from runtime.adapters.wire import Wire
import aiohttp.http_parser as parser
assert parser.HttpResponseParser is parser.HttpResponseParserPy, "the compiled parser was used"
async def main():
    ok = b"HTTP/1.1 200 OK\\r\\nContent-Length: 10\\r\\nConnection: close\\r\\n\\r\\n{\\"a\\": [1]}"
    async with raw_server(ok) as (url, _):
        wire = Wire(timeout=10.0)
        print((await wire.post(url + "/chat/completions", {"x": 1}, {})).json())
        await wire.close()
asyncio.run(main())
"""
    root = str(Path(__file__).resolve().parents[1])
    env = os.environ | {"AIOHTTP_NO_EXTENSIONS": "1"}
    done = subprocess.run([sys.executable, "-c", script % root], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'a': [1]}"
