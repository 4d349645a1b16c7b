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

    async def _page(
        self,
        table: str,
        key: str,
        order: str,
        where: str,
        params: tuple[Any, ...],
        after: Any = None,
        before: Any = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
        columns: str = "*",
    ) -> list[dict[str, Any]]:
        """Keyset paging in `order`: the rows just later than (`after`) or just earlier than
        (`before`) the row whose `key` is given, or from the start; returned oldest first, or
        newest first with `newest_first`. The cursor row is looked up within `where` too, so an
        id of someone else's row pages like an unknown id (nothing), never revealing its place."""
        sql = f"SELECT {columns} FROM {table} WHERE {where}"  # noqa: S608 - table and columns are ours
        args: list[Any] = list(params)
        if after is not None or before is not None:
            cursor = f"SELECT {order} FROM {table} WHERE {key} = %s AND {where}"  # noqa: S608
            sql += f" AND ({order}) {'>' if after is not None else '<'} ({cursor})"
            args += [after if after is not None else before, *params]
            direction = "ASC" if after is not None else "DESC"
        else:
            direction = "DESC" if newest_first else "ASC"
        ordering = ", ".join(f"{column} {direction}" for column in order.split(", "))
        rows = await self._all(f"{sql} ORDER BY {ordering} LIMIT %s OFFSET %s", *args, limit or 1_000_000, offset)
        return rows if direction == ("DESC" if newest_first else "ASC") else rows[::-1]

    async def user_ids(self, after: UUID | None = None, limit: int | None = None) -> list[UUID]:
        rows = await self._page("view_users", "user_id", "created_at, user_id", "true", (), after, None, limit)
        return [r["user_id"] for r in rows]

    async def user_exists(self, user_id: UUID) -> bool:
        return await self._one("SELECT 1 FROM view_users WHERE user_id = %s", user_id) is not None

    async def key(self, digest: str) -> KeyRecord | None:
        """The key of that digest, unless the log already revokes it or deletes its user (or has
        begun to): the keys view may lag its log, a revocation must not (a user's events are few)."""
        row = await self._one(
            "SELECT key_id, user_id FROM view_keys k WHERE key_digest = %s AND NOT EXISTS ("
            " SELECT 1 FROM memgpt_events e WHERE e.originator_id = k.user_id"
            " AND e.topic IN ('memgpt.User.DeletionBegun', 'memgpt.User.Deleted', 'memgpt.User.KeyRevoked')"
            " AND (e.topic <> 'memgpt.User.KeyRevoked'"
            "  OR convert_from(e.state, 'UTF8')::jsonb #>> '{key_id,_data_}' = replace(k.key_id::text, '-', '')))",
            digest,
        )
        return KeyRecord(row["key_id"], row["user_id"]) if row else None

    async def masked_keys(self, user_id: UUID) -> list[str]:
        rows = await self._all("SELECT masked FROM view_keys WHERE user_id = %s ORDER BY created_at, key_id", user_id)
        return [r["masked"] for r in rows]

    async def agents(self, user_id: UUID, after: UUID | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        return await self._page("view_agents", "id", "created_at, id", "user_id = %s", (user_id,), after, None, limit)

    async def agent_named(self, user_id: UUID, name: str | None) -> dict[str, Any] | None:
        """The user's agent of that name (or id, as text); with no name, their oldest agent."""
        if name is None:
            rows = await self.agents(user_id, limit=1)
            return rows[0] if rows else None
        return await self._one(
            "SELECT * FROM view_agents WHERE user_id = %s AND (name = %s OR id::text = %s) ORDER BY created_at LIMIT 1",
            user_id,
            name,
            name,
        )

    async def agent_count(self, user_id: UUID) -> int:
        row = await self._one("SELECT count(*) AS n FROM view_agents WHERE user_id = %s", user_id)
        return row["n"] if row else 0

    async def agent(self, user_id: UUID, agent_id: UUID) -> dict[str, Any] | None:
        """An agent of this user; another user's agent reads exactly like a missing one."""
        return await self._one("SELECT * FROM view_agents WHERE id = %s AND user_id = %s", agent_id, user_id)

    async def messages(
        self, agent_id: UUID, start: int, count: int, after: UUID | None = None, before: UUID | None = None
    ) -> list[dict[str, Any]]:
        """A page of an agent's message history, newest first: by offset, or newer than `after` /
        older than `before` (a message id)."""
        return await self._page(
            "view_messages",
            "id",
            "position, seq",
            "agent_id = %s",
            (agent_id,),
            after,
            before,
            count,
            start,
            newest_first=True,
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
        return await self._page(
            "view_passages",
            "id",
            "position, seq",
            "agent_id = %s",
            (agent_id,),
            after,
            before,
            limit,
            start,
            columns="id, text, created_at",
        )

    async def catalogue(self, user_id: UUID, kind: str) -> list[dict[str, Any]]:
        """A user's own humans, personas or presets, oldest first."""
        return await self._all(
            "SELECT name, body FROM view_catalogue WHERE user_id = %s AND kind = %s ORDER BY created_at, name",
            user_id,
            kind,
        )

    # the OpenAI-Assistants-compatible surface

    async def assistants(
        self, user_id: UUID, after: UUID | None, before: UUID | None, limit: int, newest_first: bool
    ) -> list[dict[str, Any]]:
        return await self._page(
            "view_assistants",
            "id",
            "created_at, id",
            "user_id = %s",
            (user_id,),
            after,
            before,
            limit,
            newest_first=newest_first,
        )

    async def assistant(self, user_id: UUID, assistant_id: UUID) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM view_assistants WHERE id = %s AND user_id = %s", assistant_id, user_id)

    async def thread(self, user_id: UUID, thread_id: UUID) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM view_threads WHERE id = %s AND user_id = %s", thread_id, user_id)

    async def thread_messages(
        self, thread_id: UUID, after: UUID | None, before: UUID | None, limit: int, newest_first: bool
    ) -> list[dict[str, Any]]:
        return await self._page(
            "view_thread_messages",
            "id",
            "position, seq",
            "thread_id = %s",
            (thread_id,),
            after,
            before,
            limit,
            newest_first=newest_first,
        )

    async def thread_message(self, thread_id: UUID, message_id: UUID) -> dict[str, Any] | None:
        return await self._one(
            "SELECT * FROM view_thread_messages WHERE id = %s AND thread_id = %s", message_id, thread_id
        )

    async def runs(
        self, thread_id: UUID, after: UUID | None, before: UUID | None, limit: int, newest_first: bool
    ) -> list[dict[str, Any]]:
        return await self._page(
            "view_runs",
            "id",
            "created_at, id",
            "thread_id = %s",
            (thread_id,),
            after,
            before,
            limit,
            newest_first=newest_first,
        )

    async def run(self, thread_id: UUID, run_id: UUID) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM view_runs WHERE id = %s AND thread_id = %s", run_id, thread_id)

    # data sources

    async def sources(self, user_id: UUID, after: UUID | None, limit: int | None) -> list[dict[str, Any]]:
        return await self._page("view_sources", "id", "created_at, id", "user_id = %s", (user_id,), after, None, limit)

    async def source(
        self, user_id: UUID, source_id: UUID | None = None, name: str | None = None
    ) -> dict[str, Any] | None:
        if source_id is not None:
            return await self._one("SELECT * FROM view_sources WHERE user_id = %s AND id = %s", user_id, source_id)
        return await self._one(
            "SELECT * FROM view_sources WHERE user_id = %s AND name = %s ORDER BY created_at LIMIT 1", user_id, name
        )

    async def source_documents(self, source_id: UUID, after: UUID | None, limit: int | None) -> list[dict[str, Any]]:
        return await self._page(
            "view_source_documents", "id", "created_at, id", "source_id = %s", (source_id,), after, None, limit
        )

    async def source_passages(self, source_id: UUID, after: UUID | None, limit: int | None) -> list[dict[str, Any]]:
        return await self._page(
            "view_source_passages", "id", "position, seq", "source_id = %s", (source_id,), after, None, limit
        )

    async def attached_sources(self, agent_id: UUID) -> list[str]:
        rows = await self._all(
            "SELECT s.name FROM view_source_attachments a JOIN view_sources s ON s.id = a.source_id"
            " WHERE a.agent_id = %s ORDER BY s.created_at, s.id",
            agent_id,
        )
        return [r["name"] for r in rows]

    async def last_message_at(self, agent_id: UUID) -> Any:
        row = await self._one("SELECT max(created_at) AS at FROM view_messages WHERE agent_id = %s", agent_id)
        return row["at"] if row else None
