"""/api/agents/message(s): send a message (streamed or not), page the history, run commands.

Replies are read from the log, never from the runner: the request appends the message, then
follows the log tail from that position, filtered to its own agent and turn, until the turn ends.
That also lets a dropped stream resume with `Last-Event-ID` (a log position).
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any
from uuid import UUID

import falcon
import orjson
from falcon.asgi import Request, Response, SSEvent

from api.http import answer_with_stream, operation
from api.limits import UserLimits
from api.resources.agents import AgentReader
from api.schemas import memgpt as s
from domain.commands import dump, memory_dump
from domain.errors import TurnRefused
from domain.messages import Message
from domain.services.agents import AgentCommands
from domain.services.turns import TurnCommands
from projections.views import Views
from runtime.commands import Commands
from runtime.turns.follow import TurnFollower


def message_model(row: dict[str, Any], user_id: UUID | None, model: str | None) -> s.MessageModel:
    """A message as the history routes show it (a `view_messages` row, or a message of an event)."""
    call = row["tool_call"]
    return s.MessageModel(
        id=row["id"],
        user_id=user_id,
        agent_id=row["agent_id"],
        role=row["role"],
        text=row["text"],
        name=row["name"],
        tool_calls=[
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}
        ]
        if call
        else None,
        tool_call_id=row["tool_call_id"],
        model=model if row["role"] == "assistant" else None,
        created_at=row["created_at"].isoformat(),
    )


def message_of(message: Message, agent_id: UUID, user_id: UUID, model: str | None) -> s.MessageModel:
    """A message as `/messages` shows it, from the message itself rather than its view row."""
    row = {
        "id": message.id,
        "agent_id": agent_id,
        "role": message.role,
        "text": message.text,
        "name": message.name,
        "tool_call": asdict(message.tool_call) if message.tool_call else None,
        "tool_call_id": message.tool_call_id,
        "created_at": message.created_at,
    }
    return message_model(row, user_id, model)


def stream(
    resp: Response, follower: TurnFollower, agent_id: UUID, turn_id: UUID, after: int, release: Callable[[], None]
) -> None:
    """Answer with the turn as server-sent events: `data: {...}`, and `id: <log position>` on
    the last frame of each event, so `Last-Event-ID` resumes after whole events. `release` ends
    the stream's count against its user's open streams, when it ends or is dropped unstarted."""

    async def sse() -> AsyncIterator[SSEvent | None]:
        try:
            async for item in follower.events(agent_id, turn_id, after):
                if item is None:
                    yield None  # keep-alive comment; also how a gone client is noticed
                    continue
                position, shown = item
                for i, frame in enumerate(shown):
                    last = i == len(shown) - 1
                    yield SSEvent(data=orjson.dumps(frame), event_id=str(position) if last else None)
        finally:
            release()

    events = sse()
    answer_with_stream(resp, events, release)


class Messages:
    def __init__(self, turns: TurnCommands, follower: TurnFollower, views: Views, limits: UserLimits) -> None:
        self._turns = turns
        self._follower = follower
        self._views = views
        self._limits = limits
        self._reader = AgentReader(views)

    async def _send(self, req: Request, resp: Response, agent_id: UUID, body: Any) -> s.UserMessageResponse | None:
        user_id = req.context.principal.user_id
        release = self._limits.open_stream(user_id) if body.stream else None  # before a turn is queued
        try:
            turn_id, after = await self._turn(req, user_id, agent_id, body)
        except BaseException:
            if release:
                release()
            raise
        if release:
            stream(resp, self._follower, agent_id, turn_id, after, release)
            return None
        return s.UserMessageResponse(await self._follower.collect(agent_id, turn_id, after))

    async def _turn(self, req: Request, user_id: UUID, agent_id: UUID, body: Any) -> tuple[UUID, int]:
        """The turn to answer with and the log position to follow it from: a resumed one
        (`Last-Event-ID`), or a new one queued now."""
        resume = req.get_header("Last-Event-ID")
        if resume:
            await self._reader.row(req, agent_id)
            if not (resume.isascii() and resume.isdigit() and len(resume) <= 18):  # "²" is a digit to str
                raise falcon.HTTPBadRequest(description="Last-Event-ID must be a log position (ASCII digits).")
            after = int(resume)
            return await self._follower.turn_at(agent_id, after), after
        await self._limits.may_queue(req.context.principal)
        return await self._follower.queue(
            self._turns.queue_turn, user_id, agent_id, body.role, body.message, opening=self._turns.queue_and_open_turn
        )

    async def _history(self, req: Request, agent_id: UUID, query: s.HistoryPathQuery) -> s.GetAgentMessagesResponse:
        agent = await self._reader.row(req, agent_id)
        count = query.limit if query.limit is not None else query.count
        rows = await self._views.messages(agent_id, query.start, count, query.after, query.before)
        if query.after and query.before:  # the views page from `after`; the page ends at `before`
            ids = [r["id"] for r in rows]  # newest first: what is older than `before` follows it
            rows = rows[ids.index(query.before) + 1 :] if query.before in ids else rows
        model = agent["llm_config"].get("model")
        return s.GetAgentMessagesResponse([message_model(r, agent["user_id"], model) for r in rows])

    @operation(
        "Send a message; the reply as JSON, or streamed as server-sent events",
        body=s.UserMessageRequest,
        response=s.UserMessageResponse,
        errors=(404, 429, 504),
        streams=True,
    )
    async def on_post(self, req: Request, resp: Response, body: s.UserMessageRequest) -> s.UserMessageResponse | None:
        return await self._send(req, resp, body.agent_id, body)

    @operation(
        "Send a message; the reply as JSON, or streamed as server-sent events",
        body=s.UserMessageBody,
        response=s.UserMessageResponse,
        errors=(404, 429, 504),
        streams=True,
    )
    async def on_post_path(
        self, req: Request, resp: Response, agent_id: UUID, body: s.UserMessageBody
    ) -> s.UserMessageResponse | None:
        return await self._send(req, resp, agent_id, body)

    @operation(
        "Page an agent's message history, newest first",
        query=s.HistoryQuery,
        response=s.GetAgentMessagesResponse,
        errors=(404,),
    )
    async def on_get(self, req: Request, resp: Response, query: s.HistoryQuery) -> s.GetAgentMessagesResponse:
        return await self._history(req, query.agent_id, query)

    @operation(
        "Page an agent's message history, newest first",
        query=s.HistoryPathQuery,
        response=s.GetAgentMessagesResponse,
        errors=(404,),
    )
    async def on_get_path(
        self, req: Request, resp: Response, agent_id: UUID, query: s.HistoryPathQuery
    ) -> s.GetAgentMessagesResponse:
        return await self._history(req, agent_id, query)

    @operation(
        "Page an agent's message history by message id, newest first",
        query=s.HistoryPathQuery,
        response=s.GetAgentMessagesResponse,
        errors=(404,),
    )
    async def on_get_cursor(
        self, req: Request, resp: Response, agent_id: UUID, query: s.HistoryPathQuery
    ) -> s.GetAgentMessagesResponse:
        return await self._history(req, agent_id, query)


_COMMAND_ERRORS = {
    404: None,
    409: "Nothing in context to pop, retry, rethink or rewrite",
    429: None,
    504: None,
}


class Command:
    """`/memory`, `/dump N`, `/pop N`, `/retry`, `/rethink T`, `/rewrite T`, `/heartbeat`, `/memorywarning`."""

    def __init__(
        self,
        agents: AgentCommands,
        turns: TurnCommands,
        commands: Commands,
        follower: TurnFollower,
        views: Views,
        limits: UserLimits,
    ) -> None:
        self._agents = agents
        self._turns = turns
        self._run = commands
        self._follower = follower
        self._views = views
        self._limits = limits
        self._reader = AgentReader(views)

    async def _reply(self, agent_id: UUID, turn: tuple[UUID, int]) -> str:
        shown = await self._follower.collect(agent_id, *turn)
        said = [f["assistant_message"] for f in shown if "assistant_message" in f]
        errors = [f["internal_error"] for f in shown if "internal_error" in f]
        return "\n".join(said + errors) or "The agent sent no message."

    async def _command(self, req: Request, agent_id: UUID, text: str) -> s.CommandResponse:
        """`text` matched `COMMAND_PATTERN`: a known name, then a count or the new text."""
        user_id = req.context.principal.user_id
        row = await self._reader.row(req, agent_id)
        name, _, rest = text.partition(" ")
        rest = rest.lstrip(" ")
        if name == "/memory":
            counts = await self._views.message_counts(agent_id)
            return s.CommandResponse(memory_dump(row["core_memory"], await self._views.passage_count(agent_id), counts))
        if name == "/dump":
            agent = await asyncio.to_thread(self._turns.agent, agent_id)
            return s.CommandResponse(dump(agent.messages, int(rest or 1)))
        if name == "/pop":
            popped = await self._run(self._agents.pop_messages, user_id, agent_id, int(rest or 3))
            return s.CommandResponse(f"Popped the last {popped} messages from the agent's context.")
        if name in ("/retry", "/heartbeat", "/memorywarning"):
            await self._limits.may_queue(req.context.principal)
        if name == "/retry":
            return s.CommandResponse(
                await self._reply(agent_id, await self._follower.queue(self._agents.retry_last, user_id, agent_id))
            )
        if name in ("/rethink", "/rewrite"):
            await self._run(
                self._agents.rethink if name == "/rethink" else self._agents.rewrite, user_id, agent_id, rest
            )
            return s.CommandResponse(f"{'Inner thoughts' if name == '/rethink' else 'Sent message'} rewritten.")
        wake = {"/heartbeat": "heartbeat", "/memorywarning": "memory_warning"}.get(name)
        if wake:
            return s.CommandResponse(
                await self._reply(
                    agent_id, await self._follower.queue(self._turns.queue_turn, user_id, agent_id, wake, "")
                )
            )
        raise TurnRefused(f"Unknown command {name!r}.")

    @operation("Run an agent command", body=s.CommandRequest, response=s.CommandResponse, errors=_COMMAND_ERRORS)
    async def on_post(self, req: Request, resp: Response, body: s.CommandRequest) -> s.CommandResponse:
        return await self._command(req, body.agent_id, body.command)

    @operation("Run an agent command", body=s.CommandBody, response=s.CommandResponse, errors=_COMMAND_ERRORS)
    async def on_post_path(
        self, req: Request, resp: Response, agent_id: UUID, body: s.CommandBody
    ) -> s.CommandResponse:
        return await self._command(req, agent_id, body.command)
