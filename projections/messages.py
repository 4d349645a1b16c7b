"""The messages view: every message of every agent, in log order — recall memory and history."""

from typing import Any

from psycopg.types.json import Jsonb

from domain.agents import Agent
from domain.messages import Message, plain_text
from projections.base import Statement, View

view = View("view_messages")


def _insert(agent_id: Any, message: Message, position: int, seq: int = 0) -> Statement:
    return (
        "INSERT INTO view_messages"
        " (id, agent_id, role, text, content, name, tool_call, tool_call_id, created_at, position, seq)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (
            message.id,
            agent_id,
            message.role,
            message.text,
            plain_text(message),
            message.name,
            Jsonb(message.to_dict()["tool_call"]) if message.tool_call else None,
            message.tool_call_id,
            message.created_at,
            position,
            seq,
        ),
    )


@view.on(Agent.Created)
def _(e: Agent.Created, position: int) -> list[Statement]:
    """A fork brings its source's whole recall history (its context among it), in order."""
    brought = getattr(e, "history", None) or e.messages
    return [_insert(e.originator_id, m, position, seq) for seq, m in enumerate(brought)]


@view.on(Agent.TurnStarted)
def _(e: Agent.TurnStarted, position: int) -> list[Statement]:
    return [_insert(e.originator_id, e.message, position)] if e.message else []


@view.on(Agent.AssistantSpoke, Agent.FunctionReturned, Agent.HeartbeatSent, Agent.MemoryWarned)
def _(e: Any, position: int) -> list[Statement]:
    return [_insert(e.originator_id, e.message, position)]


@view.on(Agent.ContextSummarized)
def _(e: Agent.ContextSummarized, position: int) -> list[Statement]:
    return [_insert(e.originator_id, e.summary, position)]


def _rewrite(m: Message) -> Statement:
    return (
        "UPDATE view_messages SET text = %s, content = %s, tool_call = %s WHERE id = %s",
        (m.text, plain_text(m), Jsonb(m.to_dict()["tool_call"]) if m.tool_call else None, m.id),
    )


@view.on(Agent.MessageRewritten)
def _(e: Agent.MessageRewritten, position: int) -> list[Statement]:
    return [_rewrite(e.message)]


@view.on(Agent.Reverted)
def _(e: Agent.Reverted, position: int) -> list[Statement]:
    """Restored messages are back with the texts they had then (a later /rewrite undone)."""
    return [_rewrite(m) for m in e.messages or []]


@view.on(Agent.Deleted)
def _(e: Agent.Deleted, position: int) -> list[Statement]:
    return [("DELETE FROM view_messages WHERE agent_id = %s", (e.originator_id,))]
