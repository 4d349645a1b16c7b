"""Reads of the event history: pages of the event index, each event decoded from the log.

The index (`projections.events`) finds the page; the events themselves are read from
`memgpt_events` by position in the same query and decoded through the application's mapper, so
upcasters apply and the history shows every field an event has, however new.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

MAX_PAGE = 1000


@dataclass(frozen=True)
class EventFilter:
    """Which events: every given field must match (`types`: any of them; `until` exclusive)."""

    user_id: UUID | None = None
    agent_id: UUID | None = None
    turn_id: UUID | None = None
    request_id: str | None = None
    types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Recorded:
    """One event of the history: its index row and the decoded event."""

    position: int
    type: str
    version: int
    time: datetime
    originator_id: UUID
    user_id: UUID | None
    agent_id: UUID | None
    turn_id: UUID | None
    caused_by: dict[str, Any] | None
    event: Any
    memory_before: dict[str, Any] | None  # a core-memory change: the value it replaced


def _utc(moment: datetime | None) -> datetime | None:
    """A time given without a zone is UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _conditions(where: EventFilter, after: int, upto: int | None) -> tuple[sql.Composable, list[Any]]:
    parts: list[sql.Composable] = [sql.SQL("i.position > %s")]
    args: list[Any] = [after]
    if upto is not None:
        parts.append(sql.SQL("i.position <= %s"))
        args.append(upto)
    for column, value in (
        ("user_id", where.user_id),
        ("agent_id", where.agent_id),
        ("turn_id", where.turn_id),
        ("request_id", where.request_id),
    ):
        if value is not None:
            parts.append(sql.SQL("i.{} = %s").format(sql.Identifier(column)))
            args.append(value)
    if where.types:
        parts.append(sql.SQL("i.type = ANY(%s)"))
        args.append(list(where.types))
    if where.since is not None:
        parts.append(sql.SQL("i.time >= %s"))
        args.append(_utc(where.since))
    if where.until is not None:
        parts.append(sql.SQL("i.time < %s"))
        args.append(_utc(where.until))
    return sql.SQL(" AND ").join(parts), args


# The page is chosen from the index alone, then joined with the log by position: a join planned
# over the whole page condition could walk the log from its start (a merge join) instead.
_PAGE = sql.SQL(
    "WITH page AS (SELECT * FROM view_event_index i WHERE {} ORDER BY i.position LIMIT %s)"
    " SELECT i.position, i.type, i.version, i.time, i.originator_id, i.user_id, i.agent_id, i.turn_id, i.caused_by,"
    " e.originator_id AS e_id, e.originator_version AS e_version, e.topic AS e_topic, e.state AS e_state,"
    # the memory a change replaced: only that field of the earlier event, read by PostgreSQL
    # (a fork's Created carries its whole history: decoding it all for one field cost a page 2x)
    " convert_from(m.state, 'UTF8')::jsonb -> 'core_memory' AS m_memory"
    " FROM page i JOIN memgpt_events e ON e.notification_id = i.position"
    " LEFT JOIN memgpt_events m ON m.notification_id = i.memory_before"
    " ORDER BY i.position"
)


class EventHistory:
    def __init__(self, pool: AsyncConnectionPool, mapper: Mapper[UUID]) -> None:
        self._pool = pool
        self._mapper = mapper

    async def page(self, where: EventFilter, after: int, limit: int, upto: int | None = None) -> list[Recorded]:
        """The events matching `where` after log position `after` (and at most `upto`), in log
        order, at most `limit` of them."""
        conditions, args = _conditions(where, after, upto)
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            # planned for its values each time: a prepared (generic) plan cannot see which agent or
            # position it pages, and walks the whole log for a long-lived agent
            query = _PAGE.format(conditions)
            await cur.execute(query, (*args, min(limit, MAX_PAGE)), prepare=False)
            rows = await cur.fetchall()
        return [self._recorded(row) for row in rows]

    async def models(self, agent_ids: Iterable[UUID]) -> dict[UUID, str | None]:
        """The model each of these agents speaks with (what their messages are shown with)."""
        ids = list(set(agent_ids))
        if not ids:
            return {}
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT id, llm_config ->> 'model' FROM view_agents WHERE id = ANY(%s)", (ids,))
            return {row[0]: row[1] for row in await cur.fetchall()}

    def _decode(self, originator_id: UUID, version: int, topic: str, state: bytes) -> Any:
        return self._mapper.to_domain_event(StoredEvent(originator_id, version, topic, bytes(state)))

    def _recorded(self, row: dict[str, Any]) -> Recorded:
        before = row["m_memory"]
        return Recorded(
            position=row["position"],
            type=row["type"],
            version=row["version"],
            time=row["time"],
            originator_id=row["originator_id"],
            user_id=row["user_id"],
            agent_id=row["agent_id"],
            turn_id=row["turn_id"],
            caused_by=row["caused_by"],
            event=self._decode(row["e_id"], row["e_version"], row["e_topic"], row["e_state"]),
            memory_before=before if isinstance(before, dict) else None,
        )
