"""Following the event history across a database crash that lost the index's last commits (they
are not flushed before they are announced): every event is still sent once, in log order."""

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

from projections.event_history import EventFilter, Recorded
from runtime.event_follow import HistoryFollower
from runtime.tail import Subscription

_HEAD = 10  # the log holds events 1..10, all of them applied to the index before the crash


def _recorded(position: int) -> Recorded:
    return Recorded(position, "Agent.Touched", 1, datetime.now(UTC), uuid4(), None, None, None, None, None, None)


class _Index:
    """The index and the watch's word on it. The first read meets the crash: it runs once the
    database is back, with only 1..5 left in the index, the watch having lost its connection
    meanwhile; waiting for the index lets the views apply 6..10 again from the log."""

    def __init__(self) -> None:
        self.holds = self.announced = _HEAD
        self.losses = 0

    def reached(self, view: str) -> int:
        return self.announced

    async def wait_beyond(self, view: str, position: int, timeout: float) -> bool:
        self.holds = self.announced = _HEAD
        return True

    async def page(self, where: EventFilter, after: int, limit: int, upto: int | None = None) -> list[Recorded]:
        if not self.losses:
            self.losses, self.holds, self.announced = 1, 5, 5
        last = min(self.holds, _HEAD if upto is None else upto)
        return [_recorded(p) for p in range(after + 1, last + 1)][:limit]


class _Tail:
    def subscribe(self, agent_id: object) -> Subscription:
        return Subscription(None, _HEAD)

    def unsubscribe(self, sub: Subscription) -> None:
        pass


def test_events_the_index_lost_in_a_crash_are_sent_once_it_has_them_again() -> None:
    async def follow() -> list[int]:
        index = _Index()
        follower = HistoryFollower(index, _Tail(), index)  # type: ignore[arg-type]
        sent: list[int] = []
        stream = follower.follow(EventFilter(), 0, idle=0.05)
        async for recorded in stream:
            if recorded is None:  # idle: everything there was has been sent
                break
            sent.append(recorded.position)
        await stream.aclose()
        return sent

    assert asyncio.run(follow()) == list(range(1, _HEAD + 1))
