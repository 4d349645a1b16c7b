"""The passage history: every archival passage an agent had, with the log positions between which
it was there, so the archival listing at a past position is one indexed read.

Its table belongs to the archival view (`projections.passages`), whose rules add these statements
to their own: one runner, one tracking position for both. It keeps what the archival table drops
(deleted passages) and nothing it would need to embed: it answers `at=` reads only. An agent's
deletion drops its rows, as every view does.
"""

from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from domain.agents import Agent
from projections.base import Statement


def inserted(e: Agent.PassagesInserted, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_passage_history (id, agent_id, text, created_at, position, seq)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (p["id"], e.originator_id, p["text"], e.timestamp, position, seq),
        )
        for seq, p in enumerate(e.passages)
    ]


def deleted(e: Agent.PassageDeleted, position: int) -> Statement:
    return (
        "UPDATE view_passage_history SET deleted_position = %s"
        " WHERE id = %s AND agent_id = %s AND deleted_position IS NULL",
        (position, e.passage_id, e.originator_id),
    )


def dropped(e: Agent.Deleted) -> Statement:
    return ("DELETE FROM view_passage_history WHERE agent_id = %s", (e.originator_id,))


_THERE = "agent_id = %(agent)s AND position <= %(at)s AND (deleted_position IS NULL OR deleted_position > %(at)s)"
_FROM = "(SELECT position, seq FROM view_passage_history WHERE id = %(id)s AND agent_id = %(agent)s)"


class PassagesThen:
    """Reads of the view: an agent's passages as they were right after a log position."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def page(
        self, agent_id: UUID, at: int, start: int, limit: int, after: UUID | None, before: UUID | None
    ) -> list[dict[str, Any]]:
        """Oldest first, as the archival listing pages the present: by offset, or after a passage
        id, ending where it reaches `before`."""
        where = [_THERE]
        if after is not None:
            where.append("(position, seq) > " + _FROM.replace("%(id)s", "%(after)s"))
        if before is not None:
            where.append("(position, seq) < " + _FROM.replace("%(id)s", "%(before)s"))
        query = (
            "SELECT id, text, created_at FROM view_passage_history WHERE "
            + " AND ".join(where)
            + " ORDER BY position, seq OFFSET %(start)s LIMIT %(limit)s"
        )
        params = {
            "agent": agent_id,
            "at": at,
            "after": after,
            "before": before,
            "start": 0 if after is not None else start,
            "limit": limit,
        }
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(query, params)  # type: ignore[arg-type]  # composed from constants only
            return await cur.fetchall()
