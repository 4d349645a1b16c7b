"""The archival view: each agent's passages."""

from eventsourcing.dispatch import singledispatchmethod

from domain.agents import Agent
from projections.base import Statement, View, ViewRecorder


class PassagesRecorder(ViewRecorder):
    view_name = "view_passages"


class PassagesView(View):
    name = "view_passages"
    tables = ("view_passages",)

    @singledispatchmethod
    def statements(self, domain_event: object) -> list[Statement]:
        return []

    @statements.register
    def _(self, e: Agent.PassagesInserted) -> list[Statement]:
        return [
            (
                "INSERT INTO view_passages (id, agent_id, text, created_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                (p["id"], e.originator_id, p["text"], e.timestamp),
            )
            for p in e.passages
        ]

    @statements.register
    def _(self, e: Agent.PassageDeleted) -> list[Statement]:
        return [("DELETE FROM view_passages WHERE id = %s AND agent_id = %s", (e.passage_id, e.originator_id))]

    @statements.register
    def _(self, e: Agent.Deleted) -> list[Statement]:
        return [("DELETE FROM view_passages WHERE agent_id = %s", (e.originator_id,))]
