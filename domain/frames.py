"""How a turn's events look to clients: the `internal_monologue` / `function_call` /
`assistant_message` / `function_return` / `internal_error` objects of the MemGPT API."""

import json
from typing import Any

from domain.agents import Agent
from domain.arguments import NotJSON, parse_arguments
from domain.messages import Frame, Message


def _call_text(message: Message) -> str:
    call = message.tool_call
    assert call is not None
    try:
        args = parse_arguments(call.arguments)
    except NotJSON:
        return f"{call.name}({call.arguments})"
    if isinstance(args, dict):
        args.pop("request_heartbeat", None)
        args.pop("inner_thoughts", None)
    return f"{call.name}({args!r})"


def _returned(message: Message) -> str:
    try:
        return str(json.loads(message.text or "")["message"])
    except (json.JSONDecodeError, KeyError, TypeError):
        return message.text or ""


def frames(event: Any) -> list[Frame]:
    """The frames one event shows (hidden system traffic shows none)."""
    if isinstance(event, Agent.AssistantSpoke):
        m = event.message
        out = [Frame("internal_monologue", m.text, m.created_at)] if m.text else []
        if m.tool_call:
            out.append(Frame("function_call", _call_text(m), m.created_at))
        return out
    if isinstance(event, Agent.FunctionReturned):
        m = event.message
        out = [Frame("assistant_message", event.shown, m.created_at)] if event.shown is not None else []
        out.append(Frame("function_return", _returned(m), m.created_at, {"status": event.status}))
        return out
    if isinstance(event, Agent.TurnFailed):
        return [Frame("internal_error", event.reason, event.timestamp)]
    return []


def turn_of(event: Any) -> Any:
    return getattr(event, "turn_id", None)


def ends_turn(event: Any, turn_id: Any) -> bool:
    return (
        isinstance(event, (Agent.TurnCompleted, Agent.TurnFailed))
        and event.turn_id == turn_id
        or (isinstance(event, Agent.Deleted))
    )
