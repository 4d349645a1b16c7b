"""Messages in an agent's context, and the packaged texts MemGPT feeds the model.

A message is immutable and carries everything the model and the API need: role, text, the one
tool call of an assistant step, or the call a function result answers. Times come from events,
so replaying the log reproduces every text exactly.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

SUMMARY_NOTE = (
    "Note: {hidden} earlier messages ({total} in total so far) were moved out of your context to "
    "save space. They remain in recall memory (search it with conversation_search). "
    "Summary of the hidden messages:\n{summary}"
)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # the JSON text exactly as the model produced it


@dataclass(frozen=True)
class Message:
    id: UUID
    role: str  # system | user | assistant | function
    text: str | None
    created_at: datetime
    name: str | None = None  # the function a function message answers
    tool_call: ToolCall | None = None  # the call an assistant message makes
    tool_call_id: str | None = None  # the call a function message answers

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (what `asdict` gives, without its recursive deep copy: every
        save and snapshot encodes messages, and `asdict` was a tenth of a save's CPU)."""
        call = self.tool_call
        return {
            "id": self.id,
            "role": self.role,
            "text": self.text,
            "created_at": self.created_at,
            "name": self.name,
            "tool_call": {"id": call.id, "name": call.name, "arguments": call.arguments} if call else None,
            "tool_call_id": self.tool_call_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Message":
        call = data.get("tool_call")
        return cls(**{**data, "tool_call": ToolCall(**call) if call else None})

    def for_model(self) -> dict[str, Any]:
        """The OpenAI chat-completions form of this message, built once: every step sends each
        message in context again, twice counting the check for a memory warning, and building
        them was 3 % of the server's CPU at 16 agents. Shared: callers must not change it."""
        built = self.__dict__.get("_for_model")
        if built is None:
            built = self.__dict__["_for_model"] = self._build_for_model()  # frozen: not through setattr
        return built

    def _build_for_model(self) -> dict[str, Any]:
        if self.role == "assistant":
            out: dict[str, Any] = {"role": "assistant", "content": self.text}
            if self.tool_call:
                call = self.tool_call
                out["tool_calls"] = [
                    {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
                ]
            return out
        if self.role == "function":
            return {"role": "tool", "tool_call_id": self.tool_call_id, "content": self.text or ""}
        return {"role": self.role, "content": self.text or ""}


# What no PostgreSQL text or jsonb can hold: NUL, and lone UTF-16 surrogates (a Python str holds
# one when a model's JSON escapes half a pair, "\\ud83d"; it cannot be encoded as UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(match: re.Match[str]) -> str:
    return "" if match.group() == "\x00" else "\ufffd"


def clean(text: str | None) -> str | None:
    """Text a model or a document produced, storable: NUL removed, lone surrogates replaced by
    U+FFFD. Every view stores such text; one unstorable character would stop a view for good."""
    return _UNSTORABLE.sub(_storable, text) if text else text


def cleaned(value: Any) -> Any:
    """`clean` through parsed JSON (a function's arguments): every string and key in it."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cleaned(v) for v in value]
    return value


def clean_arguments(text: str | None) -> str | None:
    """A function call's JSON arguments as text, storable once parsed too: an escaped NUL or
    lone surrogate (`"\\u0000"`) is harmless as text but not in what views parse out of it."""
    text = clean(text)
    if not text:
        return text
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return text
    fixed = cleaned(parsed)
    return json.dumps(fixed, ensure_ascii=False) if fixed != parsed else text


def plain_text(message: Message) -> str:
    """What a person reads in a message: packaged texts unpacked, a reply's words included.
    Recall search matches this, so a search for "type" does not match every packaged message."""
    return clean(_plain_text(message)) or ""


def _plain_text(message: Message) -> str:
    if message.role == "assistant":
        said = ""
        if message.tool_call and message.tool_call.name == "send_message":
            try:
                said = str(json.loads(message.tool_call.arguments).get("message", ""))
            except (json.JSONDecodeError, AttributeError):
                said = message.tool_call.arguments
        return "\n".join(part for part in (message.text, said) if part)
    text = message.text or ""
    try:
        packed = json.loads(text)
    except json.JSONDecodeError:
        return text
    if isinstance(packed, dict):
        return str(packed.get("message") or packed.get("reason") or "")
    return text


def stamp(moment: datetime) -> str:
    """MemGPT's human-readable local time, e.g. `2024-01-31 09:15:00 AM UTC+0000`."""
    return moment.strftime("%Y-%m-%d %I:%M:%S %p %Z%z").strip()


def _packed(kind: str, moment: datetime, **fields: Any) -> str:
    return json.dumps(cleaned({"type": kind, **fields, "time": stamp(moment)}), ensure_ascii=False)


def user_text(text: str, moment: datetime) -> str:
    return _packed("user_message", moment, message=text)


def system_text(text: str, moment: datetime) -> str:
    return _packed("system_alert", moment, message=text)


def login_text(moment: datetime) -> str:
    return _packed("login", moment, last_login="Never (first login)")


def heartbeat_text(reason: str, moment: datetime) -> str:
    return _packed("heartbeat", moment, reason=reason)


def function_result(status: str, message: Any, moment: datetime) -> str:
    return json.dumps(cleaned({"status": status, "message": message, "time": stamp(moment)}), ensure_ascii=False)


@dataclass(frozen=True)
class Frame:
    """One SSE/JSON event of a turn as clients see it (`internal_monologue`, `function_call`...)."""

    kind: str
    value: str
    created_at: datetime
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, str]:
        return {self.kind: self.value, **self.extra, "date": self.created_at.isoformat()}
