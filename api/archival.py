"""Archival memory: ranked search over passage embeddings, and the loop that embeds passages.

Passages reach the view as text (a projection of `PassagesInserted`); `EmbeddingFiller` then embeds
them outside any request, in batches, and a failure only delays a passage (it is retried with
backoff, and the text stays in the log). Rows are claimed with `FOR UPDATE SKIP LOCKED`, so any
number of servers and workers can run fillers side by side.
"""

import asyncio
import time
from collections import defaultdict
from typing import Any
from uuid import UUID

import numpy as np
import orjson
import structlog
from pgvector.psycopg import register_vector_async
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.database import UNAVAILABLE
from api.embeddings import Embedders, EmbeddingUnavailable
from domain.step import PAGE_SIZE

log = structlog.get_logger(__name__)

BATCH = 64
_AWAY_MAX = 2.0
INDEXED_DIMS = (384, 1536)  # dimensions with an HNSW index (see migrations/0004_search.sql)


def _vector_expr(dim: int) -> str:
    return f"embedding::vector({dim})" if dim in INDEXED_DIMS else "embedding"


class Archival:
    def __init__(self, pool: AsyncConnectionPool, embedders: Embedders) -> None:
        self._pool = pool
        self._embedders = embedders

    async def search(
        self, agent_id: UUID, config: dict[str, Any], query: str, page: int
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the agent's passages closest in meaning to `query`, and how many there are."""
        embedder = self._embedders.for_config(config)
        [values] = await embedder.embed([query])
        vector = np.array(values, dtype=np.float32)
        dim = embedder.dim
        column = _vector_expr(dim)
        async with self._pool.connection() as conn:
            await register_vector_async(conn)
            async with conn.transaction():
                # An HNSW scan filters after the index: keep scanning until the page is full.
                await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(
                    f"SELECT * FROM (SELECT id, text, created_at, {column} <=> %s::vector({dim}) AS distance"  # noqa: S608
                    " FROM view_passages WHERE agent_id = %s AND dim = %s"
                    f" ORDER BY {column} <=> %s::vector({dim}) LIMIT %s OFFSET %s) AS page ORDER BY distance",
                    (vector, agent_id, dim, vector, PAGE_SIZE, page * PAGE_SIZE),
                )
                rows = await cur.fetchall()
                counted = await (
                    await conn.execute(
                        "SELECT count(*) FROM view_passages WHERE agent_id = %s AND dim = %s", (agent_id, dim)
                    )
                ).fetchone()
        return rows, counted[0] if counted else 0

    async def waiting(self, agent_id: UUID | None = None) -> int:
        """How many passages (of one agent, or all) wait for their embedding."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM view_passages WHERE embedding IS NULL AND (%s::uuid IS NULL OR agent_id = %s)",
                (agent_id, agent_id),
            )
            row = await cur.fetchone()
        return row[0] if row else 0

    async def settled(self, agent_id: UUID, timeout: float = 10.0) -> None:
        """Wait (up to `timeout`) until none of the agent's passages waits for its embedding."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and await self.waiting(agent_id):
            await asyncio.sleep(0.02)


class EmbeddingFiller:
    """Embeds passages that have no embedding yet; idles on a short poll of a partial index."""

    def __init__(self, pool: AsyncConnectionPool, embedders: Embedders, idle_seconds: float = 0.25) -> None:
        self._pool = pool
        self._embedders = embedders
        self._idle = idle_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="embedding-filler")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        away = 0.0  # while the database is away: seconds to wait before the next try, doubling
        while True:
            try:
                done = await self.fill_once()
                away = 0.0
            except UNAVAILABLE as e:  # its pool reconnects by itself; try again a little later
                away = min(max(away * 2, self._idle), _AWAY_MAX)
                log.warning("embeddings.database_unavailable", error=type(e).__name__, retry_in=away)
                await asyncio.sleep(away)
                continue
            except Exception:  # a broken batch must not stop the loop; it is retried later
                log.exception("embeddings.batch_failed")
                done = 0
            if not done:
                await asyncio.sleep(self._idle)

    async def fill_once(self) -> int:
        """Embed one batch of waiting passages; returns how many got an embedding."""
        async with self._pool.connection() as conn:
            await register_vector_async(conn)
            async with conn.transaction():
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(
                    "SELECT p.id, p.text, p.attempts, a.embedding_config FROM view_passages p"
                    " JOIN view_agents a ON a.id = p.agent_id"
                    " WHERE p.embedding IS NULL AND p.retry_at <= now()"
                    " ORDER BY p.retry_at, p.id LIMIT %s FOR UPDATE OF p SKIP LOCKED",
                    (BATCH,),
                )
                rows = await cur.fetchall()
                groups: dict[bytes, list[dict[str, Any]]] = defaultdict(list)
                for row in rows:
                    groups[orjson.dumps(row["embedding_config"], option=orjson.OPT_SORT_KEYS)].append(row)
                filled = 0
                for key, batch in groups.items():
                    config = orjson.loads(key)
                    try:
                        embedder = self._embedders.for_config(config)
                        vectors = await embedder.embed([r["text"] for r in batch])
                    except EmbeddingUnavailable as e:
                        await conn.execute(
                            "UPDATE view_passages SET attempts = attempts + 1, last_error = %s,"
                            " retry_at = now() + make_interval(secs => least(300, 2 ^ least(attempts, 8)))"
                            " WHERE id = ANY(%s)",
                            (str(e), [r["id"] for r in batch]),
                        )
                        log.warning("embeddings.retry_later", passages=len(batch), error=str(e))
                        continue
                    await cur.executemany(
                        "UPDATE view_passages SET embedding = %s, dim = %s, last_error = NULL WHERE id = %s",
                        [
                            (np.array(v, dtype=np.float32), embedder.dim, r["id"])
                            for v, r in zip(vectors, batch, strict=True)
                        ],
                    )
                    filled += len(batch)
                return filled
