"""The sources view: data sources, their documents and passages, and their attachments."""

from psycopg.types.json import Jsonb

from domain.sources import Source
from projections.base import Statement, View, delete

view = View(
    "view_sources", ("view_sources", "view_source_documents", "view_source_passages", "view_source_attachments")
)


@view.on(Source.Created)
def _(e: Source.Created, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_sources (id, user_id, name, description, embedding_config, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (e.originator_id, e.user_id, e.name, e.description, Jsonb(e.embedding_config), e.timestamp),
        )
    ]


@view.on(Source.DocumentAdded)
def _(e: Source.DocumentAdded, position: int) -> list[Statement]:
    document: Statement = (
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


@view.on(Source.Attached)
def _(e: Source.Attached, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_source_attachments (source_id, agent_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (e.originator_id, e.agent_id),
        )
    ]


@view.on(Source.Detached)
def _(e: Source.Detached, position: int) -> list[Statement]:
    return [
        (
            "DELETE FROM view_source_attachments WHERE source_id = %s AND agent_id = %s",
            (e.originator_id, e.agent_id),
        )
    ]


@view.on(Source.Deleted)
def _(e: Source.Deleted, position: int) -> list[Statement]:
    return [
        delete(table, column, e.originator_id)
        for table, column in (
            ("view_source_passages", "source_id"),
            ("view_source_documents", "source_id"),
            ("view_source_attachments", "source_id"),
            ("view_sources", "id"),
        )
    ]
