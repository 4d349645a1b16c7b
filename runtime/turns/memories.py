"""The functions that reach beyond the agent: recall and archival search, archival insert.

Searches read the views; an insert becomes part of the step's own events (see
`MemGPT.record_step`), so a passage is stored exactly when the step that made it is.
"""

import datetime as dt
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from domain.step import PAGE_SIZE, Call, CallError, Outcome, failed, page_text
from runtime.adapters.embeddings import EmbeddingUnavailable
from runtime.archival import Archival


def _line(row: dict[str, Any]) -> str:
    return f"{row['created_at'].strftime('%Y-%m-%d %I:%M:%S %p UTC')}: {row['role']} - {row['content']}"


def _date(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CallError(f"{field} must be a date like 2024-01-31, not {text!r}") from None


def _page(call: Call) -> int:
    page = call.args.get("page", 0) or 0
    if page < 0:
        raise CallError("page counts from 0")
    return page


class Memories:
    def __init__(self, pool: AsyncConnectionPool, archival: Archival) -> None:
        self._pool = pool
        self._archival = archival

    async def _query(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(sql, params)
            return await cur.fetchall()

    async def _paged(self, where: str, params: tuple[Any, ...], page: int, table: str, order: str, line: Any) -> str:
        rows = await self._query(
            f"SELECT *, count(*) OVER () AS total FROM {table} WHERE {where} ORDER BY {order}"  # noqa: S608
            " LIMIT %s OFFSET %s",
            (*params, PAGE_SIZE, page * PAGE_SIZE),
        )
        total = rows[0]["total"] if rows else 0
        if not rows and page:  # past the last page: still say how many there are
            counted = await self._query(f"SELECT count(*) AS total FROM {table} WHERE {where}", params)  # noqa: S608
            total = counted[0]["total"]
        return page_text([line(r) for r in rows], total, page)

    async def run(self, agent_id: UUID, embedding_config: dict[str, Any], call: Call) -> Outcome:
        try:
            return Outcome("success", await self._dispatch(agent_id, embedding_config, call))
        except (CallError, EmbeddingUnavailable) as e:
            return failed(e)

    async def _dispatch(self, agent_id: UUID, embedding_config: dict[str, Any], call: Call) -> str:
        args = call.args
        if call.name == "conversation_search":
            # Full-text match (stemmed words), or a plain substring as MemGPT did.
            return await self._paged(
                "agent_id = %s AND role IN ('user', 'assistant')"
                " AND (tsv @@ websearch_to_tsquery('english', %s) OR content ILIKE %s)",
                (agent_id, args["query"], f"%{_escape(args['query'])}%"),
                _page(call),
                "view_messages",
                "position DESC, seq DESC",
                _line,
            )
        if call.name == "conversation_search_date":
            start, end = _date(args["start_date"], "start_date"), _date(args["end_date"], "end_date")
            return await self._paged(
                "agent_id = %s AND role IN ('user', 'assistant') AND content <> ''"
                " AND (created_at AT TIME ZONE 'UTC')::date BETWEEN %s AND %s",
                (agent_id, start, end),
                _page(call),
                "view_messages",
                "position, seq",
                _line,
            )
        if call.name == "archival_memory_search":
            page = _page(call)
            await self._archival.settled(agent_id)
            rows, total = await self._archival.search(agent_id, embedding_config, args["query"], page)
            return page_text([r["text"] for r in rows], total, page)
        raise CallError(f"{call.name} cannot run here")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
