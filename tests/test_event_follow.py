"""Following the event history across a database crash that lost the index's last commits (they
are not flushed before they are announced): every event is still sent once, in log order."""

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from projections.event_history import EventFilter, Recorded
from runtime.event_follow import HistoryFollower
from runtime.tail import Subscription

HEAD = 1200  # the log holds events 1..1200, all of them in the index before the crash
KEPT = 700  # what the index holds when the database comes back


def _recorded(position: int) -> Recorded:
    return Recorded(position, "Agent.Touched", 1, datetime.now(UTC), uuid4(), None, None, None, None, None, None)


class _Index:
    """The index, and the watch's word on it. `crash()`: the database comes back with the index
    at `KEPT`, the watch having lost its connection meanwhile; waiting for the index lets the
    views apply the rest again from the log."""

    def __init__(self, crash_in_page: int | None) -> None:
        self.holds = self.announced = HEAD
        self.losses = 0
        self._crash_in_page = crash_in_page
        self._pages = 0

    def crash(self) -> None:
        self.losses, self.holds, self.announced = self.losses + 1, KEPT, KEPT

    def reached(self, view: str) -> int:
        return self.announced

    async def wait_beyond(self, view: str, position: int, timeout: float) -> bool:
        self.holds = self.announced = HEAD
        return True

    async def page(self, where: EventFilter, after: int, limit: int, upto: int | None = None) -> list[Recorded]:
        self._pages += 1
        if self._pages == self._crash_in_page:
            self.crash()  # the read runs once the database is back
        last = min(self.holds, HEAD if upto is None else upto)
        return [_recorded(p) for p in range(after + 1, last + 1)][:limit]


class _Tail:
    def subscribe(self, agent_id: object) -> Subscription:
        return Subscription(None, HEAD)

    def unsubscribe(self, sub: Subscription) -> None:
        pass


@pytest.mark.parametrize(
    "crash_in_page, crash_after_sending",
    [(1, None), (2, None), (None, 500)],
    ids=["while reading the first page", "while reading the second", "while the client reads"],
)
def test_events_the_index_lost_in_a_crash_are_sent_once_it_has_them_again(
    crash_in_page: int | None, crash_after_sending: int | None
) -> None:
    async def follow() -> list[int]:
        index = _Index(crash_in_page)
        follower = HistoryFollower(index, _Tail(), index)  # type: ignore[arg-type]
        sent: list[int] = []
        stream = follower.follow(EventFilter(), 0, idle=0.05)
        async for recorded in stream:
            if recorded is None:  # idle: everything there was has been sent
                break
            sent.append(recorded.position)
            if recorded.position == crash_after_sending:
                index.crash()
        await stream.aclose()
        return sent

    assert asyncio.run(follow()) == list(range(1, HEAD + 1))
