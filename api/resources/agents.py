"""/api/agents: create, list, read, rename and delete agents, and edit their core memory.

Each route is served in both forms clients use: the 0.3.4 form with `agent_id` in the query or
body, and the later form with the id in the path.
"""

from typing import TYPE_CHECKING, Any
from uuid import UUID

import falcon
import msgspec
from falcon.asgi import Request, Response

from api.errors import RETRY_AFTER
from api.http import operation
from api.paging import next_cursor
from api.schemas import memgpt as s
from domain.errors import UnknownCatalogueEntry
from domain.functions import schemas_for
from domain.services.agents import AgentCommands
from projections.views import Views
from runtime.commands import Commands, views_lagging
from runtime.config import Config
from runtime.endpoints import EndpointRefused, Endpoints

if TYPE_CHECKING:  # the past's reader builds on this module's AgentReader
    from api.resources.history import Past


def merged_config(defaults: dict[str, Any], given: msgspec.Struct | None) -> dict[str, Any]:
    """Fields the client sent as null or left out fall back to the server's defaults."""
    chosen = {k: v for k, v in msgspec.structs.asdict(given).items() if v is not None} if given else {}
    return defaults | chosen


def _public(row: dict[str, Any], endpoints: Endpoints | None) -> dict[str, Any]:
    """The row as a user may see it: an operator's endpoint URL becomes its provider's name."""
    if endpoints is None:
        return row
    llm, embedding = row["llm_config"], row["embedding_config"]
    return row | {
        "llm_config": llm | {"model_endpoint": endpoints.public_endpoint(llm.get("model_endpoint"))},
        "embedding_config": embedding
        | {"embedding_endpoint": endpoints.public_endpoint(embedding.get("embedding_endpoint"))},
    }


def agent_state(row: dict[str, Any]) -> s.AgentStateModel:
    core = row["core_memory"]
    return s.AgentStateModel(
        id=row["id"],
        name=row["name"],
        user_id=row["user_id"],
        preset=row["preset"],
        persona=row["persona_name"],
        human=row["human_name"],
        llm_config=msgspec.convert(row["llm_config"], s.LLMConfigModel),
        embedding_config=msgspec.convert(row["embedding_config"], s.EmbeddingConfigModel),
        state={
            "persona": core["persona"],
            "human": core["human"],
            "system": row["system"],
            "functions": schemas_for(row["functions"]),
            "messages": row["message_ids"],
        },
        created_at=int(row["created_at"].timestamp()),
        functions_schema=schemas_for(row["functions"]),
    )


def _summary(row: dict[str, Any]) -> s.AgentSummary:
    return s.AgentSummary(
        id=row["id"],
        name=row["name"],
        human=row["human_name"],
        persona=row["persona_name"],
        preset=row["preset"],
        user_id=row["user_id"],
        llm_config=msgspec.convert(row["llm_config"], s.LLMConfigModel),
        embedding_config=msgspec.convert(row["embedding_config"], s.EmbeddingConfigModel),
        created_at=row["created_at"].isoformat(),
    )


class AgentReader:
    """Reads one agent of the caller from the agents view; 404 for missing and foreign ids. Given
    the configuration, users see the operator's endpoints by their providers' names."""

    def __init__(self, views: Views, config: Config | None = None) -> None:
        self._views = views
        self._endpoints = Endpoints.of(config) if config is not None else None

    def shown(self, req: Request, row: dict[str, Any]) -> dict[str, Any]:
        return row if req.context.principal.is_admin else _public(row, self._endpoints)

    async def row(self, req: Request, agent_id: UUID, context: bool = False) -> dict[str, Any]:
        """The agents view's row; with `context`, with its messages in context (`message_ids`)."""
        row = await self._views.agent(req.context.principal.user_id, agent_id, context)
        if row is None and views_lagging():  # this request's own write stands; the view is behind
            raise falcon.HTTPServiceUnavailable(
                description="Saved, but not readable yet; read it again shortly.", retry_after=RETRY_AFTER
            )
        if row is None:
            raise falcon.HTTPNotFound(description=f"Agent agent_id={agent_id} not found")
        return row

    async def response(
        self, req: Request, agent_id: UUID, past: dict[str, Any] | None = None, position: int | None = None
    ) -> s.AgentStateResponse:
        """`{"agent_state": ...}`, with the preset, attached sources and last activity beside it;
        `past` (a row as it stood at log `position`) instead of the current row for `at=` reads.
        The attached sources are always today's."""
        row = self.shown(req, past if past is not None else await self.row(req, agent_id, context=True))
        preset = s.AgentPreset(
            row["preset"], row["system"], schemas_for(row["functions"]), row["persona_name"], row["human_name"]
        )
        last = await self._views.last_message_at(agent_id, position)
        return s.AgentStateResponse(
            agent_state(row),
            preset,
            await self._views.attached_sources(agent_id),
            int(last.timestamp()) if last else None,
        )


