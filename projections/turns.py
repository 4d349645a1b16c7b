"""The turns view: each turn of each agent, its status, where the log holds it, its steps and the
tokens its model reported; the list of an agent's turns reads it instead of the agent's log."""

from typing import Any

from domain.agents import Agent
from projections.base import Statement, View, delete

view = View("view_turns")


@view.on(Agent.TurnQueued)
def _(e: Agent.TurnQueued, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_turns (id, agent_id, status, role, queued_at, queued_position, queued_version)"
            " VALUES (%s, %s, 'queued', %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (e.turn_id, e.originator_id, e.role, e.timestamp, position, e.originator_version),
        )
    ]


@view.on(Agent.TurnStarted)
def _(e: Agent.TurnStarted, position: int) -> list[Statement]:
    return [
        (
            "UPDATE view_turns SET status = 'running', started_at = %s, started_position = %s, started_version = %s"
            " WHERE id = %s",
            (e.timestamp, position, e.originator_version, e.turn_id),
        )
    ]


@view.on(Agent.AssistantSpoke)
def _(e: Any, position: int) -> list[Statement]:
    usage = e.usage or {}
    return [
        (
            "UPDATE view_turns SET steps = steps + 1, prompt_tokens = prompt_tokens + %s,"
            " completion_tokens = completion_tokens + %s WHERE id = %s",
            (usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0, e.turn_id),
        )
    ]


def _ended(e: Any, position: int, status: str, failure: str | None) -> list[Statement]:
    return [
        (
            "UPDATE view_turns SET status = %s, failure = %s, ended_at = %s, ended_position = %s, ended_version = %s"
            " WHERE id = %s",
            (status, failure, e.timestamp, position, e.originator_version, e.turn_id),
        )
    ]


@view.on(Agent.TurnCompleted)
def _(e: Agent.TurnCompleted, position: int) -> list[Statement]:
    return _ended(e, position, "completed", None)


@view.on(Agent.TurnFailed)
def _(e: Agent.TurnFailed, position: int) -> list[Statement]:
    return _ended(e, position, "failed", e.reason)


@view.on(Agent.Deleted)
def _(e: Agent.Deleted, position: int) -> list[Statement]:
    return [delete("view_turns", "agent_id", e.originator_id)]
