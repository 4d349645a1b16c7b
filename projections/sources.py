"""The sources view: data sources, their documents and passages, and their attachments."""

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg.types.json import Jsonb

from domain.sources import Source
from projections.base import Statement, View, ViewRecorder


class SourcesRecorder(ViewRecorder):
    view_name = "view_sources"


class SourcesView(View):
    name = "view_sources"
    tables = ("view_sources", "view_source_documents", "view_source_passages", "view_source_attachments")

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.record(tracking, self.statements(domain_event, tracking.notification_id))

    @singledispatchmethod
    def statements(self, domain_event: object, position: int) -> list[Statement]:
        return []

    @statements.register
    def _(self, e: Source.Created, position: int) -> list[Statement]:
        return [
            (
                "INSERT INTO view_sources (id, user_id, name, description, embedding_config, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (e.originator_id, e.user_id, e.name, e.description, Jsonb(e.embedding_config), e.timestamp),
            )
        ]

    @statements.register
    def _(self, e: Source.DocumentAdded, position: int) -> list[Statement]:
        document = (
            "INSERT INTO view_source_documents (id, source_id, filename, passages, created_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (e.document_id, e.originator_id, e.filename, len(e.passages), e.timestamp),
        )
        return [document] + [
            (
                "INSERT INTO view_source_passages (id, source_id, document_id, text, created_at, position, seq)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (p["id"], e.originator_id, e.document_id, p["text"], e.timestamp, position, seq),
            )
            for seq, p in enumerate(e.passages)
        ]

    @statements.register
    def _(self, e: Source.Attached, position: int) -> list[Statement]:
        return [
            (
                "INSERT INTO view_source_attachments (source_id, agent_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (e.originator_id, e.agent_id),
            )
        ]

    @statements.register
    def _(self, e: Source.Detached, position: int) -> list[Statement]:
        return [
            (
                "DELETE FROM view_source_attachments WHERE source_id = %s AND agent_id = %s",
                (e.originator_id, e.agent_id),
            )
        ]

    @statements.register
    def _(self, e: Source.Deleted, position: int) -> list[Statement]:
        return [
            (f"DELETE FROM {table} WHERE {column} = %s", (e.originator_id,))  # noqa: S608
            for table, column in (
                ("view_source_passages", "source_id"),
                ("view_source_documents", "source_id"),
                ("view_source_attachments", "source_id"),
                ("view_sources", "id"),
            )
        ]
