"""Archival memory: ranked search over passage embeddings, and the loop that embeds passages.

Passages reach the view as text (a projection of `PassagesInserted`); `EmbeddingFiller` then embeds
them outside any request, in batches, one worker per embedding endpoint, and a failure only
delays a passage (it is retried with backoff, and the text stays in the log). Rows are claimed
with `FOR UPDATE SKIP LOCKED` in a short statement, so any number of servers and workers can run
fillers side by side.
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
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from domain.step import PAGE_SIZE
from runtime.adapters.embeddings import EmbedderSource, EmbeddingUnavailable
from runtime.database import UNAVAILABLE

log = structlog.get_logger(__name__)

BATCH = 64
_AWAY_MAX = 2.0
_BACKOFF_MAX = 60.0  # longest pause of one endpoint's worker after failed batches
_CLAIM_MARGIN = 30.0  # a claimed batch becomes due again this long after its call's timeout
INDEXED_DIMS = (384, 1536)  # dimensions with an HNSW index (see migrations/0004_search.sql)


def _vector_expr(dim: int) -> str:
    return f"embedding::vector({dim})" if dim in INDEXED_DIMS else "embedding"


class Archival:
    def __init__(self, pool: AsyncConnectionPool, embedders: EmbedderSource) -> None:
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
    """Embeds passages that have no embedding yet, one worker per embedding endpoint.

    Passages are grouped by their agent's `embedding_config`: each distinct config gets its own
    worker task (up to `concurrency` batches in flight), so a slow or hanging endpoint delays only
    the passages that use it. No transaction spans an HTTP call: a batch is claimed in one short
    statement (its `retry_at` moved past the call's timeout, so other fillers skip it), the
    endpoint is called with a timeout, and the result is written in another short statement.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        embedders: EmbedderSource,
        idle_seconds: float = 0.25,
        timeout: float = 30.0,
        concurrency: int = 2,
    ) -> None:
        self._pool = pool
        self._embedders = embedders
        self._idle = idle_seconds
        self._timeout = timeout
        self._concurrency = max(1, concurrency)
        self._task: asyncio.Task[None] | None = None
        self._workers: dict[bytes, list[asyncio.Task[None]]] = {}
        self._failures: dict[bytes, int] = defaultdict(int)  # consecutive failed batches per endpoint

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="embedding-filler")

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *(w for ws in self._workers.values() for w in ws)] if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        """Starts a worker for every endpoint with due passages and none running."""
        away = 0.0  # while the database is away: seconds to wait before the next try, doubling
        while True:
            try:
                for key in await self._due_configs():
                    running = [w for w in self._workers.get(key, []) if not w.done()]
                    while len(running) < self._concurrency:
                        running.append(asyncio.create_task(self._work(key), name="embedding-worker"))
                    self._workers[key] = running
                self._workers = {k: ws for k, ws in self._workers.items() if any(not w.done() for w in ws)}
                away = 0.0
            except UNAVAILABLE as e:  # its pool reconnects by itself; try again a little later
                away = min(max(away * 2, self._idle), _AWAY_MAX)
                log.warning("embeddings.database_unavailable", error=type(e).__name__, retry_in=away)
                await asyncio.sleep(away)
                continue
            except Exception:  # a failed look-up must not stop the loop; the next tick tries again
                log.exception("embeddings.dispatch_failed")
            await asyncio.sleep(self._idle)

    async def _work(self, key: bytes) -> None:
        """Embeds one endpoint's due passages batch by batch; backs off while the endpoint fails,
        and ends when none is due."""
        try:
            while True:
                filled = await self._fill(key)
                if filled is None:
                    return
                if filled:
                    self._failures.pop(key, None)
                else:
                    self._failures[key] += 1
                    await asyncio.sleep(min(_BACKOFF_MAX, self._idle * 2 ** min(self._failures[key], 12)))
        except UNAVAILABLE as e:  # the dispatcher starts a new worker once the database is back
            log.warning("embeddings.database_unavailable", error=type(e).__name__)
        except Exception:  # a broken batch must not end the filler; its passages are retried later
            log.exception("embeddings.batch_failed")

    async def _due_configs(self) -> list[bytes]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT DISTINCT a.embedding_config FROM view_passages p JOIN view_agents a ON a.id = p.agent_id"
                " WHERE p.embedding IS NULL AND p.retry_at <= now()"
            )
            return [orjson.dumps(row[0], option=orjson.OPT_SORT_KEYS) for row in await cur.fetchall()]

    async def fill_once(self) -> int:
        """One batch for every endpoint with due passages; returns how many got an embedding."""
        filled = 0
        for key in await self._due_configs():
            filled += await self._fill(key) or 0
        return filled

    async def _fill(self, key: bytes) -> int | None:
        """Claim, embed and store one batch of the passages of one embedding config: how many got
        an embedding (0 if the endpoint failed), or None if none was due."""
        config = orjson.loads(key)
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "UPDATE view_passages SET retry_at = now() + make_interval(secs => %s) WHERE id IN ("
                " SELECT p.id FROM view_passages p JOIN view_agents a ON a.id = p.agent_id"
                " WHERE p.embedding IS NULL AND p.retry_at <= now() AND a.embedding_config = %s"
                " ORDER BY p.retry_at, p.id LIMIT %s FOR UPDATE OF p SKIP LOCKED) RETURNING id, text",
                (self._timeout + _CLAIM_MARGIN, Jsonb(config), BATCH),
            )
            batch = await cur.fetchall()
        if not batch:
            return None
        ids = [r["id"] for r in batch]
        try:
            embedder = self._embedders.for_config(config)
            vectors = await asyncio.wait_for(embedder.embed([r["text"] for r in batch]), self._timeout)
        except (EmbeddingUnavailable, TimeoutError) as e:
            error = str(e) or f"The embedding endpoint did not answer within {self._timeout:g} s."
            async with self._pool.connection() as conn:
                await conn.execute(
                    "UPDATE view_passages SET attempts = attempts + 1, last_error = %s,"
                    " retry_at = now() + make_interval(secs => least(300, 2 ^ least(attempts, 8)))"
                    " WHERE id = ANY(%s) AND embedding IS NULL",
                    (error, ids),
                )
            log.warning("embeddings.retry_later", passages=len(batch), error=error)
            return 0
        async with self._pool.connection() as conn:
            await register_vector_async(conn)
            async with conn.transaction():
                await conn.cursor().executemany(
                    "UPDATE view_passages SET embedding = %s, dim = %s, last_error = NULL WHERE id = %s",
                    [(np.array(v, dtype=np.float32), embedder.dim, i) for v, i in zip(vectors, ids, strict=True)],
                )
        return len(batch)
