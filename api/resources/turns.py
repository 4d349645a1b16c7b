"""/api/agents/{agent_id}/turns: an agent's turns, and each turn's model requests as the model
received them (rebuilt from the log by `runtime.turns.history`)."""

from typing import Any
from uuid import UUID

import falcon
from falcon.asgi import Request, Response

from api.http import operation
from api.paging import next_cursor
from api.resources.agents import AgentReader
from api.schemas import turns as t
from projections.views import Views
from runtime.turns.history import TurnHistory


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def summary(row: dict[str, Any]) -> t.TurnSummary:
    prompt, completion = row["prompt_tokens"], row["completion_tokens"]
    return t.TurnSummary(
        id=row["id"],
        agent_id=row["agent_id"],
        status=row["status"],
        role=row["role"],
        queued_at=row["queued_at"].isoformat(),
        started_at=_time(row["started_at"]),
        ended_at=_time(row["ended_at"]),
        steps=row["steps"],
        tokens=t.Tokens(prompt, completion, prompt + completion),
        failure=row["failure"],
        positions=t.Positions(row["queued_position"], row["started_position"], row["ended_position"]),
    )


class Turns:
    def __init__(self, views: Views, history: TurnHistory) -> None:
        self._views = views
        self._history = history
        self._reader = AgentReader(views)

    @operation("List an agent's turns", query=t.TurnsQuery, response=t.ListTurnsResponse, errors=(404,))
    async def on_get(self, req: Request, resp: Response, agent_id: UUID, query: t.TurnsQuery) -> t.ListTurnsResponse:
        await self._reader.row(req, agent_id)
        after = query.start_after
        newest_first = query.order == "desc"
        rows = await self._views.turns(
            agent_id, None if newest_first else after, after if newest_first else None, query.limit, newest_first
        )
        return t.ListTurnsResponse([summary(r) for r in rows], next_cursor([r["id"] for r in rows], query.limit))

    @operation(
        "One turn of an agent: every model request as sent, and what came back",
        response=t.TurnResponse,
        errors={404: "No such agent of yours, or no such turn of it"},
    )
    async def on_get_one(self, req: Request, resp: Response, agent_id: UUID, turn_id: UUID) -> t.TurnResponse:
        await self._reader.row(req, agent_id)
        row = await self._views.turn(agent_id, turn_id)
        if row is None:
            raise falcon.HTTPNotFound(description=f"Turn turn_id={turn_id} of agent agent_id={agent_id} not found")
        read = await self._history.read(row)
        return t.TurnResponse(
            summary(row),
            t.Opening(**read.opening),
            [t.ModelRequest(**r) for r in read.requests],
            t.UnansweredRequest(**read.unanswered) if read.unanswered else None,
        )
