"""The HTTP client for model and embedding endpoints: aiohttp, with JSON bodies encoded by orjson.

A model call is every step of every turn. Measured on this machine (16 concurrent 10 KB POSTs to
the scripted model), httpx took 1.2–1.4 ms of CPU a request (httpcore's pool, anyio's cancel
scope on every read) and aiohttp 0.12–0.17 ms: at 16 agents the model call through httpx was a
fifth of the server's Python time. httpx's standard-library JSON was a sixth more, hence orjson;
it is strict where endpoints sometimes are not (NaN in an answer, a lone surrogate), so what it
refuses falls back to the standard library.

What an endpoint can do to the server is bounded: redirects are not followed, an answer larger
than `MAX_ANSWER_BYTES` (after decompression) is dropped as it arrives, and the environment's
proxy and `.netrc` settings are not read, so no credential of the operator's goes to a URL a user
chose. Failures raise `WireError` naming only their kind, never the host.
"""

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

HEADERS = {"Content-Type": "application/json"}
MAX_ANSWER_BYTES = 32 * 1024 * 1024  # a large batch of embeddings as JSON is a few MB


class WireError(Exception):
    """The endpoint could not be reached, timed out, or answered too much; the message is the
    kind of failure only, safe to show."""


def dumps(payload: Any) -> bytes:
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        return json.dumps(payload).encode()  # ASCII: a lone surrogate as its \u escape


@dataclass(frozen=True)
class Answer:
    status: int
    retry_after: str  # the Retry-After header, "" when absent
    body: bytes

    def json(self) -> Any:
        """The answer's JSON; ValueError if it is not JSON."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return json.loads(self.body)


class Wire:
    """One connection pool for every endpoint the server calls, opened in the event loop that
    first uses it (aiohttp binds a session to its loop)."""

    def __init__(self, timeout: float, connect: float = 10.0, max_answer: int = MAX_ANSWER_BYTES) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect)
        self._max = max_answer
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=10)
            session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, trust_env=False)
            self._session, self._loop = session, loop
        return session

    async def post(self, url: str, payload: Any, headers: dict[str, str], server_hostname: str | None = None) -> Answer:
        """POST `payload` as JSON; `server_hostname` names the TLS server when `url` holds a
        checked address in place of the host."""
        return await self._send("POST", url, headers | HEADERS, dumps(payload), server_hostname, None)

    async def get(self, url: str, headers: dict[str, str], timeout: float) -> Answer:
        return await self._send("GET", url, headers, None, None, aiohttp.ClientTimeout(total=timeout))

    async def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        server_hostname: str | None,
        timeout: aiohttp.ClientTimeout | None,
    ) -> Answer:
        try:
            async with self._open().request(
                method,
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                server_hostname=server_hostname,
                timeout=timeout or self._timeout,
            ) as response:
                return Answer(response.status, response.headers.get("Retry-After", ""), await self._read(response))
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise WireError(type(e).__name__) from None  # its text may name the host

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        if (response.content_length or 0) > self._max:
            raise WireError("AnswerTooLarge")
        body = bytearray()
        async for chunk in response.content.iter_any():
            body += chunk
            if len(body) > self._max:
                raise WireError("AnswerTooLarge")
        return bytes(body)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
