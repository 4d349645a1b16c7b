"""Read-your-writes waits: a request waiting for the views to reach its write is woken once they
have, not before, and not at all past its timeout; the views' runner is played here by NOTIFYs."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import psycopg
import pytest
from psycopg import sql

import migrations
from projections.base import CHANNEL, EVERY_VIEW, tracking_table
from projections.runner import VIEW_NAMES
from projections.watch import ProjectionWatch
from tests.support import fresh_database


@pytest.fixture
def dsn(admin_dsn: str) -> str:
    dsn = fresh_database(admin_dsn)
    migrations.apply(dsn)
    return dsn


def _watching(dsn: str, scenario: Callable[[ProjectionWatch], Awaitable[None]]) -> None:
    """Run `scenario` against a started watch on `dsn`, in an event loop of its own."""

    async def run() -> None:
        watch = ProjectionWatch(dsn, VIEW_NAMES)
        await watch.start()
        try:
            await scenario(watch)
        finally:
            await watch.stop()

    asyncio.run(run())


def _announce(dsn: str, payload: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))


def test_waiters_wake_when_every_view_reaches_their_position_and_only_then(dsn: str) -> None:
    async def scenario(watch: ProjectionWatch) -> None:
        early = [asyncio.create_task(watch.wait_for(p, 5.0)) for p in range(1, 201)]
        late = asyncio.create_task(watch.wait_for(300, 5.0))
        await asyncio.sleep(0.05)
        first, *others = VIEW_NAMES
        await asyncio.to_thread(_announce, dsn, f"{first}:250")  # one view only: nobody is there yet
        await asyncio.sleep(0.2)
        assert not any(t.done() for t in [*early, late])
        started = time.monotonic()
        await asyncio.to_thread(_announce, dsn, f"{EVERY_VIEW}:250")
        assert all(await asyncio.gather(*early))
        assert time.monotonic() - started < 2.0 and not late.done()
        assert await watch.wait_for(250, 0.01)  # already there: no wait
        assert not await watch.wait_for(251, 0.1)  # not there within its timeout
        await asyncio.to_thread(_announce, dsn, f"{EVERY_VIEW}:300")
        assert await late

    _watching(dsn, scenario)


def test_waits_that_time_out_while_the_views_lag_do_not_pile_up(dsn: str) -> None:
    """While a view lags, every write's wait times out (or its client goes away); thousands of
    them must not stay held until the views catch up, and a later wait is still woken."""

    async def scenario(watch: ProjectionWatch) -> None:
        timed_out = await asyncio.gather(*(watch.wait_for(10_000 + n, 0.05) for n in range(2000)))
        assert not any(timed_out)
        gone = [asyncio.create_task(watch.wait_for(20_000 + n, 30.0)) for n in range(2000)]
        await asyncio.sleep(0.05)
        for task in gone:
            task.cancel()
        await asyncio.gather(*gone, return_exceptions=True)
        assert len(watch._waiters) < 100  # what is still held for them
        later = asyncio.create_task(watch.wait_for(5, 5.0))
        await asyncio.to_thread(_announce, dsn, f"{EVERY_VIEW}:5")
        assert await later

    _watching(dsn, scenario)


def _track_every_view(dsn: str, position: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for view in VIEW_NAMES:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (application_name, notification_id) VALUES ('memgpt', %s)"
                    " ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id"
                ).format(tracking_table(view)),
                (position,),
            )


def _crash_with_views_at(dsn: str, position: int) -> None:
    """What a database crash does to the watch: its connection goes, and the views come back
    without their last commits (they do not wait for the WAL flush), so behind what they announced."""
    _track_every_view(dsn, position)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def test_after_losing_the_database_the_positions_are_those_it_comes_back_with(dsn: str) -> None:
    async def scenario(watch: ProjectionWatch) -> None:
        await asyncio.to_thread(_track_every_view, dsn, 250)
        await asyncio.to_thread(_announce, dsn, f"{EVERY_VIEW}:250")
        assert await watch.wait_for(250, 5.0)
        await asyncio.to_thread(_crash_with_views_at, dsn, 100)
        for _ in range(100):
            await asyncio.sleep(0.05)
            if watch.losses and watch.connected:
                break
        assert watch.losses == 1 and watch.connected
        assert watch.position == 100
        assert not await watch.wait_for(250, 0.2)  # not there until the views apply it again
        await asyncio.to_thread(_announce, dsn, f"{EVERY_VIEW}:250")
        assert await watch.wait_for(250, 5.0)

    _watching(dsn, scenario)
