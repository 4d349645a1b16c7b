"""/api/sources: data sources (upload documents, list them) and attaching them to agents."""

import asyncio
from typing import Any
from uuid import UUID

import falcon
import msgspec
from falcon.asgi import Request, Response

from api.http import operation, read_upload
from api.paging import next_cursor
from api.schemas import memgpt as s
from domain import chunks
from domain.configs import EmbeddingConfig
from domain.messages import clean
from domain.services.sources import SourceCommands
from projections.views import Views
from runtime.adapters.documents import DocumentTooLarge, read_text
from runtime.adapters.embeddings import EmbedderSource
from runtime.commands import Commands
from runtime.config import Config

UPLOAD_LIMIT = 20 * 1024 * 1024
_UPLOAD_ERRORS = {
    404: None,
    413: "The file is larger than 20 MiB, or unpacks (DOCX) or extracts to more than the limits allow",
    422: "The file is not text (UTF-8), Markdown, PDF or DOCX, or cannot be read (malformed, encrypted, "
    "XML entities, too slow to parse); or a parameter breaks a rule",
}


def source_model(row: dict[str, Any]) -> s.SourceModel:
    return s.SourceModel(
        row["id"],
        row["name"],
        row["description"],
        row["user_id"],
        row["created_at"].isoformat(),
        msgspec.convert(row["embedding_config"], s.EmbeddingConfigModel),
    )


class _Base:
    def __init__(self, sources: SourceCommands, commands: Commands, views: Views) -> None:
        self._sources = sources
        self._run = commands
        self._views = views

    async def _row(self, req: Request, source_id: UUID | None = None, name: str | None = None) -> dict[str, Any]:
        row = await self._views.source(req.context.principal.user_id, source_id, name)
        if row is None:
            raise falcon.HTTPNotFound(
                description=f"No source found with {'id ' + str(source_id) if source_id else 'name ' + repr(name)}"
            )
        return row


class SourceList(_Base):
    def __init__(
        self, sources: SourceCommands, commands: Commands, views: Views, config: Config, embedders: EmbedderSource
    ) -> None:
        super().__init__(sources, commands, views)
        self._config = config
        self._embedders = embedders

    @operation("List your data sources", query=s.IdPage, response=s.ListSourcesResponse)
    async def on_get(self, req: Request, resp: Response, query: s.IdPage) -> s.ListSourcesResponse:
        rows = await self._views.sources(req.context.principal.user_id, query.start_after, query.limit)
        return s.ListSourcesResponse([source_model(r) for r in rows], next_cursor([r["id"] for r in rows], query.limit))

    @operation("Create a data source", body=s.CreateSourceRequest, response=s.SourceModel)
    async def on_post(self, req: Request, resp: Response, body: s.CreateSourceRequest) -> s.SourceModel:
        made = await self._run(
            self._sources.create_source,
            req.context.principal.user_id,
            body.name,
            body.description,
            self._config.default_embedding_config,
        )
        return source_model(await self._row(req, made.id))

    @operation("Get a data source", response=s.SourceModel, errors=(404,))
    async def on_get_one(self, req: Request, resp: Response, source_id: UUID) -> s.SourceModel:
        return source_model(await self._row(req, source_id))

    @operation(
        "Delete a data source (agents keep the passages they were given)",
        response=s.DeleteSourceResponse,
        errors=(404,),
    )
    async def on_delete_one(self, req: Request, resp: Response, source_id: UUID) -> s.DeleteSourceResponse:
        await self._run(self._sources.delete_source, req.context.principal.user_id, source_id)
        return s.DeleteSourceResponse(f"Source id={source_id} successfully deleted")

    async def _upload(self, req: Request, source_id: UUID) -> s.UploadFileToSourceResponse:
        row = await self._row(req, source_id)
        filename, data = await read_upload(req, UPLOAD_LIMIT)
        try:
            text = await read_text(filename, data)
        except DocumentTooLarge as e:
            raise falcon.HTTPContentTooLarge(description=str(e)) from None
        text = clean(text) or ""  # storable: no NUL or lone surrogate may reach a view
        config = row["embedding_config"]
        embedder = self._embedders.for_config(config)
        pieces = await asyncio.to_thread(
            chunks.by_config, text, EmbeddingConfig.from_dict(config), embedder.count_tokens
        )
        _, added = await self._run(
            self._sources.add_document, req.context.principal.user_id, source_id, filename, pieces
        )
        return s.UploadFileToSourceResponse(source_model(row), added, 1)

    @operation(
        "Upload a document (text, Markdown, PDF, DOCX) into a source",
        query=s.SourceQuery,
        response=s.UploadFileToSourceResponse,
        errors=_UPLOAD_ERRORS,
        upload=True,
    )
    async def on_post_upload(self, req: Request, resp: Response, query: s.SourceQuery) -> s.UploadFileToSourceResponse:
        return await self._upload(req, query.source_id)

    @operation(
        "Upload a document (text, Markdown, PDF, DOCX) into a source",
        response=s.UploadFileToSourceResponse,
        errors=_UPLOAD_ERRORS,
        upload=True,
    )
    async def on_post_upload_path(self, req: Request, resp: Response, source_id: UUID) -> s.UploadFileToSourceResponse:
        return await self._upload(req, source_id)


