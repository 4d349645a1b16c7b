"""/v1: the OpenAI Assistants API (assistants, threads, messages, runs) backed by MemGPT agents.

A thread's first run creates its agent from the assistant; each run is one turn of that agent on
the messages added since the last run, and its status follows the turn on the log.
"""

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import falcon
from falcon.asgi import Request, Response

from api.http import operation
from api.schemas import assistants as v1
from domain.errors import TurnRefused
from domain.services.assistants import AssistantCommands
from projections.views import Views
from runtime.commands import Commands
from runtime.config import Config


def _ts(moment: Any) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def _assistant(row: dict[str, Any]) -> v1.OpenAIAssistant:
    return v1.OpenAIAssistant(
        row["id"],
        _ts(row["created_at"]) or 0,
        row["name"],
        row["description"],
        row["model"],
        row["instructions"],
        row["tools"],
        row["metadata"],
    )


def _message(row: dict[str, Any]) -> v1.OpenAIMessage:
    content = [{"type": "text", "text": {"value": row["content"], "annotations": []}}]
    return v1.OpenAIMessage(
        row["id"],
        _ts(row["created_at"]) or 0,
        row["thread_id"],
        row["role"],
        content,
        row["assistant_id"],
        row["run_id"],
        row["metadata"],
    )


def _run(row: dict[str, Any], assistant: dict[str, Any] | None) -> v1.OpenAIRun:
    error = v1.RunError("server_error", row["last_error"]) if row["last_error"] else None
    return v1.OpenAIRun(
        row["id"],
        _ts(row["created_at"]) or 0,
        row["thread_id"],
        row["assistant_id"],
        row["status"],
        error,
        _ts(row["started_at"]),
        _ts(row["completed_at"]),
        _ts(row["failed_at"]),
        assistant["model"] if assistant else "",
        assistant["instructions"] if assistant else "",
        assistant["tools"] if assistant else [],
        {},
    )


async def _listed(
    fetch: Callable[..., Awaitable[list[dict[str, Any]]]], query: v1.ListQuery
) -> tuple[list[dict[str, Any]], bool]:
    """OpenAI paging: `after` continues in the listing's own order; one row more tells has_more."""
    newest_first = query.order == "desc"
    after, before = (None, query.after) if newest_first else (query.after, None)
    rows = await fetch(after, before, query.limit + 1, newest_first)
    return rows[: query.limit], len(rows) > query.limit


def _caught_up(row: dict[str, Any] | None) -> dict[str, Any]:
    """A row the command just wrote; missing only if the views fell behind (or it was deleted
    meanwhile): then the write stands, and the client may read it again shortly."""
    if row is None:
        raise falcon.HTTPServiceUnavailable(description="Saved, but not readable yet; read it again shortly.")
    return row


def _ends(rows: list[Any]) -> tuple[Any, Any]:
    return (rows[0].id, rows[-1].id) if rows else (None, None)


class _Base:
    def __init__(self, assistants: AssistantCommands, commands: Commands, views: Views) -> None:
        self._assistants = assistants
        self._run = commands
        self._views = views

    async def _thread(self, req: Request, thread_id: UUID) -> dict[str, Any]:
        row = await self._views.thread(req.context.principal.user_id, thread_id)
        if row is None:
            raise falcon.HTTPNotFound(description=f"No thread found with id {thread_id}")
        return row

    async def _assistant(self, req: Request, assistant_id: UUID) -> dict[str, Any]:
        row = await self._views.assistant(req.context.principal.user_id, assistant_id)
        if row is None:
            raise falcon.HTTPNotFound(description=f"No assistant found with id {assistant_id}")
        return row


class AssistantList(_Base):
    @operation("Create an assistant", body=v1.CreateAssistantRequest, response=v1.OpenAIAssistant)
    async def on_post(self, req: Request, resp: Response, body: v1.CreateAssistantRequest) -> v1.OpenAIAssistant:
        tools = [t if isinstance(t, str) else t.type for t in body.tools or []]
        made = await self._run(
            self._assistants.create_assistant,
            req.context.principal.user_id,
            body.name,
            body.model,
            body.instructions,
            body.description,
            tools,
            body.metadata or {},
        )
        return _assistant(_caught_up(await self._views.assistant(req.context.principal.user_id, made.id)))

    @operation("List assistants", query=v1.ListQuery, response=v1.ListAssistantsResponse)
    async def on_get(self, req: Request, resp: Response, query: v1.ListQuery) -> v1.ListAssistantsResponse:
        user_id = req.context.principal.user_id
        rows, more = await _listed(lambda *a: self._views.assistants(user_id, *a), query)
        data = [_assistant(r) for r in rows]
        return v1.ListAssistantsResponse(data, *_ends(data), more)

    @operation("Get an assistant", response=v1.OpenAIAssistant, errors=(404,))
    async def on_get_one(self, req: Request, resp: Response, assistant_id: UUID) -> v1.OpenAIAssistant:
        return _assistant(await self._assistant(req, assistant_id))

    @operation("Delete an assistant", response=v1.DeletedResponse, errors=(404,))
    async def on_delete_one(self, req: Request, resp: Response, assistant_id: UUID) -> v1.DeletedResponse:
        await self._run(self._assistants.delete_assistant, req.context.principal.user_id, assistant_id)
        return v1.DeletedResponse(assistant_id, "assistant.deleted")


