"""The memory functions' searches over the views, a page (`domain.step.PAGE_SIZE`) at a time:
recall memory (an agent's messages by text or by date) and archival memory (its passages by
embedding distance). The functions themselves, and the query's embedding, are the turn runner's
(`runtime.turns.memories`, `runtime.archival`); here is only what the database is asked.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

import numpy as np
from pgvector.psycopg import register_vector_async
from psycopg import sql
from psycopg.abc import Query
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from domain.step import PAGE_SIZE

INDEXED_DIMS = (384, 1536)  # dimensions with an HNSW index (see migrations/0004_search.sql)

_MESSAGES = sql.Identifier("view_messages")
_NEWEST_FIRST = sql.SQL("{} DESC, {} DESC").format(sql.Identifier("position"), sql.Identifier("seq"))
_OLDEST_FIRST = sql.SQL("{}, {}").format(sql.Identifier("position"), sql.Identifier("seq"))

_MATCHING = sql.SQL(
    "agent_id = %s AND role IN ('user', 'assistant')"
    " AND (tsv @@ websearch_to_tsquery('english', %s) OR content ILIKE %s)"
)
_BETWEEN = sql.SQL(
    "agent_id = %s AND role IN ('user', 'assistant') AND content <> ''"
    " AND (created_at AT TIME ZONE 'UTC')::date BETWEEN %s AND %s"
)


class Found(NamedTuple):
    rows: list[dict[str, Any]]  # one page
    total: int  # how many match in all


def _escape(text: str) -> str:
    """`text` as a literal inside an ILIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _distance(dim: int) -> sql.Composed:
    """Cosine distance to the query vector, over the expression the dimension's index covers
    (an expression the planner matches to the index), else over the bare column."""
    size = sql.Literal(int(dim))
    column = sql.SQL("embedding::vector({})").format(size) if dim in INDEXED_DIMS else sql.SQL("embedding")
    return sql.SQL("{} <=> %s::vector({})").format(column, size)


class Search:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _all(self, query: Query, params: Sequence[Any]) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(query, params)
            return await cur.fetchall()

    async def _messages(self, where: sql.SQL, params: tuple[Any, ...], order: sql.Composable, page: int) -> Found:
        """One page of the messages `where` holds for, and how many there are; past the last page,
        an empty page that still says how many."""
        rows = await self._all(
            sql.SQL("SELECT *, count(*) OVER () AS total FROM {} WHERE {} ORDER BY {} LIMIT %s OFFSET %s").format(
                _MESSAGES, where, order
            ),
            (*params, PAGE_SIZE, page * PAGE_SIZE),
        )
        total = rows[0]["total"] if rows else 0
        if not rows and page:
            counted = await self._all(
                sql.SQL("SELECT count(*) AS total FROM {} WHERE {}").format(_MESSAGES, where), params
            )
            total = counted[0]["total"]
        return Found(rows, total)

    async def messages_matching(self, agent_id: UUID, text: str, page: int) -> Found:
        """The agent's user and assistant messages that match `text`, newest first: full-text
        (stemmed words), or a plain substring as MemGPT did."""
        return await self._messages(_MATCHING, (agent_id, text, f"%{_escape(text)}%"), _NEWEST_FIRST, page)

    async def messages_between(self, agent_id: UUID, start: dt.date, end: dt.date, page: int) -> Found:
        """The agent's non-empty user and assistant messages of those days (UTC), oldest first."""
        return await self._messages(_BETWEEN, (agent_id, start, end), _OLDEST_FIRST, page)

    async def passages_nearest(self, agent_id: UUID, vector: Sequence[float], dim: int, page: int) -> Found:
        """The agent's passages embedded with `dim` dimensions, closest to `vector` first."""
        query = np.array(vector, dtype=np.float32)
        distance = _distance(dim)
        async with self._pool.connection() as conn:
            await register_vector_async(conn)
            async with conn.transaction():
                # An HNSW scan filters after the index: keep scanning until the page is full.
                await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(
                    sql.SQL(
                        "SELECT * FROM (SELECT id, text, created_at, {} AS distance"
                        " FROM view_passages WHERE agent_id = %s AND dim = %s"
                        " ORDER BY {} LIMIT %s OFFSET %s) AS page ORDER BY distance"
                    ).format(distance, distance),
                    (query, agent_id, dim, query, PAGE_SIZE, page * PAGE_SIZE),
                )
                rows = await cur.fetchall()
                counted = await (
                    await conn.execute(
                        "SELECT count(*) FROM view_passages WHERE agent_id = %s AND dim = %s", (agent_id, dim)
                    )
                ).fetchone()
        return Found(rows, counted[0] if counted else 0)
