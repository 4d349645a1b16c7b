"""Plain SQL reads over the views: the read side of the API and of the turn runner, apart from
the write side. (The memory functions' searches are in `projections.search`.)"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.abc import Query
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from projections.base import position_of
from projections.runner import VIEW_NAMES

INT64_MAX = 2**63 - 1
_BY_TIME = ("created_at", "id")  # the order of rows made by commands: when, then which
_BY_LOG = ("position", "seq")  # the order of rows made from events: their log position, then their place in it
_TURN_ORDER = ("queued_position", "id")


@dataclass(frozen=True)
class KeyRecord:
    key_id: UUID
    user_id: UUID
    turns: tuple[int, int]  # the user's running and queued turns, read with the key (`turns_of`)


@dataclass(frozen=True)
class Readiness:
    head: int  # the log's last position
    applied: list[int]  # the versions of the migrations the database has, in order
    slowest: int  # the position of the view furthest behind


# One statement, so that /ready costs one round trip; the views are ours, named in VIEW_NAMES.
_READINESS = sql.SQL(
    "SELECT (SELECT coalesce(max(notification_id), 0) FROM memgpt_events) AS head,"
    " (SELECT coalesce(array_agg(version ORDER BY version), '{{}}') FROM schema_migrations) AS applied,"
    " (SELECT min(position) FROM ({}) AS tracking(position)) AS slowest"
).format(sql.SQL(" UNION ALL ").join(sql.SQL("SELECT {}").format(position_of(name)) for name in VIEW_NAMES))


# Read from the user's busy agents only (an index holds them): a tenant with many idle agents must
# not make each of its messages read all of them.
_BUSY = (
    "SELECT count(*) FILTER (WHERE turn_open) AS running, coalesce(sum(queued_turns), 0) AS queued"
    " FROM view_agents WHERE user_id = {} AND (queued_turns > 0 OR turn_open)"
)
TURNS_OF = _BUSY.format("%s")
# A key, unless the log already revokes it or deletes its user (or has begun to); with its user's
# turn counts, which a message is checked against before it is queued: one read, not two.
_KEY = (
    "SELECT k.key_id, k.user_id, t.running, t.queued FROM view_keys k, LATERAL ("
    + _BUSY.format("k.user_id")
    + ") t WHERE k.key_digest = %s AND NOT EXISTS ("
    " SELECT 1 FROM memgpt_events e WHERE e.originator_id = k.user_id"
    " AND e.topic IN ('memgpt.User.DeletionBegun', 'memgpt.User.Deleted', 'memgpt.User.KeyRevoked')"
    " AND (e.topic <> 'memgpt.User.KeyRevoked'"
    "  OR convert_from(e.state, 'UTF8')::jsonb #>> '{key_id,_data_}' = replace(k.key_id::text, '-', '')))"
)


_AGENT = "SELECT * FROM view_agents WHERE id = %s AND user_id = %s"
_AGENT_WITH_CONTEXT = (
    "SELECT a.*, (SELECT coalesce(jsonb_agg(c.message_id ORDER BY c.seq), '[]')"
    " FROM view_agent_context c WHERE c.agent_id = a.id) AS message_ids"
    " FROM view_agents a WHERE a.id = %s AND a.user_id = %s"
)


class Views:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _all(self, query: Query, *params: Any) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(query, params)
            return await cur.fetchall()

    async def _one(self, query: Query, *params: Any) -> dict[str, Any] | None:
        rows = await self._all(query, *params)
        return rows[0] if rows else None

    async def _page(
        self,
        table: str,
        key: str,
        order: tuple[str, ...],
        where: Mapping[str, Any],
        after: Any = None,
        before: Any = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
        columns: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """Keyset paging in `order`: the rows just later than (`after`) or just earlier than
        (`before`) the row whose `key` is given, or from the start; returned oldest first, or
        newest first with `newest_first`. `where` holds the values some columns must equal (the
        page's owner); the cursor row is looked up within it too, so an id of someone else's row
        pages like an unknown id (nothing), never revealing its place."""
        relation = sql.Identifier(table)
        scope = (
            sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in where)
            if where
            else sql.SQL("true")
        )
        keyset = sql.SQL(", ").join(map(sql.Identifier, order))
        fields = sql.SQL(", ").join(map(sql.Identifier, columns)) if columns else sql.SQL("*")
        query = sql.SQL("SELECT {} FROM {} WHERE {}").format(fields, relation, scope)
        args: list[Any] = list(where.values())
        if after is not None or before is not None:
            cursor = sql.SQL("SELECT {} FROM {} WHERE {} = %s AND {}").format(
                keyset, relation, sql.Identifier(key), scope
            )
            query += sql.SQL(" AND ({}) {} ({})").format(keyset, sql.SQL(">" if after is not None else "<"), cursor)
            args += [after if after is not None else before, *where.values()]
            direction = "ASC" if after is not None else "DESC"
        else:
            direction = "DESC" if newest_first else "ASC"
        ordering = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(direction)) for c in order)
        query += sql.SQL(" ORDER BY {} LIMIT %s OFFSET %s").format(ordering)
        rows = await self._all(query, *args, limit or 1_000_000, offset)
        return rows if direction == ("DESC" if newest_first else "ASC") else rows[::-1]

    async def user_ids(self, after: UUID | None = None, limit: int | None = None) -> list[UUID]:
        rows = await self._page("view_users", "user_id", ("created_at", "user_id"), {}, after, None, limit)
        return [r["user_id"] for r in rows]

    async def user_exists(self, user_id: UUID) -> bool:
        return await self._one("SELECT 1 FROM view_users WHERE user_id = %s", user_id) is not None

    async def key(self, digest: str) -> KeyRecord | None:
        """The key of that digest, unless the log already revokes it or deletes its user (or has
        begun to): the keys view may lag its log, a revocation must not (a user's events are few)."""
        row = await self._one(_KEY, digest)
        return KeyRecord(row["key_id"], row["user_id"], (row["running"], row["queued"])) if row else None

    async def masked_keys(self, user_id: UUID) -> list[str]:
        rows = await self._all("SELECT masked FROM view_keys WHERE user_id = %s ORDER BY created_at, key_id", user_id)
        return [r["masked"] for r in rows]

    async def agents(self, user_id: UUID, after: UUID | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        return await self._page("view_agents", "id", _BY_TIME, {"user_id": user_id}, after, None, limit)

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

    async def agents_with_work(self) -> list[UUID]:
        """Every agent with a queued or an open turn (the turn runner's sweep; a partial index)."""
        rows = await self._all("SELECT id FROM view_agents WHERE queued_turns > 0 OR turn_open")
        return [r["id"] for r in rows]

    async def turns_of(self, user_id: UUID) -> tuple[int, int]:
        """How many turns of the user's agents are running, and how many are queued."""
        row = await self._one(TURNS_OF, user_id)
        return (row["running"], row["queued"]) if row else (0, 0)

    async def agent(self, user_id: UUID, agent_id: UUID, context: bool = False) -> dict[str, Any] | None:
        """An agent of this user; another user's agent reads exactly like a missing one. With
        `context`, also `message_ids`: the ids of its messages in context, in order."""
        return await self._one(_AGENT_WITH_CONTEXT if context else _AGENT, agent_id, user_id)

    async def messages(
        self, agent_id: UUID, start: int, count: int, after: UUID | None = None, before: UUID | None = None
    ) -> list[dict[str, Any]]:
        """A page of an agent's message history, newest first: by offset, or newer than `after` /
        older than `before` (a message id)."""
        return await self._page(
            "view_messages",
            "id",
            _BY_LOG,
            {"agent_id": agent_id},
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
            _BY_LOG,
            {"agent_id": agent_id},
            after,
            before,
            limit,
            start,
            columns=("id", "text", "created_at"),
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
            _BY_TIME,
            {"user_id": user_id},
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
            _BY_LOG,
            {"thread_id": thread_id},
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
            _BY_TIME,
            {"thread_id": thread_id},
            after,
            before,
            limit,
            newest_first=newest_first,
        )

    async def run(self, thread_id: UUID, run_id: UUID) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM view_runs WHERE id = %s AND thread_id = %s", run_id, thread_id)

    # data sources

    async def sources(self, user_id: UUID, after: UUID | None, limit: int | None) -> list[dict[str, Any]]:
        return await self._page("view_sources", "id", _BY_TIME, {"user_id": user_id}, after, None, limit)

    async def source(
        self, user_id: UUID, source_id: UUID | None = None, name: str | None = None
    ) -> dict[str, Any] | None:
        if source_id is not None:
            return await self._one("SELECT * FROM view_sources WHERE user_id = %s AND id = %s", user_id, source_id)
        return await self._one(
            "SELECT * FROM view_sources WHERE user_id = %s AND name = %s ORDER BY created_at LIMIT 1", user_id, name
        )

    async def source_documents(self, source_id: UUID, after: UUID | None, limit: int | None) -> list[dict[str, Any]]:
        return await self._page("view_source_documents", "id", _BY_TIME, {"source_id": source_id}, after, None, limit)

    async def source_passages(self, source_id: UUID, after: UUID | None, limit: int | None) -> list[dict[str, Any]]:
        return await self._page("view_source_passages", "id", _BY_LOG, {"source_id": source_id}, after, None, limit)

    async def attached_sources(self, agent_id: UUID) -> list[str]:
        rows = await self._all(
            "SELECT s.name FROM view_source_attachments a JOIN view_sources s ON s.id = a.source_id"
            " WHERE a.agent_id = %s ORDER BY s.created_at, s.id",
            agent_id,
        )
        return [r["name"] for r in rows]

    async def last_message_at(self, agent_id: UUID, until: int | None = None) -> Any:
        """When the agent's last message was made (up to log position `until`, for a past state)."""
        row = await self._one(
            "SELECT max(created_at) AS at FROM view_messages WHERE agent_id = %s AND position <= %s",
            agent_id,
            until if until is not None else INT64_MAX,
        )
        return row["at"] if row else None

    # turns

    async def turns(
        self, agent_id: UUID, after: UUID | None, before: UUID | None, limit: int | None, newest_first: bool
    ) -> list[dict[str, Any]]:
        """A page of an agent's turns in the order they were queued (or newest first)."""
        return await self._page(
            "view_turns", "id", _TURN_ORDER, {"agent_id": agent_id}, after, before, limit, newest_first=newest_first
        )

    async def turn(self, agent_id: UUID, turn_id: UUID) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM view_turns WHERE id = %s AND agent_id = %s", turn_id, agent_id)

    async def positions(self, agent_id: UUID, first: int, last: int | None) -> dict[int, int]:
        """The log position of each of the agent's events from version `first` to `last` (the end)."""
        rows = await self._all(
            "SELECT originator_version AS version, notification_id AS position FROM memgpt_events"
            " WHERE originator_id = %s AND originator_version >= %s AND (%s::int IS NULL OR originator_version <= %s)",
            agent_id,
            first,
            last,
            last,
        )
        return {r["version"]: r["position"] for r in rows}

    async def readiness(self) -> Readiness:
        """The log's head, the applied migrations and the slowest view's position, for /ready.
        A missing table (migrations pending) raises the database's error, like any read."""
        row = await self._one(_READINESS)
        assert row is not None  # a SELECT of subqueries always has its one row
        return Readiness(row["head"], row["applied"], row["slowest"])
