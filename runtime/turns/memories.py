"""The functions that reach beyond the agent: recall and archival search, archival insert.

Searches read the views (`projections.search` holds their queries); an insert becomes part of
the step's own events (see `TurnCommands.record_step`), so a passage is stored exactly when the step
that made it is.
"""

import datetime as dt
from typing import Any
from uuid import UUID

from domain.step import Call, CallError, Outcome, failed, page_text
from projections.search import Search
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
    def __init__(self, search: Search, archival: Archival) -> None:
        self._search = search
        self._archival = archival

    async def run(self, agent_id: UUID, embedding_config: dict[str, Any], call: Call) -> Outcome:
        try:
            return Outcome("success", await self._dispatch(agent_id, embedding_config, call))
        except (CallError, EmbeddingUnavailable) as e:
            return failed(e)

    async def _dispatch(self, agent_id: UUID, embedding_config: dict[str, Any], call: Call) -> str:
        args = call.args
        if call.name == "conversation_search":
            query, page = args["query"], _page(call)
            rows, total = await self._search.messages_matching(agent_id, query, page)
            return page_text([_line(r) for r in rows], total, page)
        if call.name == "conversation_search_date":
            start, end = _date(args["start_date"], "start_date"), _date(args["end_date"], "end_date")
            page = _page(call)
            rows, total = await self._search.messages_between(agent_id, start, end, page)
            return page_text([_line(r) for r in rows], total, page)
        if call.name == "archival_memory_search":
            page = _page(call)
            await self._archival.settled(agent_id)
            rows, total = await self._archival.search(agent_id, embedding_config, args["query"], page)
            return page_text([r["text"] for r in rows], total, page)
        raise CallError(f"{call.name} cannot run here")
