"""Log positions and aggregate versions: which version of an agent a position or a time means.

Clients name a past by its log position (or a time); the store loads an aggregate by version.
Both reads go straight to the log (`memgpt_events`, with the index on (originator_id,
notification_id)), not to a view, so a position just written is known at once.
"""

from datetime import datetime
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

_VERSION_AT = (
    "SELECT originator_version, notification_id FROM memgpt_events"
    " WHERE originator_id = %s AND notification_id <= %s ORDER BY notification_id DESC LIMIT 1"
)
# An event's time lives in its stored state (the library keeps no column for it).
_AT_TIME = (
    "SELECT originator_version, notification_id FROM memgpt_events WHERE originator_id = %s"
    " AND (convert_from(state, 'UTF8')::jsonb #>> '{timestamp,_data_}')::timestamptz <= %s"
    " ORDER BY notification_id DESC LIMIT 1"
)
_POSITION_OF = (
    "SELECT originator_version, notification_id FROM memgpt_events WHERE originator_id = %s AND originator_version = %s"
)
_HEAD = "SELECT coalesce(max(notification_id), 0) FROM memgpt_events"


class Positions:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _version(self, query: str, *params: object) -> tuple[int, int] | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, params)
            row = await cur.fetchone()
        return (int(row[0]), int(row[1])) if row else None

    async def version_at(self, agent_id: UUID, position: int) -> tuple[int, int] | None:
        """The agent's version right after log position `position`, with the position of the
        event that made it; None if the agent did not exist yet."""
        return await self._version(_VERSION_AT, agent_id, position)

    async def version_at_time(self, agent_id: UUID, moment: datetime) -> tuple[int, int] | None:
        """The agent's version as it stood at `moment` (its last event at or before it)."""
        return await self._version(_AT_TIME, agent_id, moment)

    async def position_of(self, agent_id: UUID, version: int) -> int | None:
        found = await self._version(_POSITION_OF, agent_id, version)
        return found[1] if found else None

    async def head(self) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_HEAD)
            row = await cur.fetchone()
        return int(row[0]) if row else 0
