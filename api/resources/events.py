"""The event history: an agent's events, the caller's own events, and (admin) the whole log.

Each is a page of events in log order (`after` a position, `limit`), or with `follow=true` a
stream of server-sent events, `id:` the log position, resumable with `Last-Event-ID`. A user
sees only their own history: another user's agent is a 404 like a missing one, and `/api/events`
is scoped to the caller. docs/events.md is the contract.
"""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import falcon
import msgspec
import orjson
from falcon.asgi import Request, Response, SSEvent

from api.http import answer_with_stream, operation
from api.limits import UserLimits
from api.payloads import Shaper
from api.resources.agents import AgentReader
from api.schemas import events as s
from projections.event_history import EventFilter, EventHistory, Recorded
from projections.views import Views
from runtime.config import Config
from runtime.endpoints import Endpoints
from runtime.event_follow import HistoryFollower


def _resumed(req: Request, after: int) -> int:
    """Where to start: after the `Last-Event-ID` a reconnecting client sends, else `after`."""
    given = req.get_header("Last-Event-ID")
    if not given:
        return after
    if not (given.isascii() and given.isdigit() and len(given) <= 18):  # "²" is a digit to str
        raise falcon.HTTPBadRequest(description="Last-Event-ID must be a log position (ASCII digits).")
    return int(given)


class History:
    """What the three routes share: filter, page or follow, shape."""

    def __init__(self, follower: HistoryFollower, history: EventHistory, config: Config, limits: UserLimits) -> None:
        self._follower = follower
        self._history = history
        self._endpoints = Endpoints.of(config)
        self._limits = limits

    async def _items(
        self, req: Request, page: list[Recorded], models: dict[UUID, str | None] | None = None
    ) -> list[s.EventItem]:
        """The page as items; `models` (the agents' models, which messages show) is looked up
        once per agent, and kept across the calls of one stream (an agent not found yet is asked
        again: its row in the agents view may follow its first events)."""
        models = {} if models is None else models
        unknown = {r.agent_id for r in page if r.agent_id is not None and r.agent_id not in models}
        if unknown:
            models.update(await self._history.models(unknown))
        shaper = Shaper(self._endpoints, req.context.principal.is_admin and req.path.startswith("/admin"), models)
        return [shaper.item(r) for r in page]

    async def answer(
        self, req: Request, resp: Response, where: EventFilter, query: s.EventsQuery, counted: bool
    ) -> s.EventsPage | None:
        after = _resumed(req, query.after)
        if query.follow:
            release = self._limits.open_stream(req.context.principal.user_id) if counted else (lambda: None)
            self._stream(req, resp, where, after, release)
            return None
        page = await self._follower.page(where, after, query.limit)
        return s.EventsPage(await self._items(req, page), page[-1].position if len(page) == query.limit else None)

    def _stream(
        self, req: Request, resp: Response, where: EventFilter, after: int, release: Callable[[], None]
    ) -> None:
        async def sse() -> AsyncIterator[SSEvent | None]:
            models: dict[UUID, str | None] = {}
            try:
                async for recorded in self._follower.follow(where, after):
                    if recorded is None:
                        yield None  # keep-alive comment; also how a gone client is noticed
                        continue
                    (item,) = await self._items(req, [recorded], models)
                    yield SSEvent(data=orjson.dumps(msgspec.to_builtins(item)), event_id=str(recorded.position))
            finally:
                release()

        events = sse()
        answer_with_stream(resp, events, release)


def _time(name: str, given: str | None) -> datetime | None:
    """An ISO 8601 time (`Z` or an offset; none: UTC)."""
    if given is None:
        return None
    text = given.strip().upper()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise falcon.HTTPBadRequest(
            description=f"`{name}` must be an ISO 8601 time, e.g. 2026-01-31T09:15:00Z."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _filter(query: s.EventsQuery, **scope: Any) -> EventFilter:
    since, until = _time("since", query.since), _time("until", query.until)
    return EventFilter(types=query.types, turn_id=query.turn_id, since=since, until=until, **scope)


_SUMMARY = "page of events in log order, or with follow=true a server-sent event stream"


class AgentEvents:
    def __init__(self, history: History, views: Views) -> None:
        self._history = history
        self._reader = AgentReader(views)

    @operation(
        f"An agent's events: a {_SUMMARY}", query=s.EventsQuery, response=s.EventsPage, errors=(404, 429), streams=True
    )
    async def on_get(self, req: Request, resp: Response, agent_id: UUID, query: s.EventsQuery) -> s.EventsPage | None:
        await self._reader.row(req, agent_id)  # another user's (or a deleted) agent: 404, as a missing one
        where = _filter(query, agent_id=agent_id, user_id=req.context.principal.user_id)
        return await self._history.answer(req, resp, where, query, counted=True)


class UserEvents:
    def __init__(self, history: History) -> None:
        self._history = history

    @operation(
        f"The caller's own events (agents, keys, sources, assistants): a {_SUMMARY}",
        query=s.UserEventsQuery,
        response=s.EventsPage,
        errors=(429,),
        streams=True,
    )
    async def on_get(self, req: Request, resp: Response, query: s.UserEventsQuery) -> s.EventsPage | None:
        where = _filter(query, agent_id=query.agent_id, user_id=req.context.principal.user_id)
        return await self._history.answer(req, resp, where, query, counted=True)


class AdminEvents:
    auth = "admin"

    def __init__(self, history: History) -> None:
        self._history = history

    @operation(f"The whole log: a {_SUMMARY}", query=s.AdminEventsQuery, response=s.EventsPage, streams=True)
    async def on_get(self, req: Request, resp: Response, query: s.AdminEventsQuery) -> s.EventsPage | None:
        where = _filter(query, agent_id=query.agent_id, user_id=query.user_id, request_id=query.request_id)
        return await self._history.answer(req, resp, where, query, counted=False)
