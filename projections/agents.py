"""The agents view: everything `GET /api/agents` and the agent config routes return, plus the
turn bookkeeping a runner sweep looks for. The ids of an agent's messages in context are rows of
`view_agent_context`, in `seq` order, so that a message adds a row instead of rewriting a list."""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.agents import Agent
from projections.base import Statement, View

view = View("view_agents", ("view_agents", "view_agent_context"))

_APPEND = (
    "INSERT INTO view_agent_context (agent_id, seq, message_id)"
    " SELECT a.id, coalesce((SELECT max(seq) FROM view_agent_context WHERE agent_id = a.id), -1) + 1, %s"
    " FROM view_agents a WHERE a.id = %s"
)
# The summary goes after the first message (the system message), before the first one kept.
_SUMMARY = (
    "INSERT INTO view_agent_context (agent_id, seq, message_id)"
    " SELECT %(agent)s, (f.seq + coalesce((SELECT min(seq) FROM view_agent_context"
    " WHERE agent_id = %(agent)s AND seq > f.seq), f.seq + 2)) / 2, %(summary)s"
    " FROM (SELECT min(seq) AS seq FROM view_agent_context WHERE agent_id = %(agent)s) f WHERE f.seq IS NOT NULL"
)


def _append(agent_id: UUID, message_id: UUID) -> Statement:
    """The message last in the agent's context (nothing if the agent is gone)."""
    return _APPEND, (message_id, agent_id)


def _context(agent_id: UUID, message_ids: Iterable[UUID]) -> Statement:
    """The agent's whole context, in order, where it has none."""
    return (
        "INSERT INTO view_agent_context (agent_id, seq, message_id)"
        " SELECT %s, n - 1, id FROM unnest(%s::uuid[]) WITH ORDINALITY AS t(id, n) ON CONFLICT DO NOTHING",
        (agent_id, list(message_ids)),
    )


def _dropped(agent_id: UUID, message_ids: Iterable[UUID] | None = None) -> Statement:
    """These messages out of the agent's context; all of them without `message_ids`."""
    if message_ids is None:
        return "DELETE FROM view_agent_context WHERE agent_id = %s", (agent_id,)
    return (
        "DELETE FROM view_agent_context WHERE agent_id = %s AND message_id = ANY(%s::uuid[])",
        (agent_id, list(message_ids)),
    )


@view.on(Agent.Created)
def _(e: Agent.Created, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_agents (id, user_id, name, preset, persona_name, human_name, system,"
            " functions, core_memory, llm_config, embedding_config, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
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
                e.timestamp,
            ),
        ),
        _context(e.originator_id, (m.id for m in e.messages)),
    ]


@view.on(Agent.Renamed)
def _(e: Agent.Renamed, position: int) -> list[Statement]:
    return [("UPDATE view_agents SET name = %s WHERE id = %s", (e.name, e.originator_id))]


@view.on(Agent.CoreMemoryReplaced)
def _(e: Agent.CoreMemoryReplaced, position: int) -> list[Statement]:
    return [("UPDATE view_agents SET core_memory = %s WHERE id = %s", (Jsonb(e.core_memory), e.originator_id))]


@view.on(Agent.Deleted)
def _(e: Agent.Deleted, position: int) -> list[Statement]:
    return [("DELETE FROM view_agents WHERE id = %s", (e.originator_id,)), _dropped(e.originator_id)]


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
    """As the agent does: the first message, the summary, then the rest less the hidden ones."""
    agent = e.originator_id
    return [
        (
            "DELETE FROM view_agent_context WHERE agent_id = %s AND message_id = ANY(%s::uuid[])"
            " AND seq > (SELECT min(seq) FROM view_agent_context WHERE agent_id = %s)",
            (agent, list(e.hidden), agent),
        ),
        (_SUMMARY, {"agent": agent, "summary": e.summary.id}),
    ]


@view.on(Agent.MessagesPopped)
def _(e: Agent.MessagesPopped, position: int) -> list[Statement]:
    return [_dropped(e.originator_id, e.ids)]


@view.on(Agent.Reverted)
def _(e: Agent.Reverted, position: int) -> list[Statement]:
    statements: list[Statement] = []
    if e.core_memory is not None:
        statements.append(
            ("UPDATE view_agents SET core_memory = %s WHERE id = %s", (Jsonb(e.core_memory), e.originator_id))
        )
    if e.messages is not None:
        statements += [_dropped(e.originator_id), _context(e.originator_id, (m.id for m in e.messages))]
    return statements
