"""The agents view: everything `GET /api/agents` and the agent config routes return, plus the
turn bookkeeping a runner sweep looks for."""

from typing import Any

from psycopg.types.json import Jsonb

from domain.agents import Agent
from projections.base import Statement, View

view = View("view_agents")


def _append(agent_id: Any, *message_ids: Any) -> Statement:
    return (
        "UPDATE view_agents SET message_ids = message_ids || %s WHERE id = %s",
        (Jsonb([str(i) for i in message_ids]), agent_id),
    )


@view.on(Agent.Created)
def _(e: Agent.Created, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_agents (id, user_id, name, preset, persona_name, human_name, system,"
            " functions, core_memory, llm_config, embedding_config, message_ids, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (
                e.originator_id,
                e.user_id,
                e.name,
                e.preset,
                e.persona_name,
                e.human_name,
                e.system,
                Jsonb(e.functions),
                Jsonb(e.core_memory),
                Jsonb(e.llm_config),
                Jsonb(e.embedding_config),
                Jsonb([str(m.id) for m in e.messages]),
                e.timestamp,
            ),
        )
    ]


@view.on(Agent.Renamed)
def _(e: Agent.Renamed, position: int) -> list[Statement]:
    return [("UPDATE view_agents SET name = %s WHERE id = %s", (e.name, e.originator_id))]


@view.on(Agent.CoreMemoryReplaced)
def _(e: Agent.CoreMemoryReplaced, position: int) -> list[Statement]:
    return [("UPDATE view_agents SET core_memory = %s WHERE id = %s", (Jsonb(e.core_memory), e.originator_id))]


@view.on(Agent.Deleted)
def _(e: Agent.Deleted, position: int) -> list[Statement]:
    return [("DELETE FROM view_agents WHERE id = %s", (e.originator_id,))]


@view.on(Agent.TurnQueued)
def _(e: Agent.TurnQueued, position: int) -> list[Statement]:
    return [("UPDATE view_agents SET queued_turns = queued_turns + 1 WHERE id = %s", (e.originator_id,))]


@view.on(Agent.TurnStarted)
def _(e: Agent.TurnStarted, position: int) -> list[Statement]:
    rows: list[Statement] = [
        (
            "UPDATE view_agents SET queued_turns = greatest(queued_turns - 1, 0), turn_open = true WHERE id = %s",
            (e.originator_id,),
        )
    ]
    return rows + ([_append(e.originator_id, e.message.id)] if e.message else [])


@view.on(Agent.TurnCompleted)
def _(e: Agent.TurnCompleted, position: int) -> list[Statement]:
    return [("UPDATE view_agents SET turn_open = false WHERE id = %s", (e.originator_id,))]


@view.on(Agent.TurnFailed)
def _(e: Agent.TurnFailed, position: int) -> list[Statement]:
    # A failed turn was either running (closes it) or still queued (leaves the queue).
    return [
        (
            "UPDATE view_agents SET queued_turns = CASE WHEN turn_open THEN queued_turns"
            " ELSE greatest(queued_turns - 1, 0) END, turn_open = false WHERE id = %s",
            (e.originator_id,),
        )
    ]


@view.on(Agent.AssistantSpoke, Agent.FunctionReturned, Agent.HeartbeatSent, Agent.MemoryWarned)
def _(e: Any, position: int) -> list[Statement]:
    return [_append(e.originator_id, e.message.id)]


@view.on(Agent.ContextSummarized)
def _(e: Agent.ContextSummarized, position: int) -> list[Statement]:
    hidden = Jsonb([str(i) for i in e.hidden])
    return [
        (
            "UPDATE view_agents SET message_ids = jsonb_build_array(message_ids->0, %s::text)"
            " || coalesce((SELECT jsonb_agg(x ORDER BY n) FROM jsonb_array_elements(message_ids)"
            " WITH ORDINALITY AS t(x, n) WHERE n > 1 AND NOT %s @> jsonb_build_array(x)), '[]'::jsonb)"
            " WHERE id = %s",
            (str(e.summary.id), hidden, e.originator_id),
        )
    ]


@view.on(Agent.MessagesPopped)
def _(e: Agent.MessagesPopped, position: int) -> list[Statement]:
    popped = Jsonb([str(i) for i in e.ids])
    return [
        (
            "UPDATE view_agents SET message_ids = coalesce((SELECT jsonb_agg(x ORDER BY n)"
            " FROM jsonb_array_elements(message_ids) WITH ORDINALITY AS t(x, n)"
            " WHERE NOT %s @> jsonb_build_array(x)), '[]'::jsonb) WHERE id = %s",
            (popped, e.originator_id),
        )
    ]


@view.on(Agent.Reverted)
def _(e: Agent.Reverted, position: int) -> list[Statement]:
    statements: list[Statement] = []
    if e.core_memory is not None:
        statements.append(
            ("UPDATE view_agents SET core_memory = %s WHERE id = %s", (Jsonb(e.core_memory), e.originator_id))
        )
    if e.messages is not None:
        ids = Jsonb([str(m.id) for m in e.messages])
        statements.append(("UPDATE view_agents SET message_ids = %s WHERE id = %s", (ids, e.originator_id)))
    return statements
