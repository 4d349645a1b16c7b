"""The archival view: each agent's passages, and the queue of those waiting for an embedding.

A passage's row comes from the log (the rules below); its embedding comes later, from the
embedding filler (`runtime.archival`), which calls the endpoint and hands the vectors to
`EmbeddingQueue`. The queue's columns (`embedding`, `dim`, `retry_at`, `attempts`,
`last_error`) are this view's, so the statements that claim and fill them live here with the
rest of its SQL; a rebuild empties them with the rows, and the filler embeds the passages again.
"""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import numpy as np
from pgvector.psycopg import register_vector_async
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from domain.agents import Agent
from projections import passage_history
from projections.base import Statement, View

view = View("view_passages", ("view_passages", "view_passage_history"))


@view.on(Agent.PassagesInserted)
def _(e: Agent.PassagesInserted, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_passages (id, agent_id, text, created_at, position, seq) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (p["id"], e.originator_id, p["text"], e.timestamp, position, seq),
        )
        for seq, p in enumerate(e.passages)
    ] + passage_history.inserted(e, position)


@view.on(Agent.PassageDeleted)
def _(e: Agent.PassageDeleted, position: int) -> list[Statement]:
    return [
        ("DELETE FROM view_passages WHERE id = %s AND agent_id = %s", (e.passage_id, e.originator_id)),
        passage_history.deleted(e, position),
    ]


@view.on(Agent.Deleted)
def _(e: Agent.Deleted, position: int) -> list[Statement]:
    return [("DELETE FROM view_passages WHERE agent_id = %s", (e.originator_id,)), passage_history.dropped(e)]


class EmbeddingQueue:
    """The passages without an embedding, each due at its `retry_at`. Every statement is short
    and none spans an endpoint's call: a batch is claimed by moving its `retry_at` past the call
    (`FOR UPDATE SKIP LOCKED`, so fillers side by side take different passages), and is either
    filled or given a later retry afterwards."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def waiting(self, agent_id: UUID | None = None) -> int:
        """How many passages (of one agent, or all) wait for their embedding."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM view_passages WHERE embedding IS NULL AND (%s::uuid IS NULL OR agent_id = %s)",
                (agent_id, agent_id),
            )
            row = await cur.fetchone()
        return row[0] if row else 0

    async def due_configs(self) -> list[dict[str, Any]]:
        """The embedding configs (of the passages' agents) that have passages due now."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT DISTINCT a.embedding_config FROM view_passages p JOIN view_agents a ON a.id = p.agent_id"
                " WHERE p.embedding IS NULL AND p.retry_at <= now()"
            )
            return [row[0] for row in await cur.fetchall()]

    async def claim(self, config: dict[str, Any], hold_seconds: float, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` due passages (`id`, `text`) of agents with this embedding config, earliest
        due first, none due again for `hold_seconds` (unless filled, they are then retried)."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "UPDATE view_passages SET retry_at = now() + make_interval(secs => %s) WHERE id IN ("
                " SELECT p.id FROM view_passages p JOIN view_agents a ON a.id = p.agent_id"
                " WHERE p.embedding IS NULL AND p.retry_at <= now() AND a.embedding_config = %s"
                " ORDER BY p.retry_at, p.id LIMIT %s FOR UPDATE OF p SKIP LOCKED) RETURNING id, text",
                (hold_seconds, Jsonb(config), limit),
            )
            return await cur.fetchall()

    async def retry_later(self, ids: Sequence[UUID], error: str) -> None:
        """Records a failed attempt on the passages still unfilled; each is due again after a
        back-off that doubles with its attempts (at most five minutes)."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE view_passages SET attempts = attempts + 1, last_error = %s,"
                " retry_at = now() + make_interval(secs => least(300, 2 ^ least(attempts, 8)))"
                " WHERE id = ANY(%s) AND embedding IS NULL",
                (error, list(ids)),
            )

    async def fill(self, ids: Sequence[UUID], vectors: Sequence[Sequence[float]], dim: int) -> None:
        """Stores each passage's embedding (`dim` dimensions), all of them or none."""
        async with self._pool.connection() as conn:
            await register_vector_async(conn)
            async with conn.transaction():
                await conn.cursor().executemany(
                    "UPDATE view_passages SET embedding = %s, dim = %s, last_error = NULL WHERE id = %s",
                    [(np.array(v, dtype=np.float32), dim, i) for v, i in zip(vectors, ids, strict=True)],
                )
