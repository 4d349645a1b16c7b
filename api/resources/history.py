"""An agent's past over HTTP: `at=` reads, the in-context messages, diffs, reverts and forks.

Every route first reads the caller's agent as it is *now* (another user's or a deleted agent is a
404 like a missing one, whatever position is asked), then loads the past from the log.
"""

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import Any
from uuid import UUID

import falcon
from falcon.asgi import Request, Response

from api.http import operation
from api.resources.agents import AgentReader, merged_config
from api.resources.messages import message_of
from api.schemas import history as h
from api.schemas import memgpt as s
from domain.agents import Agent
from domain.history import Passage
from domain.messages import Message
from domain.services.history import HistoryCommands
from projections.passage_history import PassagesThen
from projections.positions import Positions
from projections.views import Views
from runtime.commands import Commands
from runtime.config import Config
from runtime.endpoints import EndpointRefused, Endpoints


def past_row(agent: Agent) -> dict[str, Any]:
    """The agent at some version in the shape of its agents-view row, so a past state is shown
    exactly as the present one is."""
    return {
        "id": agent.id,
        "user_id": agent.user_id,
        "name": agent.name,
        "preset": agent.preset,
        "persona_name": agent.persona_name,
        "human_name": agent.human_name,
        "system": agent.system,
        "functions": list(agent.functions),
        "core_memory": dict(agent.core_memory),
        "llm_config": dict(agent.llm_config),
        "embedding_config": dict(agent.embedding_config),
        "message_ids": [str(i) for i in agent.message_ids],
        "created_at": agent.created_on,
    }


def passage_object(p: Passage) -> s.ArchivalMemoryObject:
    return s.ArchivalMemoryObject(p.id, p.text, p.created_at.isoformat())


class Past:
    """Finds which version of the caller's agent a position or time means, and loads it."""

    def __init__(
        self, history: HistoryCommands, positions: Positions, views: Views, run: Commands, then: PassagesThen
    ) -> None:
        self.history = history
        self.positions = positions
        self.reader = AgentReader(views)
        self.run = run
        self.passages_then = then

    async def version(
        self, req: Request, agent_id: UUID, at: int | None, at_time: datetime | None = None
    ) -> tuple[int, int]:
        """(version, position of the event that made it). No `at`/`at_time`: the latest."""
        await self.reader.row(req, agent_id)
        if at is not None or at_time is None:
            head = await self.positions.head()
            if at is not None and at > head:
                raise falcon.HTTPNotFound(description=f"Position {at} is past the end of the log.")
            found = await self.positions.version_at(agent_id, head if at is None else at)
        else:
            assert at_time is not None
            found = await self.positions.version_at_time(agent_id, at_time)
        if found is None:
            raise falcon.HTTPNotFound(description=f"Agent agent_id={agent_id} did not exist then.")
        return found

    async def agent(self, req: Request, agent_id: UUID, query: s.PastQuery) -> tuple[Agent, int]:
        version, position = await self.version(req, agent_id, query.at, query.at_time)
        user_id = req.context.principal.user_id
        return await asyncio.to_thread(self.history.agent_at, user_id, agent_id, version), position

    async def row(self, req: Request, agent_id: UUID, query: s.PastQuery) -> tuple[dict[str, Any], int]:
        agent, position = await self.agent(req, agent_id, query)
        return past_row(agent), position

    async def passages(self, req: Request, agent_id: UUID, query: s.ArchivalQuery, limit: int) -> list[dict[str, Any]]:
        """A page of the archival listing as it stood then, from the passage history view once
        it has reached that position (like any read after a write, at most the views' wait)."""
        _, position = await self.version(req, agent_id, query.at, query.at_time)
        await self.run.caught_up(position)
        return await self.passages_then.page(agent_id, position, query.start, limit, query.after, query.before)


def _shown(messages: list[Message], agent: Agent) -> list[s.MessageModel]:
    model = agent.llm_config.get("model")
    return [message_of(m, agent.id, agent.user_id, model) for m in messages]


class AgentContext:
    """/api/agents/{agent_id}/context: the messages the model is shown, now or at a position."""

    def __init__(self, past: Past) -> None:
        self._past = past

    @operation(
        "List the messages in an agent's context (now, or at a past position)",
        query=s.PastQuery,
        response=h.ContextResponse,
        errors=(404,),
    )
    async def on_get(self, req: Request, resp: Response, agent_id: UUID, query: s.PastQuery) -> h.ContextResponse:
        agent, position = await self._past.agent(req, agent_id, query)
        return h.ContextResponse(_shown(agent.messages, agent), position)


