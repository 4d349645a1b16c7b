"""/api/agents/{agent_id}/archival: list (offset or cursor), insert and delete passages."""

import asyncio
from typing import Any
from uuid import UUID

import falcon
from falcon.asgi import Request, Response

from api.http import operation
from api.resources.agents import AgentReader
from api.resources.history import Past
from api.schemas import memgpt as s
from domain import chunks
from domain.configs import EmbeddingConfig
from domain.services.agents import AgentCommands
from projections.views import Views
from runtime.adapters.embeddings import EmbedderSource, EmbeddingUnavailable
from runtime.commands import Commands

DEFAULT_PAGE = 100


class ArchivalPassages:
    def __init__(
        self,
        agents: AgentCommands,
        commands: Commands,
        views: Views,
        embedders: EmbedderSource,
        past: Past | None = None,
    ) -> None:
        self._agents = agents
        self._run = commands
        self._views = views
        self._embedders = embedders
        self._reader = AgentReader(views)
        self._past = past

    @operation(
        "List an agent's archival passages, oldest first",
        query=s.ArchivalQuery,
        response=s.GetAgentArchivalMemoryResponse,
        errors=(404,),
    )
    async def on_get(
        self, req: Request, resp: Response, agent_id: UUID, query: s.ArchivalQuery
    ) -> s.GetAgentArchivalMemoryResponse:
        limit = query.limit or query.count or DEFAULT_PAGE
        if self._past is not None and (query.at is not None or query.at_time is not None):
            rows = await self._past.passages(req, agent_id, query, limit)
        else:
            rows = await self._present(req, agent_id, query, limit)
        return s.GetAgentArchivalMemoryResponse(
            [s.ArchivalMemoryObject(r["id"], r["text"], r["created_at"].isoformat()) for r in rows]
        )

    async def _present(self, req: Request, agent_id: UUID, query: s.ArchivalQuery, limit: int) -> list[dict[str, Any]]:
        await self._reader.row(req, agent_id)
        if query.after and query.before:  # the page after `after`, ending where it reaches `before`
            rows = await self._views.passages(agent_id, query.start, limit, query.after)
            ids = [r["id"] for r in rows]
            rows = rows[: ids.index(query.before)] if query.before in ids else rows
        else:
            rows = await self._views.passages(agent_id, query.start, limit, query.after, query.before)
        return rows

    @operation(
        "Insert text into an agent's archival memory (chunked; embedded in the background)",
        body=s.InsertAgentArchivalMemoryRequest,
        response=s.InsertAgentArchivalMemoryResponse,
        errors={404: None, 409: "The agent's embedding_config names no usable embedding endpoint"},
    )
    async def on_post(
        self, req: Request, resp: Response, agent_id: UUID, body: s.InsertAgentArchivalMemoryRequest
    ) -> s.InsertAgentArchivalMemoryResponse:
        agent = await self._reader.row(req, agent_id)
        config = agent["embedding_config"]
        try:
            embedder = self._embedders.for_config(config)
        except EmbeddingUnavailable as e:  # the agent's own configuration, not this request, is at fault
            raise falcon.HTTPConflict(description=str(e)) from None
        pieces = await asyncio.to_thread(
            chunks.by_config, body.content, EmbeddingConfig.from_dict(config), embedder.count_tokens
        )
        ids = await self._run(self._agents.insert_passages, req.context.principal.user_id, agent_id, pieces)
        return s.InsertAgentArchivalMemoryResponse(ids)

    @operation("Delete a passage", query=s.PassageQuery, response=s.DeleteAgentArchivalMemoryResponse, errors=(404,))
    async def on_delete(
        self, req: Request, resp: Response, agent_id: UUID, query: s.PassageQuery
    ) -> s.DeleteAgentArchivalMemoryResponse:
        await self._reader.row(req, agent_id)
        if await self._views.passage(agent_id, query.id) is None:
            raise falcon.HTTPNotFound(description=f"Memory id={query.id} not found")
        await self._run(self._agents.delete_passage, req.context.principal.user_id, agent_id, query.id)
        return s.DeleteAgentArchivalMemoryResponse(f"Memory id={query.id} successfully deleted")
