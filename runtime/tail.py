"""The log tail: one `LISTEN memgpt_events` connection per process, fanned out to subscribers.

Streams, non-streamed replies and the turn runner all follow the log through this one tail
instead of a connection (or a poll) each. A subscriber first reads what it missed from the
table, then takes live events from its queue; positions make the hand-over exact.
"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
import structlog
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg_pool import AsyncConnectionPool

from projections import log_reads

log = structlog.get_logger(__name__)

CHANNEL = "memgpt_events"
CLOSED = (-1, None)  # put on a subscriber's queue when the server is going away
_RETRY_FIRST, _RETRY_MAX = 0.25, 1.0  # seconds between attempts to reconnect, doubling


@dataclass(eq=False)
class Subscription:
    agent_id: UUID | None  # None: every agent
    start: int  # the tail's position when it subscribed: the queue holds everything after it
    queue: asyncio.Queue[tuple[int, Any]] = field(default_factory=asyncio.Queue)

    async def next(self, idle: float) -> tuple[int, Any]:
        """The next (position, event); TimeoutError after `idle` seconds without one. Not
        `asyncio.wait_for`, which makes a task for every event it waits for."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        async with asyncio.timeout(idle):
            return await self.queue.get()


class LogTail:
    def __init__(self, dsn: str, pool: AsyncConnectionPool, mapper: Mapper[UUID]) -> None:
        self._dsn = dsn
        self._pool = pool
        self._mapper = mapper
        self._subscribers: set[Subscription] = set()
        self._position = 0
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="log-tail")
        await self._ready.wait()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def position(self) -> int:
        """The log position of the last event delivered to subscribers (at start: the log's head)."""
        return self._position

    def subscribe(self, agent_id: UUID | None) -> Subscription:
        sub = Subscription(agent_id, self._position)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def close_subscribers(self) -> None:
        for sub in self._subscribers:
            sub.queue.put_nowait(CLOSED)

    async def events(self, agent_id: UUID, after: int, idle: float) -> AsyncIterator[tuple[int, Any] | None]:
        """The agent's events after log position `after`, as they come; None after `idle`
        seconds without one (so a stream can send a keep-alive and notice a gone client)."""
        sub = self.subscribe(agent_id)
        try:
            seen = after
            while seen < sub.start:
                backlog = await self._read(seen, sub.start, agent_id)
                for position, event in backlog:
                    seen = position
                    yield position, event
                if len(backlog) < log_reads.BATCH:
                    break
            while True:
                try:
                    position, event = await sub.next(idle)
                except TimeoutError:
                    yield None
                    continue
                if (position, event) == CLOSED:
                    return
                if position > seen:
                    seen = position
                    yield position, event
        finally:
            self.unsubscribe(sub)

    async def _read(self, after: int, upto: int, agent_id: UUID) -> list[tuple[int, Any]]:
        async with self._pool.connection() as conn:
            rows = await log_reads.of_agent(conn, agent_id, after, upto)
        return [(row[0], self._decode(row)) for row in rows]

    async def event_at(self, agent_id: UUID, position: int) -> Any:
        """The agent's event at one log position, or None."""
        found = await self._read(position - 1, position, agent_id)
        return found[0][1] if found else None

    def _decode(self, row: tuple[Any, ...]) -> Any:
        return self._mapper.to_domain_event(StoredEvent(row[1], row[2], row[3], bytes(row[4])))

    def _publish(self, position: int, event: Any) -> None:
        self._position = position
        for sub in self._subscribers:
            if sub.agent_id is None or sub.agent_id == event.originator_id:
                sub.queue.put_nowait((position, event))

    async def _follow(self) -> None:
        """Listen, and read every event after the last one published. When the connection is
        lost, connect again with a growing back-off; the first read after that starts from the
        last published position, so events saved while the tail was away are not skipped."""
        delay = _RETRY_FIRST
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if not self._ready.is_set():
                        row = await (
                            await conn.execute("SELECT coalesce(max(notification_id), 0) FROM memgpt_events")
                        ).fetchone()
                        self._position = row[0] if row else 0
                        self._ready.set()
                    elif delay > _RETRY_FIRST:
                        log.info("tail.reconnected", position=self._position)
                    delay = _RETRY_FIRST
                    while True:
                        await self._catch_up(conn)
                        async for _ in conn.notifies(timeout=1.0, stop_after=1):
                            pass
            except psycopg.OperationalError as e:
                log.warning("tail.disconnected", error=type(e).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)

    async def _catch_up(self, conn: psycopg.AsyncConnection) -> None:
        while True:
            rows = await log_reads.after_async(conn, self._position)
            for row in rows:
                self._publish(row[0], self._decode(row))
            if len(rows) < log_reads.BATCH:
                return