class Threads(_Base):
    @operation("Create a thread, optionally with first messages", body=v1.CreateThreadRequest, response=v1.OpenAIThread)
    async def on_post(self, req: Request, resp: Response, body: v1.CreateThreadRequest) -> v1.OpenAIThread:
        texts = [m if isinstance(m, str) else m.content for m in body.messages or []]
        made = await self._run(
            self._assistants.create_thread, req.context.principal.user_id, texts, body.metadata or {}
        )
        row = _caught_up(await self._views.thread(req.context.principal.user_id, made.id))
        return v1.OpenAIThread(row["id"], _ts(row["created_at"]) or 0, row["metadata"])

    @operation("Get a thread", response=v1.OpenAIThread, errors=(404,))
    async def on_get_one(self, req: Request, resp: Response, thread_id: UUID) -> v1.OpenAIThread:
        row = await self._thread(req, thread_id)
        return v1.OpenAIThread(row["id"], _ts(row["created_at"]) or 0, row["metadata"])

    @operation("Delete a thread", response=v1.DeletedResponse, errors=(404,))
    async def on_delete_one(self, req: Request, resp: Response, thread_id: UUID) -> v1.DeletedResponse:
        await self._run(self._assistants.delete_thread, req.context.principal.user_id, thread_id)
        return v1.DeletedResponse(thread_id, "thread.deleted")


class ThreadMessages(_Base):
    @operation(
        "Add a user message to a thread (a run answers it)",
        body=v1.MessageInput,
        response=v1.OpenAIMessage,
        errors=(404,),
    )
    async def on_post(self, req: Request, resp: Response, thread_id: UUID, body: v1.MessageInput) -> v1.OpenAIMessage:
        message_id = await self._run(
            self._assistants.add_thread_message,
            req.context.principal.user_id,
            thread_id,
            body.role,
            body.content,
            body.metadata or {},
        )
        return _message(_caught_up(await self._views.thread_message(thread_id, message_id)))

    @operation("List a thread's messages", query=v1.ListQuery, response=v1.ListMessagesResponse, errors=(404,))
    async def on_get(
        self, req: Request, resp: Response, thread_id: UUID, query: v1.ListQuery
    ) -> v1.ListMessagesResponse:
        await self._thread(req, thread_id)
        rows, more = await _listed(lambda *a: self._views.thread_messages(thread_id, *a), query)
        data = [_message(r) for r in rows]
        return v1.ListMessagesResponse(data, *_ends(data), more)

    @operation("Get a thread message", response=v1.OpenAIMessage, errors=(404,))
    async def on_get_one(self, req: Request, resp: Response, thread_id: UUID, message_id: UUID) -> v1.OpenAIMessage:
        await self._thread(req, thread_id)
        row = await self._views.thread_message(thread_id, message_id)
        if row is None:
            raise falcon.HTTPNotFound(description=f"No message found with id {message_id}")
        return _message(row)


class Runs(_Base):
    def __init__(self, assistants: AssistantCommands, commands: Commands, views: Views, config: Config) -> None:
        super().__init__(assistants, commands, views)
        self._config = config

    async def _shown(self, req: Request, row: dict[str, Any]) -> v1.OpenAIRun:
        assistant = await self._views.assistant(req.context.principal.user_id, row["assistant_id"])
        return _run(row, assistant)

    @operation(
        "Run the assistant on the thread's new messages (one agent turn)",
        body=v1.CreateRunRequest,
        response=v1.OpenAIRun,
        errors={404: "No such thread or assistant", 409: "The thread has no new messages to run on"},
    )
    async def on_post(self, req: Request, resp: Response, thread_id: UUID, body: v1.CreateRunRequest) -> v1.OpenAIRun:
        extra = " ".join(t for t in (body.instructions, body.additional_instructions) if t) or None
        cfg = self._config
        try:
            run_id = await self._run(
                self._assistants.start_run,
                req.context.principal.user_id,
                thread_id,
                body.assistant_id,
                extra,
                cfg.default_llm_config,
                cfg.default_embedding_config,
            )
        except TurnRefused as e:  # nothing new on the thread: its state, not this request, is at fault
            raise falcon.HTTPConflict(description=str(e)) from None
        return await self._shown(req, _caught_up(await self._views.run(thread_id, run_id)))

    @operation("List a thread's runs", query=v1.ListQuery, response=v1.ListRunsResponse, errors=(404,))
    async def on_get(self, req: Request, resp: Response, thread_id: UUID, query: v1.ListQuery) -> v1.ListRunsResponse:
        await self._thread(req, thread_id)
        rows, more = await _listed(lambda *a: self._views.runs(thread_id, *a), query)
        data = [await self._shown(req, r) for r in rows]
        return v1.ListRunsResponse(data, *_ends(data), more)

    @operation("Get a run; its status follows the agent's turn", response=v1.OpenAIRun, errors=(404,))
    async def on_get_one(self, req: Request, resp: Response, thread_id: UUID, run_id: UUID) -> v1.OpenAIRun:
        await self._thread(req, thread_id)
        row = await self._views.run(thread_id, run_id)
        if row is None:
            raise falcon.HTTPNotFound(description=f"No run found with id {run_id}")
        return await self._shown(req, row)