_ATTACH_ERRORS = {404: "No such agent or source", 409: "The source is already attached to the agent"}
_DETACH_ERRORS = {404: "No such agent or source", 409: "The source is not attached to the agent"}


class Attachments(_Base):
    """Attach (copy passages into the agent's archival memory) and detach (remove them again)."""

    async def _change(
        self, req: Request, agent_id: UUID, source_id: UUID | None, name: str | None, attach: bool
    ) -> s.SourceModel:
        row = await self._row(req, source_id, name)
        command = self._sources.attach_source if attach else self._sources.detach_source
        await self._run(command, req.context.principal.user_id, row["id"], agent_id)
        return source_model(row)

    @operation("Attach a source to an agent", query=s.AttachQuery, response=s.SourceModel, errors=_ATTACH_ERRORS)
    async def on_post_attach(self, req: Request, resp: Response, query: s.AttachQuery) -> s.SourceModel:
        return await self._change(req, query.agent_id, query.source_id, query.source_name, attach=True)

    @operation("Detach a source from an agent", query=s.AttachQuery, response=s.SourceModel, errors=_DETACH_ERRORS)
    async def on_post_detach(self, req: Request, resp: Response, query: s.AttachQuery) -> s.SourceModel:
        return await self._change(req, query.agent_id, query.source_id, query.source_name, attach=False)

    @operation("Attach a source to an agent", query=s.AgentOnlyQuery, response=s.SourceModel, errors=_ATTACH_ERRORS)
    async def on_post_attach_path(
        self, req: Request, resp: Response, source_id: UUID, query: s.AgentOnlyQuery
    ) -> s.SourceModel:
        return await self._change(req, query.agent_id, source_id, None, attach=True)

    @operation("Detach a source from an agent", query=s.AgentOnlyQuery, response=s.SourceModel, errors=_DETACH_ERRORS)
    async def on_post_detach_path(
        self, req: Request, resp: Response, source_id: UUID, query: s.AgentOnlyQuery
    ) -> s.SourceModel:
        return await self._change(req, query.agent_id, source_id, None, attach=False)


class SourceContents(_Base):
    @operation(
        "List a source's passages, in document order",
        query=s.IdPage,
        response=s.ListSourcePassagesResponse,
        errors=(404,),
    )
    async def on_get_passages(
        self, req: Request, resp: Response, source_id: UUID, query: s.IdPage
    ) -> s.ListSourcePassagesResponse:
        await self._row(req, source_id)
        rows = await self._views.source_passages(source_id, query.start_after, query.limit)
        return s.ListSourcePassagesResponse(
            [s.SourcePassage(r["id"], r["text"], r["document_id"], r["created_at"].isoformat()) for r in rows]
        )

    @operation("List a source's documents", query=s.IdPage, response=s.ListSourceDocumentsResponse, errors=(404,))
    async def on_get_documents(
        self, req: Request, resp: Response, source_id: UUID, query: s.IdPage
    ) -> s.ListSourceDocumentsResponse:
        await self._row(req, source_id)
        rows = await self._views.source_documents(source_id, query.start_after, query.limit)
        return s.ListSourceDocumentsResponse(
            [s.SourceDocument(r["id"], r["filename"], r["passages"], r["created_at"].isoformat()) for r in rows]
        )
