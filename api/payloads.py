"""An event as the history shows it: its fields as JSON, secrets redacted, messages shaped.

Generic on purpose: a new event type, or a new field of an old one, shows up without a change
here. Every field of the event is shown, except the envelope the item already carries; ids and
times become strings; a message is shaped as `GET /api/agents/{id}/messages` shapes it; a
`core_memory` that changes an agent's memory becomes, per changed section, `{"before", "after"}`;
any field whose name says it holds a secret (a key digest, a sealed key, a password, a token) is
redacted wherever it appears; users see an operator's endpoint by its provider's name, as
`GET /api/agents` shows it.
"""

import dataclasses
import functools
import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from api.resources.messages import message_model
from api.schemas.events import EventItem
from domain.messages import Message, clean, cleaned
from projections.event_history import Recorded
from runtime.endpoints import FIELDS, Endpoints

REDACTED = "[redacted]"
# Names of fields that hold secrets, wherever they appear: `digest` (User.KeyIssued), an agent's
# `api_key_sealed`, an `api_key`, and any other `*_key`, secret, password or token.
_SECRET = re.compile(
    r"(?:^|_)(?:digest|secret|password|passphrase|token|authorization|credentials?|sealed)(?:$|_)|(?:^|_)key$",
    re.IGNORECASE,
)
_ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic", "caused_by"})
_CONFIGS = {"llm_config": FIELDS["llm"][1], "embedding_config": FIELDS["embedding"][1]}


@functools.lru_cache(maxsize=4096)
def secret(name: str) -> bool:
    return bool(_SECRET.search(name))


def iso(moment: datetime) -> str:
    return (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


class Shaper:
    """Shapes the events of one page for one caller (`admin`: the operator sees its endpoints)."""

    def __init__(self, endpoints: Endpoints, admin: bool, models: dict[UUID, str | None]) -> None:
        self._endpoints = endpoints
        self._admin = admin
        self._models = models

    def item(self, recorded: Recorded) -> EventItem:
        return EventItem(
            position=recorded.position,
            type=recorded.type,
            version=recorded.version,
            time=iso(recorded.time),
            originator_id=recorded.originator_id,
            user_id=recorded.user_id,
            agent_id=recorded.agent_id,
            turn_id=recorded.turn_id,
            caused_by=self._json(recorded.caused_by, recorded) if recorded.caused_by else None,
            payload=self.payload(recorded),
        )

    def payload(self, recorded: Recorded) -> dict[str, Any]:
        fields = {k: v for k, v in vars(recorded.event).items() if k not in _ENVELOPE}
        out: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "core_memory" and isinstance(value, dict) and not recorded.type.endswith(".Created"):
                out[name] = _changes(recorded.memory_before or {}, value)
            else:
                out[name] = self._field(name, value, recorded)
        return out

    def _field(self, name: str, value: Any, recorded: Recorded) -> Any:
        if value is not None and secret(name):
            return REDACTED
        if name in _CONFIGS and isinstance(value, dict) and not self._admin:
            endpoint = _CONFIGS[name]
            value = value | ({endpoint: self._endpoints.public_endpoint(value[endpoint])} if endpoint in value else {})
        return self._json(value, recorded)

    def _json(self, value: Any, recorded: Recorded) -> Any:
        if isinstance(value, str):
            return clean(value)  # an event written before text was checked may hold what JSON cannot
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Message):
            return self._message(value, recorded)
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, datetime):
            return iso(value)
        if isinstance(value, dict):
            return {clean(str(k)) or "": self._field(str(k), v, recorded) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._json(v, recorded) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self._json({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, recorded)
        return str(value)

    def _message(self, message: Message, recorded: Recorded) -> dict[str, Any]:
        agent_id = recorded.agent_id or recorded.originator_id
        call = message.tool_call
        row = {  # a `view_messages` row (Message.to_dict deep-copies: too slow for a page of them)
            "id": message.id,
            "agent_id": agent_id,
            "role": message.role,
            "text": message.text,
            "name": message.name,
            "tool_call": {"id": call.id, "name": call.name, "arguments": call.arguments} if call else None,
            "tool_call_id": message.tool_call_id,
            "created_at": message.created_at,
        }
        shaped = msgspec.to_builtins(message_model(row, recorded.user_id, self._models.get(agent_id)))
        return {k: (REDACTED if v is not None and secret(k) else cleaned(v)) for k, v in shaped.items()}


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per changed section of core memory: what it held before the event and after it."""
    return {
        section: {"before": before.get(section), "after": after.get(section)}
        for section in dict.fromkeys([*before, *after])
        if before.get(section) != after.get(section)
    }
