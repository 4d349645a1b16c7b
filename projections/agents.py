"""The agents view: everything `GET /api/agents` and the agent config routes return, plus the
turn bookkeeping a runner sweep looks for."""

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from psycopg.types.json import Jsonb

from domain.agents import Agent
from projections.base import Statement, View, ViewRecorder


class AgentsRecorder(ViewRecorder):
    view_name = "view_agents"


def _append(agent_id: Any, *message_ids: Any) -> Statement:
    return (
        "UPDATE view_agents SET message_ids = message_ids || %s WHERE id = %s",
        (Jsonb([str(i) for i in message_ids]), agent_id),
    )


class AgentsView(View):
    name = "view_agents"
    tables = ("view_agents",)

    @singledispatchmethod
    def statements(self, domain_event: object) -> list[Statement]:
        return []

    @statements.register
    def _(self, e: Agent.Created) -> list[Statement]:
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

    @statements.register
    def _(self, e: Agent.Renamed) -> list[Statement]:
        return [("UPDATE view_agents SET name = %s WHERE id = %s", (e.name, e.originator_id))]

    @statements.register
    def _(self, e: Agent.CoreMemoryReplaced) -> list[Statement]:
        return [("UPDATE view_agents SET core_memory = %s WHERE id = %s", (Jsonb(e.core_memory), e.originator_id))]

    @statements.register
    def _(self, e: Agent.Deleted) -> list[Statement]:
        return [("DELETE FROM view_agents WHERE id = %s", (e.originator_id,))]

    @statements.register
    def _(self, e: Agent.TurnQueued) -> list[Statement]:
        return [("UPDATE view_agents SET queued_turns = queued_turns + 1 WHERE id = %s", (e.originator_id,))]

    @statements.register
    def _(self, e: Agent.TurnStarted) -> list[Statement]:
        rows = [
            (
                "UPDATE view_agents SET queued_turns = greatest(queued_turns - 1, 0), turn_open = true WHERE id = %s",
                (e.originator_id,),
            )
        ]
        return rows + ([_append(e.originator_id, e.message.id)] if e.message else [])

    @statements.register
    def _(self, e: Agent.TurnCompleted) -> list[Statement]:
        return [("UPDATE view_agents SET turn_open = false WHERE id = %s", (e.originator_id,))]

    @statements.register
    def _(self, e: Agent.TurnFailed) -> list[Statement]:
        # A failed turn was either running (closes it) or still queued (leaves the queue).
        return [
            (
                "UPDATE view_agents SET queued_turns = CASE WHEN turn_open THEN queued_turns"
                " ELSE greatest(queued_turns - 1, 0) END, turn_open = false WHERE id = %s",
                (e.originator_id,),
            )
        ]

    @statements.register
    def _(self, e: Agent.AssistantSpoke) -> list[Statement]:
        return [_append(e.originator_id, e.message.id)]

    @statements.register
    def _(self, e: Agent.FunctionReturned) -> list[Statement]:
        return [_append(e.originator_id, e.message.id)]

    @statements.register
    def _(self, e: Agent.HeartbeatSent) -> list[Statement]:
        return [_append(e.originator_id, e.message.id)]

    @statements.register
    def _(self, e: Agent.MemoryWarned) -> list[Statement]:
        return [_append(e.originator_id, e.message.id)]

    @statements.register
    def _(self, e: Agent.ContextSummarized) -> list[Statement]:
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

    @statements.register
    def _(self, e: Agent.MessagesPopped) -> list[Statement]:
        popped = Jsonb([str(i) for i in e.ids])
        return [
            (
                "UPDATE view_agents SET message_ids = coalesce((SELECT jsonb_agg(x ORDER BY n)"
                " FROM jsonb_array_elements(message_ids) WITH ORDINALITY AS t(x, n)"
                " WHERE NOT %s @> jsonb_build_array(x)), '[]'::jsonb) WHERE id = %s",
                (popped, e.originator_id),
            )
        ]
