"""The archival view: each agent's passages."""

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking

from domain.agents import Agent
from projections.base import Statement, View, ViewRecorder


class PassagesRecorder(ViewRecorder):
    view_name = "view_passages"


class PassagesView(View):
    name = "view_passages"
    tables = ("view_passages",)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.record(tracking, self.statements(domain_event, tracking.notification_id))

    @singledispatchmethod
    def statements(self, domain_event: object, position: int) -> list[Statement]:
        return []

    @statements.register
    def _(self, e: Agent.PassagesInserted, position: int) -> list[Statement]:
        return [
            (
                "INSERT INTO view_passages (id, agent_id, text, created_at, position, seq) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                (p["id"], e.originator_id, p["text"], e.timestamp, position, seq),
            )
            for seq, p in enumerate(e.passages)
        ]

    @statements.register
    def _(self, e: Agent.PassageDeleted, position: int) -> list[Statement]:
        return [("DELETE FROM view_passages WHERE id = %s AND agent_id = %s", (e.passage_id, e.originator_id))]

    @statements.register
    def _(self, e: Agent.Deleted, position: int) -> list[Statement]:
        return [("DELETE FROM view_passages WHERE agent_id = %s", (e.originator_id,))]
