"""Chat models over HTTP: the OpenAI chat-completions protocol with tools.

One adapter covers OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio and llama.cpp's server. Calls time
out, and 429/5xx/connection failures are retried with exponential backoff; when the endpoint stays
down the caller gets `LLMUnavailable`, which ends the turn with a clean `internal_error`.
"""

import asyncio
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import uuid4

from domain.configs import LLMConfig
from domain.messages import ToolCall
from domain.step import Reply
from runtime.adapters import wire
from runtime.endpoints import EndpointRefused, Endpoints

AZURE_API_VERSION = "2024-02-01"


class LLMUnavailable(Exception):
    """The model could not be reached or refused the request; the message is safe to show."""


class ChatModel(Protocol):
    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Reply: ...

    async def summarize(self, messages: list[dict[str, Any]]) -> str: ...

    def body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]: ...

    def count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int: ...


def estimate_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
    """A deliberately high estimate for remote models, whose tokenizers are not shipped here:
    about 3 characters a token of the JSON sent, where English averages nearer 4. Text beyond
    ASCII is measured as `\\uXXXX` escapes, 6 characters each: its tokens are fewer bytes apart."""
    size = 0
    for part in (messages, tools):
        sent = wire.dumps(part)
        size += len(sent) if sent.isascii() else len(json.dumps(part))
    return math.ceil(size / 3)


def _uncounted(reason: str) -> None:
    """Retries go uncounted where no metrics are given (tests, the CLI's own adapters)."""


@dataclass(frozen=True)
class Retry:
    attempts: int = 4
    backoff: float = 0.5  # seconds before the 2nd attempt; doubles after each failure
    max_wait: float = 10.0
    on_retry: Callable[[str], None] = _uncounted  # told why before each retry (the metrics count them)


def _arguments(raw: Any) -> str:
    """Arguments as the model wrote them: a string, or (Ollama, some vLLM parsers) an object."""
    if raw is None:
        return ""
    return raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)


def _call(raw: Any) -> ToolCall | None:
    if not isinstance(raw, dict):
        return None
    function = raw.get("function") if isinstance(raw.get("function"), dict) else raw
    return ToolCall(
        str(raw.get("id") or f"call_{uuid4().hex[:24]}"),
        str(function.get("name") or ""),
        _arguments(function.get("arguments")),
    )


def _text(content: Any) -> str | None:
    """`content` as a string, a list of text parts (newer OpenAI-style servers), or null."""
    if isinstance(content, list):
        content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) and content else None


def _reply(body: Any) -> Reply:
    """A chat completion in any of the dialects of the protocol: `tool_calls` (OpenAI, vLLM,
    Ollama, llama.cpp's server) or the legacy `function_call`; several calls are kept in order."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise LLMUnavailable("The model endpoint answered without a message.") from None
    if not isinstance(message, dict):
        raise LLMUnavailable("The model endpoint answered without a message.")
    raw_calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
    calls = [c for c in map(_call, raw_calls) if c is not None]
    if not calls and isinstance(message.get("function_call"), dict):
        legacy = _call(message["function_call"])
        calls = [legacy] if legacy else []
    # Reasoning servers (vLLM, llama.cpp) may put the thoughts beside an empty content.
    text = _text(message.get("content")) or _text(message.get("reasoning_content"))
    finish = choice.get("finish_reason")
    return Reply(text, tuple(calls), finish if isinstance(finish, str) else None, reported_usage(body.get("usage")))


def reported_usage(raw: Any) -> dict[str, int] | None:
    """The reply's token counts, when the server gives them (not every OpenAI-compatible one does)."""
    if not isinstance(raw, dict):
        return None
    counts = {
        k: raw[k]
        for k in ("prompt_tokens", "completion_tokens")
        if isinstance(raw.get(k), int) and not isinstance(raw[k], bool)
    }
    return counts or None