class AgentDiff:
    """/api/agents/{agent_id}/diff?from=&to=: what changed between two positions."""

    def __init__(self, past: Past) -> None:
        self._past = past

    @operation(
        "What changed in an agent between two log positions",
        query=h.DiffQuery,
        response=h.DiffResponse,
        errors=(404,),
    )
    async def on_get(self, req: Request, resp: Response, agent_id: UUID, query: h.DiffQuery) -> h.DiffResponse:
        earlier, _ = await self._past.version(req, agent_id, query.from_)
        later, _ = await self._past.version(req, agent_id, query.to)
        user_id = req.context.principal.user_id
        d = await asyncio.to_thread(self._past.history.diff, user_id, agent_id, earlier, later)
        agent = await asyncio.to_thread(self._past.history.agent_at, user_id, agent_id, later)
        return h.DiffResponse(
            query.from_,
            query.to,
            {k: h.Change(_plain(c.before), _plain(c.after)) for k, c in d.configuration.items()},
            {k: h.Change(c.before, c.after) for k, c in d.core_memory.items()},
            h.ContextChange(_shown(d.entered, agent), _shown(d.left, agent)),
            h.PassagesChange([passage_object(p) for p in d.added], [passage_object(p) for p in d.removed]),
        )


def _plain(value: Any) -> Any:
    return asdict(value) if hasattr(value, "__dataclass_fields__") else value


class AgentRevert:
    """POST /api/agents/{agent_id}/revert: put parts of the agent back as they were at `to`."""

    def __init__(self, past: Past, commands: Commands, views: Views, config: Config) -> None:
        self._past = past
        self._run = commands
        self._reader = AgentReader(views, config)

    @operation(
        "Restore core memory and/or the context as they were at a past position (appends one event)",
        body=h.RevertRequest,
        response=h.RevertResponse,
        errors={404: None, 409: "The agent has a turn running or queued"},
    )
    async def on_post(self, req: Request, resp: Response, agent_id: UUID, body: h.RevertRequest) -> h.RevertResponse:
        version, position = await self._past.version(req, agent_id, body.to)
        user_id = req.context.principal.user_id
        parts = await self._run(
            self._past.history.revert, user_id, agent_id, version, position, sorted(set(body.parts))
        )
        return h.RevertResponse(parts, (await self._reader.response(req, agent_id)).agent_state)


class AgentFork:
    """POST /api/agents/{agent_id}/fork: a new agent of the caller's, the source as it was at `at`."""

    def __init__(self, past: Past, commands: Commands, views: Views, config: Config) -> None:
        self._past = past
        self._run = commands
        self._reader = AgentReader(views, config)
        self._endpoints = Endpoints.of(config)

    @operation(
        "Fork an agent at a log position: configuration, memory, context, recall and archival as they were",
        body=h.ForkRequest,
        response=s.AgentStateResponse,
        errors={
            404: None,
            409: "An agent of that name exists",
            422: "An endpoint that is not one of the server's providers, or more history than a fork copies"
            " (20,000 messages)",
        },
    )
    async def on_post(self, req: Request, resp: Response, agent_id: UUID, body: h.ForkRequest) -> s.AgentStateResponse:
        user_id = req.context.principal.user_id
        version, position = await self._past.version(req, agent_id, body.at)
        rest = await asyncio.to_thread(self._past.history.step_rest, user_id, agent_id, version)
        if rest:  # inside a step: the fork takes the whole step, so no call lacks its result
            version += rest
            position = await self._past.positions.position_of(agent_id, version) or position
        source = await asyncio.to_thread(self._past.history.agent_at, user_id, agent_id, version)
        try:
            llm = await self._endpoints.accept(merged_config(source.llm_config, body.llm_config), "llm")
        except EndpointRefused as e:
            raise falcon.HTTPUnprocessableEntity(description=str(e)) from None
        fork = await self._run(
            self._past.history.fork,
            user_id,
            agent_id,
            version,
            position if rest else (body.at or position),
            body.name,
            llm,
        )
        return await self._reader.response(req, fork.id)