class AgentList:
    def __init__(self, agents: AgentCommands, commands: Commands, views: Views, config: Config) -> None:
        self._agents = agents
        self._run = commands
        self._views = views
        self._reader = AgentReader(views, config)
        self._config = config
        self._endpoints = Endpoints.of(config)

    async def _configs(self, given: s.AgentConfigInput) -> tuple[dict[str, Any], dict[str, Any]]:
        """The llm and embedding configs to store: the defaults, with what the client chose among
        the operator's providers (or, where the operator allows it, endpoints of the user's own)."""
        try:
            llm = await self._endpoints.accept(merged_config(self._config.default_llm_config, given.llm_config), "llm")
            embedding = await self._endpoints.accept(
                merged_config(self._config.default_embedding_config, given.embedding_config), "embedding"
            )
        except EndpointRefused as e:
            raise falcon.HTTPUnprocessableEntity(description=str(e)) from None
        return llm, embedding

    @operation("List the caller's agents, oldest first", query=s.IdPage, response=s.ListAgentsResponse)
    async def on_get(self, req: Request, resp: Response, query: s.IdPage) -> s.ListAgentsResponse:
        user_id = req.context.principal.user_id
        rows = await self._views.agents(user_id, query.start_after, query.limit)
        total = (
            len(rows) if query.limit is None and query.start_after is None else await self._views.agent_count(user_id)
        )
        return s.ListAgentsResponse(
            total,
            [_summary(self._reader.shown(req, r)) for r in rows],
            next_cursor([r["id"] for r in rows], query.limit),
        )

    @operation(
        "Create an agent",
        body=s.CreateAgentRequest,
        response=s.AgentStateResponse,
        errors={
            404: "No preset, persona or human of that name",
            409: "An agent of that name exists",
            422: "An endpoint that is not one of the server's providers (or, where users' endpoints are allowed,"
            " one on an internal address)",
        },
    )
    async def on_post(self, req: Request, resp: Response, body: s.CreateAgentRequest) -> s.AgentStateResponse:
        given, defaults = body.config, self._config
        llm, embedding = await self._configs(given)
        try:
            agent = await self._run(
                self._agents.create_agent,
                req.context.principal.user_id,
                given.name,
                given.preset or defaults.default_preset,
                given.persona or defaults.default_persona,
                given.human or defaults.default_human,
                llm,
                embedding,
            )
        except UnknownCatalogueEntry as e:  # names a resource (GET /api/personas/{name}...) that is not there
            raise falcon.HTTPNotFound(description=str(e)) from None
        return await self._reader.response(req, agent.id)

    @operation("Delete an agent", query=s.AgentQuery, response=s.DeleteAgentResponse, errors=(404,))
    async def on_delete(self, req: Request, resp: Response, query: s.AgentQuery) -> s.DeleteAgentResponse:
        return await _delete(self._agents, self._run, req, query.agent_id)


async def _delete(agents: AgentCommands, run: Commands, req: Request, agent_id: UUID) -> s.DeleteAgentResponse:
    await run(agents.delete_agent, req.context.principal.user_id, agent_id)
    return s.DeleteAgentResponse(f"Agent agent_id={agent_id} successfully deleted")


class AgentItem:
    """/api/agents/{agent_id}: one agent's state, or its deletion."""

    def __init__(
        self,
        agents: AgentCommands,
        commands: Commands,
        views: Views,
        config: Config | None = None,
        past: "Past | None" = None,
    ) -> None:
        self._agents = agents
        self._run = commands
        self._reader = AgentReader(views, config)
        self._past = past

    @operation(
        "Get an agent's state (now, or at a past position)",
        query=s.PastQuery,
        response=s.AgentStateResponse,
        errors=(404,),
    )
    async def on_get(self, req: Request, resp: Response, agent_id: UUID, query: s.PastQuery) -> s.AgentStateResponse:
        if self._past is None or (query.at is None and query.at_time is None):
            return await self._reader.response(req, agent_id)
        row, position = await self._past.row(req, agent_id, query)
        return await self._reader.response(req, agent_id, row, position)

    @operation("Delete an agent", response=s.DeleteAgentResponse, errors=(404,))
    async def on_delete(self, req: Request, resp: Response, agent_id: UUID) -> s.DeleteAgentResponse:
        return await _delete(self._agents, self._run, req, agent_id)


