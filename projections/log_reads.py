"""Reads of the log in position order: the views' catch-up and the log tail's.

They are planned on every call, never prepared. How many events lie after a position depends on
how far it is behind the log's head, which a generic plan cannot know: PostgreSQL caches one from
a prepared statement's sixth run on, and one cached while the log was small (a fresh database)
sorts a sequential scan of the whole table on every later read, until the next ANALYZE. In a
fresh benchmark database that was ~0.9 whole-log scans a turn (issue 14's third round).
"""

from typing import Any
from uuid import UUID

import psycopg

Row = tuple[Any, ...]  # notification_id, originator_id, originator_version, topic, state

BATCH = 500  # events a read returns at most: fewer means it reached the log's head
_COLUMNS = "SELECT notification_id, originator_id, originator_version, topic, state FROM memgpt_events"
_AFTER = f"{_COLUMNS} WHERE notification_id > %s ORDER BY notification_id LIMIT {BATCH}"
_OF_AGENT = (
    f"{_COLUMNS} WHERE originator_id = %s AND notification_id > %s AND notification_id <= %s"
    f" ORDER BY notification_id LIMIT {BATCH}"
)


def after(conn: psycopg.Connection[Any], position: int) -> list[Row]:
    """The next batch of events after `position`, in log order."""
    return conn.execute(_AFTER, (position,), prepare=False).fetchall()


async def after_async(conn: psycopg.AsyncConnection[Any], position: int) -> list[Row]:
    cur = await conn.execute(_AFTER, (position,), prepare=False)
    return await cur.fetchall()


async def of_agent(conn: psycopg.AsyncConnection[Any], agent_id: UUID, after: int, upto: int) -> list[Row]:
    """The next batch of one agent's events in (after, upto], in log order."""
    cur = await conn.execute(_OF_AGENT, (agent_id, after, upto), prepare=False)
    return await cur.fetchall()
