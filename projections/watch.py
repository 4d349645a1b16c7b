"""Read-your-writes: lets a request wait until every view has applied its own write.

One `LISTEN memgpt_projected` connection per process follows the views' positions (the views'
runner announces the position every view reached when it commits) and wakes the requests waiting
for them. The positions are also re-read every second, so a lost notification only delays, never
blocks.

The connection also tells whether the database is there: while it is lost, `connected` is False
(writes are refused at once instead of waiting on the library's retries), waiters stop waiting,
and it is re-established with a growing back-off.

Waiters for a position wait in a heap, each on a future of its own: a notification releases
those it satisfies, and only those. (An `asyncio.Condition` woke every waiter for every view of
every notification, to check its position again: at 64 agents that was a tenth of the server's
time.)
"""

import asyncio
import heapq
import itertools
from collections.abc import Sequence

import psycopg
import structlog
from psycopg import sql

from projections.base import CHANNEL, EVERY_VIEW, position_of

log = structlog.get_logger(__name__)

_RETRY_FIRST, _RETRY_MAX = 0.25, 1.0  # seconds between attempts to reconnect, doubling
# A database host that crashes sends no reset: the watch would go on trusting the positions it
# heard before (see `_lost`) until TCP gave up, minutes later. Its re-read each second sends data,
# so the connection is dropped once that data goes unacknowledged this long (ms; TCP only).
_UNACKNOWLEDGED_MS = 5000


class ProjectionWatch:
    def __init__(self, dsn: str, views: Sequence[str]) -> None:
        self._dsn = dsn
        self._positions = dict.fromkeys(views, 0)
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # (position, arrival, future)
        self._arrivals = itertools.count()
        self._cancelled = 0  # waiters in the heap that timed out or went away
        self._changed = asyncio.Condition()  # for `wait_beyond`
        self._connected = asyncio.Event()
        self.losses = 0  # how many times the connection was lost: what was read meanwhile may be stale
        self._task: asyncio.Task[None] | None = None

    @property
    def position(self) -> int:
        """The log position that every view has reached."""
        return min(self._positions.values())

    @property
    def connected(self) -> bool:
        """Whether the watch's connection to the database is up."""
        return self._connected.is_set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="projection-watch")
        await self._connected.wait()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait_for(self, position: int, timeout: float) -> bool:
        """True once every view reached `position`; False if `timeout` passed first or the
        database went away meanwhile (the write is saved; only its view is not confirmed)."""
        if self.position >= position or not self.connected:
            return self.position >= position
        reached = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (position, next(self._arrivals), reached))
        try:
            await asyncio.wait_for(reached, timeout)
        except TimeoutError:
            log.warning("projection.lagging", wanted=position, reached=self._positions)
            return False
        finally:
            if reached.cancelled():  # timed out, or its request went away: not released
                self._forget_cancelled()
        return self.position >= position

    def _forget_cancelled(self) -> None:
        """Drop the waiters nobody waits for any more once they are half the heap: while a view
        lags, every write's waiter times out, and they must not pile up until it catches up."""
        self._cancelled += 1
        if 2 * self._cancelled > len(self._waiters):
            self._waiters = [w for w in self._waiters if not w[2].done()]
            heapq.heapify(self._waiters)
            self._cancelled = 0

    def _release(self, everyone: bool = False) -> None:
        """Wake the waiters whose position every view has reached (all of them: `everyone`)."""
        position = self.position
        while self._waiters and (everyone or self._waiters[0][0] <= position):
            reached = heapq.heappop(self._waiters)[2]
            if not reached.done():  # not timed out
                reached.set_result(None)

    def reached(self, view: str) -> int:
        """The log position one view has applied everything up to (as last announced)."""
        return self._positions.get(view, 0)

    async def wait_beyond(self, view: str, position: int, timeout: float) -> bool:
        """True once `view` has applied something after `position`; False after `timeout`."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.reached(view) > position), timeout)
            except TimeoutError:
                return False
        return True

    async def _advance(self, views: Sequence[str], position: int) -> None:
        moved = False
        for view in views:
            if position > self._positions.get(view, position):
                self._positions[view] = position
                moved = True
        if moved:
            self._release()
            async with self._changed:
                self._changed.notify_all()

    async def _lost(self) -> None:
        """The positions are unknown until re-read: the views' commits do not wait for their WAL
        flush, so a database that crashed may come back with views behind what they announced."""
        self._connected.clear()
        self.losses += 1
        self._positions = dict.fromkeys(self._positions, 0)
        self._release(everyone=True)
        async with self._changed:
            self._changed.notify_all()

    async def _follow(self) -> None:
        """Listen; when the connection is lost, connect again with a growing back-off (the
        positions are re-read on connecting, so notifications missed meanwhile do not matter)."""
        delay = _RETRY_FIRST
        while True:
            try:
                connect = psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, tcp_user_timeout=_UNACKNOWLEDGED_MS
                )
                async with await connect as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    await self._reread(conn)
                    if delay > _RETRY_FIRST:
                        log.info("projection.watch_reconnected")
                    self._connected.set()
                    delay = _RETRY_FIRST
                    while True:
                        async for note in conn.notifies(timeout=1.0):
                            view, _, position = note.payload.rpartition(":")
                            await self._advance(list(self._positions) if view == EVERY_VIEW else [view], int(position))
                        await self._reread(conn)
            except psycopg.OperationalError as e:
                await self._lost()
                log.warning("projection.watch_disconnected", error=type(e).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)

    async def _reread(self, conn: psycopg.AsyncConnection) -> None:
        """Take the positions the views have committed, lower ones included (see `_lost`); a
        notification read before is never ahead of them, as the views commit before they notify."""
        views = list(self._positions)
        cur = await conn.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join(map(position_of, views))))
        row = await cur.fetchone()
        assert row is not None  # a SELECT of subqueries always has its one row
        for view, position in zip(views, row, strict=True):
            if position < self._positions[view]:
                self._positions[view] = position
            else:
                await self._advance([view], position)
