"""Following the event history: the events matching a filter after a position, then each new
one as it is written, with no gap and no duplicate between the two.

The history is read from the event index (`projections.events`), which holds every event up to
the position it has applied; `ProjectionWatch` says what that position is, and the log tail says
where the log's head is (and when the server is going away). The follower subscribes to the tail
before it reads anything, reads the index up to what it has applied, and then, each time the log
grows, reads again from the last position it read to the index's new position: every position
is read once, so an event is sent once, and in log order. After a database crash the index may
hold less than it did (its last commits were not flushed): the follower waits until it holds more
than was sent, as the events it lost come back to it unchanged from the log.
"""

from collections.abc import AsyncIterator

from projections.event_history import EventFilter, EventHistory, Recorded
from projections.events import view as event_index
from projections.watch import ProjectionWatch
from runtime.tail import CLOSED, LogTail

KEEPALIVE_SECONDS = 15.0
_BATCH = 500
_TICK = 1.0  # seconds between looks at the tail while waiting for the index
INDEX = event_index.name


class HistoryFollower:
    def __init__(self, history: EventHistory, tail: LogTail, watch: ProjectionWatch) -> None:
        self._history = history
        self._tail = tail
        self._watch = watch

    async def page(self, where: EventFilter, after: int, limit: int) -> list[Recorded]:
        return await self._history.page(where, after, limit)

    async def follow(
        self, where: EventFilter, after: int, idle: float = KEEPALIVE_SECONDS
    ) -> AsyncIterator[Recorded | None]:
        """The matching events after `after`, then live ones; None after `idle` seconds without
        one (a keep-alive). Ends when the server closes its streams."""
        sub = self._tail.subscribe(None)
        try:
            seen, head, quiet = after, sub.start, 0.0
            while True:
                while True:  # page what the index holds past `seen`: every event up to `reached`
                    losses, reached = self._watch.losses, self._watch.reached(INDEX)
                    if reached <= seen:
                        break
                    batch = await self._history.page(where, seen, _BATCH, upto=reached)
                    if self._watch.losses != losses:  # the database went away meanwhile, and may
                        continue  # have come back with less than `reached` (`ProjectionWatch._lost`)
                    for recorded in batch:
                        quiet = 0.0
                        yield recorded
                    seen = batch[-1].position if len(batch) == _BATCH else reached
                while not sub.queue.empty():  # what the log has gained meanwhile
                    position, _ = sub.queue.get_nowait()
                    if (position, _) == CLOSED:
                        return
                    head = max(head, position)
                if seen < head:  # written, not indexed yet: wait for the index (a second at a time,
                    # so that a closing server is noticed at once)
                    if not await self._watch.wait_beyond(INDEX, seen, _TICK):
                        quiet += _TICK
                        if quiet >= idle:
                            quiet = 0.0
                            yield None
                    continue
                try:
                    position, _ = await sub.next(idle)
                except TimeoutError:
                    yield None
                    continue
                if (position, _) == CLOSED:
                    return
                head = max(head, position)
        finally:
            self._tail.unsubscribe(sub)