def chat_body(model: str | None, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The JSON body sent for a step (`tools`) or a summary (None), turn histories show it too.
    Azure names the model in the URL, not the body (`model` None)."""
    body: dict[str, Any] = {"messages": messages}
    if tools is not None:
        body |= {"tools": tools, "tool_choice": "auto"}
    return body if model is None else {"model": model, **body}


class OpenAIChat:
    """One agent's chat endpoint. What the endpoint answers reaches the agent's user as a status and
    a short reason, never its body or its URL; redirects are not followed and
    count as a refusal. A user's own endpoint is resolved and checked before every request
    (`Endpoints.pinned`)."""

    def __init__(
        self,
        http: wire.Wire,
        endpoint_type: str,
        base_url: str,
        model: str,
        api_key: str | None,
        retry: Retry,
        endpoints: Endpoints | None = None,
    ) -> None:
        self._wire = http
        self._azure = endpoint_type == "azure"
        self._base = base_url.rstrip("/")
        self._model = model
        self._key = api_key
        self._retry = retry
        self._pin = endpoints  # set for a user's own endpoint

    def body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        return chat_body(None if self._azure else self._model, messages, tools)

    def _request(self) -> tuple[str, dict[str, str]]:
        if self._azure:
            url = f"{self._base}/openai/deployments/{self._model}/chat/completions?api-version={AZURE_API_VERSION}"
            return url, ({"api-key": self._key} if self._key else {})
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        return f"{self._base}/chat/completions", headers

    async def _send(self, url: str, headers: dict[str, str], payload: dict[str, Any]) -> wire.Answer:
        if self._pin is None:
            return await self._wire.post(url, payload, headers)
        try:
            pinned = await self._pin.pinned(url)
        except EndpointRefused as e:
            raise LLMUnavailable(f"The model endpoint is refused: {e}") from None
        return await self._wire.post(pinned.url, payload, headers | pinned.headers, pinned.server_hostname)

    async def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        url, headers = self._request()
        wait = self._retry.backoff
        problem = ""
        for attempt in range(self._retry.attempts):
            if attempt:
                self._retry.on_retry(problem)
                await asyncio.sleep(wait)
                wait = min(wait * 2, self._retry.max_wait)
            try:
                answer = await self._send(url, headers, payload)
            except wire.WireError as e:
                problem = str(e)
                continue
            if answer.status == 429 or answer.status >= 500:
                problem = f"HTTP {answer.status}"
                if answer.retry_after.isdigit():
                    wait = min(float(answer.retry_after), self._retry.max_wait)
                continue
            if answer.status >= 300:
                raise LLMUnavailable(f"The model endpoint refused the request: HTTP {answer.status}.")
            try:
                return answer.json()
            except ValueError:
                raise LLMUnavailable("The model endpoint answered with something that is not JSON.") from None
        raise LLMUnavailable(f"The model endpoint is unavailable after {self._retry.attempts} attempts ({problem}).")

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Reply:
        return _reply(await self._post(self.body(messages, tools)))

    async def summarize(self, messages: list[dict[str, Any]]) -> str:
        reply = _reply(await self._post(self.body(messages, None)))
        if not reply.text:
            raise LLMUnavailable("The model returned an empty summary.")
        return reply.text

    def count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        return estimate_tokens(messages, tools)


class ModelSource(Protocol):
    """Where the runner gets an agent's chat model: `Models`, or a fake in tests."""

    def for_agent(self, llm_config: dict[str, Any]) -> ChatModel: ...


class Models:
    """Picks the adapter an agent's `llm_config` names, as the operator's providers stand now; one
    HTTP client for the whole process."""

    def __init__(self, http: wire.Wire, endpoints: Endpoints, retry: Retry, embedded: ChatModel) -> None:
        self._http = http
        self._endpoints = endpoints
        self._retry = retry
        self._embedded = embedded

    def for_agent(self, llm_config: dict[str, Any]) -> ChatModel:
        config = LLMConfig.from_dict(llm_config)
        if config.embedded:
            return self._embedded
        try:
            target = self._endpoints.target(config, "llm")
        except EndpointRefused as e:
            raise LLMUnavailable(str(e)) from None
        return OpenAIChat(
            self._http,
            target.endpoint_type,
            target.url,
            target.model,
            target.api_key,
            self._retry,
            None if target.operator else self._endpoints,
        )
