"""Archival memory: ranked search over passage embeddings, and the loop that embeds passages.

Passages reach the view as text (a projection of `PassagesInserted`); `EmbeddingFiller` then embeds
them outside any request, in batches, one worker per embedding endpoint, and a failure only
delays a passage (it is retried with backoff, and the text stays in the log). Rows are claimed
with `FOR UPDATE SKIP LOCKED` in a short statement, so any number of servers and workers can run
fillers side by side. What is asked of the database is the passages view's
(`projections.search`, `projections.passages.EmbeddingQueue`); calling the endpoints is here.
"""

import asyncio
import time
from collections import defaultdict
from typing import Any
from uuid import UUID

import orjson
import structlog

from projections.passages import EmbeddingQueue
from projections.search import Found, Search
from runtime.adapters.embeddings import EmbedderSource, EmbeddingUnavailable
from runtime.database import UNAVAILABLE

log = structlog.get_logger(__name__)

BATCH = 64
_AWAY_MAX = 2.0
_BACKOFF_MAX = 60.0  # longest pause of one endpoint's worker after failed batches
_CLAIM_MARGIN = 30.0  # a claimed batch becomes due again this long after its call's timeout


class Archival:
    def __init__(self, search: Search, queue: EmbeddingQueue, embedders: EmbedderSource) -> None:
        self._search = search
        self._queue = queue
        self._embedders = embedders

    async def search(self, agent_id: UUID, config: dict[str, Any], query: str, page: int) -> Found:
        """A page of the agent's passages closest in meaning to `query`, and how many there are."""
        embedder = self._embedders.for_config(config)
        [values] = await embedder.embed([query])
        return await self._search.passages_nearest(agent_id, values, embedder.dim, page)

    async def waiting(self, agent_id: UUID | None = None) -> int:
        """How many passages (of one agent, or all) wait for their embedding."""
        return await self._queue.waiting(agent_id)

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
        queue: EmbeddingQueue,
        embedders: EmbedderSource,
        idle_seconds: float = 0.25,
        timeout: float = 30.0,
        concurrency: int = 2,
    ) -> None:
        self._queue = queue
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
        """The embedding configs with due passages, each as its key (its JSON, keys sorted)."""
        return [orjson.dumps(config, option=orjson.OPT_SORT_KEYS) for config in await self._queue.due_configs()]

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
        batch = await self._queue.claim(config, self._timeout + _CLAIM_MARGIN, BATCH)
        if not batch:
            return None
        ids = [r["id"] for r in batch]
        try:
            embedder = self._embedders.for_config(config)
            vectors = await asyncio.wait_for(embedder.embed([r["text"] for r in batch]), self._timeout)
        except (EmbeddingUnavailable, TimeoutError) as e:
            error = str(e) or f"The embedding endpoint did not answer within {self._timeout:g} s."
            await self._queue.retry_later(ids, error)
            log.warning("embeddings.retry_later", passages=len(batch), error=error)
            return 0
        await self._queue.fill(ids, vectors, embedder.dim)
        return len(batch)
