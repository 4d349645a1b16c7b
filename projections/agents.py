"""The agents view: everything `GET /api/agents` and the agent config routes return."""

from eventsourcing.dispatch import singledispatchmethod
from psycopg.types.json import Jsonb

from domain.agents import Agent
from projections.base import Statement, View, ViewRecorder


class AgentsRecorder(ViewRecorder):
    view_name = "view_agents"


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
                    e.originator_id, e.user_id, e.name, e.preset, e.persona_name, e.human_name, e.system,
                    Jsonb(e.functions), Jsonb(e.core_memory), Jsonb(e.llm_config),
                    Jsonb(e.embedding_config), Jsonb([]), e.timestamp,
                ),
            )
        ]

    @statements.register
    def _(self, e: Agent.Renamed) -> list[Statement]:
        return [("UPDATE view_agents SET name = %s WHERE id = %s", (e.name, e.originator_id))]

    @statements.register
    def _(self, e: Agent.CoreMemoryReplaced) -> list[Statement]:
        return [
            ("UPDATE view_agents SET core_memory = %s WHERE id = %s", (Jsonb(e.core_memory), e.originator_id))
        ]

    @statements.register
    def _(self, e: Agent.Deleted) -> list[Statement]:
        return [("DELETE FROM view_agents WHERE id = %s", (e.originator_id,))]