class AgentConfig:
    """/api/agents/config?agent_id= (0.3.4)."""

    def __init__(self, views: Views, config: Config | None = None) -> None:
        self._reader = AgentReader(views, config)

    @operation("Get an agent's state", query=s.AgentQuery, response=s.AgentStateResponse, errors=(404,))
    async def on_get(self, req: Request, resp: Response, query: s.AgentQuery) -> s.AgentStateResponse:
        return await self._reader.response(req, query.agent_id)

    @operation("Get an agent's state", response=s.AgentStateResponse, errors=(404,))
    async def on_get_path(self, req: Request, resp: Response, agent_id: UUID) -> s.AgentStateResponse:
        return await self._reader.response(req, agent_id)


_RENAME_ERRORS = {404: None, 409: "Another agent of the caller has that name"}


class AgentRename:
    def __init__(self, agents: AgentCommands, commands: Commands, views: Views, config: Config | None = None) -> None:
        self._agents = agents
        self._run = commands
        self._reader = AgentReader(views, config)

    async def _rename(self, req: Request, agent_id: UUID, name: str) -> s.AgentStateResponse:
        await self._run(self._agents.rename_agent, req.context.principal.user_id, agent_id, name)
        return await self._reader.response(req, agent_id)

    @operation("Rename an agent", body=s.AgentRenameRequest, response=s.AgentStateResponse, errors=_RENAME_ERRORS)
    async def on_patch(self, req: Request, resp: Response, body: s.AgentRenameRequest) -> s.AgentStateResponse:
        return await self._rename(req, body.agent_id, body.agent_name)

    @operation("Rename an agent", body=s.AgentRenameBody, response=s.AgentStateResponse, errors=_RENAME_ERRORS)
    async def on_patch_path(
        self, req: Request, resp: Response, agent_id: UUID, body: s.AgentRenameBody
    ) -> s.AgentStateResponse:
        return await self._rename(req, agent_id, body.agent_name)


class AgentMemory:
    def __init__(self, agents: AgentCommands, commands: Commands, views: Views, past: "Past | None" = None) -> None:
        self._agents = agents
        self._run = commands
        self._views = views
        self._reader = AgentReader(views)
        self._past = past

    async def _read(self, req: Request, agent_id: UUID) -> s.GetAgentMemoryResponse:
        row = await self._reader.row(req, agent_id)
        core = row["core_memory"]
        recall = sum((await self._views.message_counts(agent_id)).values())
        archival = await self._views.passage_count(agent_id)
        return s.GetAgentMemoryResponse(s.CoreMemory(core["persona"], core["human"]), recall, archival)

    async def _edit(
        self, req: Request, agent_id: UUID, persona: str | None, human: str | None
    ) -> s.UpdateAgentMemoryResponse:
        old, new = await self._run(
            self._agents.edit_core_memory, req.context.principal.user_id, agent_id, persona, human
        )
        return s.UpdateAgentMemoryResponse(s.CoreMemory(**old), s.CoreMemory(**new))

    @operation("Get an agent's memory", query=s.AgentQuery, response=s.GetAgentMemoryResponse, errors=(404,))
    async def on_get(self, req: Request, resp: Response, query: s.AgentQuery) -> s.GetAgentMemoryResponse:
        return await self._read(req, query.agent_id)

    @operation(
        "Get an agent's memory (now, or at a past position)",
        query=s.PastQuery,
        response=s.GetAgentMemoryResponse,
        errors=(404,),
    )
    async def on_get_path(
        self, req: Request, resp: Response, agent_id: UUID, query: s.PastQuery
    ) -> s.GetAgentMemoryResponse:
        if self._past is None or (query.at is None and query.at_time is None):
            return await self._read(req, agent_id)
        agent, _ = await self._past.agent(req, agent_id, query)
        core = agent.core_memory
        return s.GetAgentMemoryResponse(
            s.CoreMemory(core["persona"], core["human"]), agent.recall_count, agent.archival_count
        )

    @operation(
        "Overwrite sections of an agent's core memory",
        body=s.UpdateAgentMemoryRequest,
        response=s.UpdateAgentMemoryResponse,
        errors=(404,),
    )
    async def on_post(
        self, req: Request, resp: Response, body: s.UpdateAgentMemoryRequest
    ) -> s.UpdateAgentMemoryResponse:
        return await self._edit(req, body.agent_id, body.persona, body.human)

    @operation(
        "Overwrite sections of an agent's core memory",
        body=s.UpdateAgentMemoryBody,
        response=s.UpdateAgentMemoryResponse,
        errors=(404,),
    )
    async def on_post_path(
        self, req: Request, resp: Response, agent_id: UUID, body: s.UpdateAgentMemoryBody
    ) -> s.UpdateAgentMemoryResponse:
        return await self._edit(req, agent_id, body.persona, body.human)
