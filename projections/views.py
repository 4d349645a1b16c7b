"""Plain SQL reads over the views: the read side of the API, apart from the write side."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True)
class KeyRecord:
    key_id: UUID
    user_id: UUID


class Views:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _all(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(sql, params)
            return await cur.fetchall()

    async def _one(self, sql: str, *params: Any) -> dict[str, Any] | None:
        rows = await self._all(sql, *params)
        return rows[0] if rows else None

    async def user_ids(self) -> list[UUID]:
        rows = await self._all("SELECT user_id FROM view_users ORDER BY created_at, user_id")
        return [r["user_id"] for r in rows]

    async def user_exists(self, user_id: UUID) -> bool:
        return await self._one("SELECT 1 FROM view_users WHERE user_id = %s", user_id) is not None

    async def key(self, digest: str) -> KeyRecord | None:
        row = await self._one("SELECT key_id, user_id FROM view_keys WHERE key_digest = %s", digest)
        return KeyRecord(row["key_id"], row["user_id"]) if row else None

    async def masked_keys(self, user_id: UUID) -> list[str]:
        rows = await self._all("SELECT masked FROM view_keys WHERE user_id = %s ORDER BY created_at, key_id", user_id)
        return [r["masked"] for r in rows]

    async def agents(self, user_id: UUID) -> list[dict[str, Any]]:
        return await self._all("SELECT * FROM view_agents WHERE user_id = %s ORDER BY created_at, id", user_id)

    async def agent(self, user_id: UUID, agent_id: UUID) -> dict[str, Any] | None:
        """An agent of this user; another user's agent reads exactly like a missing one."""
        return await self._one("SELECT * FROM view_agents WHERE id = %s AND user_id = %s", agent_id, user_id)

    async def messages(self, agent_id: UUID, start: int, count: int) -> list[dict[str, Any]]:
        """A page of an agent's message history, newest first."""
        return await self._all(
            "SELECT * FROM view_messages WHERE agent_id = %s ORDER BY position DESC, seq DESC LIMIT %s OFFSET %s",
            agent_id,
            count,
            start,
        )

    async def message_counts(self, agent_id: UUID) -> dict[str, int]:
        rows = await self._all(
            "SELECT role, count(*) AS n FROM view_messages WHERE agent_id = %s GROUP BY role", agent_id
        )
        return {r["role"]: r["n"] for r in rows}

    async def passage_count(self, agent_id: UUID) -> int:
        row = await self._one("SELECT count(*) AS n FROM view_passages WHERE agent_id = %s", agent_id)
        return row["n"] if row else 0

    async def passage(self, agent_id: UUID, passage_id: UUID) -> dict[str, Any] | None:
        return await self._one("SELECT id FROM view_passages WHERE agent_id = %s AND id = %s", agent_id, passage_id)

    async def passages(
        self, agent_id: UUID, start: int, limit: int, after: UUID | None = None, before: UUID | None = None
    ) -> list[dict[str, Any]]:
        """A page of an agent's passages, oldest first: by offset, or after/before a passage id."""
        columns = "id, text, created_at"
        if before is not None:
            rows = await self._all(
                f"SELECT {columns} FROM view_passages WHERE agent_id = %s AND (position, seq) <"  # noqa: S608
                " (SELECT position, seq FROM view_passages WHERE id = %s) ORDER BY position DESC, seq DESC LIMIT %s",
                agent_id,
                before,
                limit,
            )
            return rows[::-1]
        if after is not None:
            return await self._all(
                f"SELECT {columns} FROM view_passages WHERE agent_id = %s AND (position, seq) >"  # noqa: S608
                " (SELECT position, seq FROM view_passages WHERE id = %s) ORDER BY position, seq LIMIT %s",
                agent_id,
                after,
                limit,
            )
        return await self._all(
            f"SELECT {columns} FROM view_passages WHERE agent_id = %s ORDER BY position, seq LIMIT %s OFFSET %s",  # noqa: S608
            agent_id,
            limit,
            start,
        )

    async def catalogue(self, user_id: UUID, kind: str) -> list[dict[str, Any]]:
        """A user's own humans, personas or presets, oldest first."""
        return await self._all(
            "SELECT name, body FROM view_catalogue WHERE user_id = %s AND kind = %s ORDER BY created_at, name",
            user_id,
            kind,
        )
