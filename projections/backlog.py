"""What is waiting, read for /metrics when it is scraped: how far each view trails the log, and
how many turns are queued. One statement, so that a scrape costs one round trip; the log's head is
its last notification id (the primary key), a view's position its tracking row, and the queued
turns come from the agents view's partial index of agents with work."""

from dataclasses import dataclass

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from projections.base import position_of
from projections.runner import VIEW_NAMES


@dataclass(frozen=True)
class Backlog:
    head: int  # the log's last position
    positions: dict[str, int]  # the position each view has applied the log up to
    queued_turns: int  # turns waiting in every agent's queue, as the agents view has them


_READ = sql.SQL(
    "SELECT (SELECT coalesce(max(notification_id), 0) FROM memgpt_events),"
    " (SELECT coalesce(sum(queued_turns), 0) FROM view_agents WHERE queued_turns > 0 OR turn_open), {}"
).format(sql.SQL(", ").join(position_of(name) for name in VIEW_NAMES))


class Backlogs:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def read(self) -> Backlog:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_READ)
            row = await cur.fetchone()
        assert row is not None  # a SELECT of subqueries always has its one row
        head, queued, *positions = row
        return Backlog(int(head), dict(zip(VIEW_NAMES, map(int, positions), strict=True)), int(queued))
