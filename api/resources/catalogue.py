"""Humans, personas, presets, tools, models, configuration, and /api/auth.

Humans, personas and presets are the shared defaults plus the caller's own (events on the user);
tools are the functions agents can call.
"""

from typing import Any
from uuid import UUID

import falcon
from falcon.asgi import Request, Response

from api.auth import Authenticator
from api.http import operation
from api.paging import after_name
from api.schemas import memgpt as s
from domain import catalogue, configs
from domain.configs import EMBEDDED_CHAT_TYPES, LLMConfig
from domain.functions import SCHEMAS, TAGS, schemas_for
from domain.services.accounts import AccountCommands
from projections.views import Views
from runtime.adapters.wire import Wire, WireError
from runtime.commands import Commands
from runtime.config import EMBEDDED_EMBEDDING, EMBEDDED_LLM, Config
from runtime.endpoints import Endpoints, Provider


def _name(item: Any) -> str:
    return item.name


class _Texts:
    """Humans or personas: the shared defaults, then the caller's own."""

    kind = ""
    defaults: dict[str, str] = {}

    def __init__(self, accounts: AccountCommands, commands: Commands, views: Views) -> None:
        self._accounts = accounts
        self._run = commands
        self._views = views

    async def entries(self, req: Request) -> list[s.CatalogueEntry]:
        own = await self._views.catalogue(req.context.principal.user_id, self.kind)
        return [s.CatalogueEntry(n, t) for n, t in self.defaults.items()] + [
            s.CatalogueEntry(r["name"], r["body"]["text"]) for r in own
        ]

    async def create(self, req: Request, body: s.CreateCatalogueEntryRequest) -> s.CatalogueEntry:
        await self._run(self._accounts.save_text, req.context.principal.user_id, self.kind, body.name, body.text)
        return s.CatalogueEntry(body.name, body.text)

    async def one(self, req: Request, name: str) -> s.CatalogueEntry:
        for entry in await self.entries(req):
            if entry.name == name:
                return entry
        raise falcon.HTTPNotFound(description=f"No {self.kind} named {name!r}")


class Humans(_Texts):
    kind, defaults = "human", catalogue.HUMANS

    @operation("List humans: the shared defaults and your own", query=s.Page, response=s.ListHumansResponse)
    async def on_get(self, req: Request, resp: Response, query: s.Page) -> s.ListHumansResponse:
        return s.ListHumansResponse(after_name(await self.entries(req), _name, query.start_after, query.limit))

    @operation(
        "Store a human (name and text) for your agents",
        body=s.CreateCatalogueEntryRequest,
        response=s.CatalogueEntry,
        errors={409: "A shared default human has that name"},
    )
    async def on_post(self, req: Request, resp: Response, body: s.CreateCatalogueEntryRequest) -> s.CatalogueEntry:
        return await self.create(req, body)

    @operation("Get a human", response=s.CatalogueEntry, errors=(404,))
    async def on_get_one(self, req: Request, resp: Response, name: str) -> s.CatalogueEntry:
        return await self.one(req, name)


class Personas(_Texts):
    kind, defaults = "persona", catalogue.PERSONAS

    @operation("List personas: the shared defaults and your own", query=s.Page, response=s.ListPersonasResponse)
    async def on_get(self, req: Request, resp: Response, query: s.Page) -> s.ListPersonasResponse:
        return s.ListPersonasResponse(after_name(await self.entries(req), _name, query.start_after, query.limit))

    @operation(
        "Store a persona (name and text) for your agents",
        body=s.CreateCatalogueEntryRequest,
        response=s.CatalogueEntry,
        errors={409: "A shared default persona has that name"},
    )
    async def on_post(self, req: Request, resp: Response, body: s.CreateCatalogueEntryRequest) -> s.CatalogueEntry:
        return await self.create(req, body)

    @operation("Get a persona", response=s.CatalogueEntry, errors=(404,))
    async def on_get_one(self, req: Request, resp: Response, name: str) -> s.CatalogueEntry:
        return await self.one(req, name)


class Presets:
    def __init__(self, accounts: AccountCommands, commands: Commands, views: Views) -> None:
        self._accounts = accounts
        self._run = commands
        self._views = views

    async def _all(self, req: Request) -> list[s.PresetModel]:
        own = await self._views.catalogue(req.context.principal.user_id, "preset")
        return [_preset(p.name, p.system, list(p.functions)) for p in catalogue.PRESETS.values()] + [
            _preset(r["name"], r["body"]["system"], r["body"]["functions"]) for r in own
        ]

    @operation("List presets: the shared defaults and your own", query=s.Page, response=s.ListPresetsResponse)
    async def on_get(self, req: Request, resp: Response, query: s.Page) -> s.ListPresetsResponse:
        return s.ListPresetsResponse(after_name(await self._all(req), _name, query.start_after, query.limit))

    @operation(
        "Create a preset from a system prompt and function names",
        body=s.CreatePresetRequest,
        response=s.PresetModel,
        errors={409: "A shared default preset has that name"},
    )
    async def on_post(self, req: Request, resp: Response, body: s.CreatePresetRequest) -> s.PresetModel:
        await self._run(
            self._accounts.save_preset, req.context.principal.user_id, body.name, body.system_prompt, body.functions
        )
        return _preset(body.name, body.system_prompt, list(body.functions))

    @operation("Get a preset", response=s.PresetModel, errors=(404,))
    async def on_get_one(self, req: Request, resp: Response, name: str) -> s.PresetModel:
        for preset in await self._all(req):
            if preset.name == name:
                return preset
        raise falcon.HTTPNotFound(description=f"No preset named {name!r}")

    @operation(
        "Delete one of your presets",
        response=s.DeletePresetResponse,
        errors={404: "No preset of yours has that name", 409: "The shared default presets cannot be deleted"},
    )
    async def on_delete_one(self, req: Request, resp: Response, name: str) -> s.DeletePresetResponse:
        await self._run(self._accounts.delete_preset, req.context.principal.user_id, name)
        return s.DeletePresetResponse(f"Preset {name} successfully deleted")


def _preset(name: str, system: str, functions: list[str]) -> s.PresetModel:
    schemas = schemas_for(functions)
    return s.PresetModel(name, system, schemas, system, schemas)


def _tool(name: str) -> s.ToolModel:
    return s.ToolModel(name, SCHEMAS[name], TAGS[name])


class Tools:
    @operation(
        "List the functions agents can call, with their JSON schemas", query=s.Page, response=s.ListToolsResponse
    )
    async def on_get(self, req: Request, resp: Response, query: s.Page) -> s.ListToolsResponse:
        return s.ListToolsResponse(after_name([_tool(n) for n in SCHEMAS], _name, query.start_after, query.limit))

    @operation("Get one function's JSON schema", response=s.ToolModel, errors=(404,))
    async def on_get_one(self, req: Request, resp: Response, name: str) -> s.ToolModel:
        if name not in SCHEMAS:
            raise falcon.HTTPNotFound(description=f"No tool named {name!r}")
        return _tool(name)


def _entry(llm: LLMConfig, name: str | None = None, endpoint: str | None = None) -> s.ModelEntry:
    model = name or llm.model or ""
    kind, wrapper = llm.endpoint_type, llm.model_wrapper
    return s.ModelEntry(model, endpoint, kind, wrapper, llm.context_window, model, endpoint, kind, wrapper)


def _shown(endpoints: Endpoints, req: Request, endpoint: str | None) -> str | None:
    """An operator's endpoint as the caller may see it: its URL for the admin, its provider's name
    (which agents' configs accept in its place) for users."""
    return endpoint if req.context.principal.is_admin else endpoints.public_endpoint(endpoint)


class ModelList:
    """The operator's providers and their models (the default one also lists what its endpoint
    says it serves), and the embedded model. Users see providers by name, never by URL."""

    def __init__(self, config: Config, http: Wire) -> None:
        self._config = config
        self._http = http
        self._endpoints = Endpoints.of(config)

    async def _served(self, provider: Provider) -> list[str]:
        if provider.endpoint_type in ("local", "embedded", "azure"):
            return []
        headers = {"Authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}
        try:
            answer = await self._http.get(provider.endpoint.rstrip("/") + "/models", headers, timeout=5.0)
            return [str(m["id"]) for m in answer.json()["data"]] if answer.status == 200 else []
        except (WireError, ValueError, KeyError, TypeError):
            return []  # an endpoint that cannot list its models still has the configured one

    async def _entries(self, req: Request) -> list[s.ModelEntry]:
        llm = LLMConfig.from_dict(self._config.default_llm_config)
        default = self._endpoints.named(llm.model_endpoint)
        entries = [_entry(llm, endpoint=_shown(self._endpoints, req, llm.model_endpoint))]
        if default is not None and llm.model_endpoint_type not in EMBEDDED_CHAT_TYPES:
            served = default.models or tuple(await self._served(default))
            entries += [
                _entry(llm, name, _shown(self._endpoints, req, default.endpoint))
                for name in served
                if name != llm.model
            ]
        for provider in self._endpoints.providers:
            if provider is default or provider.name == "default-embedding":
                continue
            chat = LLMConfig(model_endpoint_type=provider.endpoint_type)
            shown = provider.endpoint if req.context.principal.is_admin else provider.name
            entries += [_entry(chat, name, shown) for name in provider.models or await self._served(provider)]
        if llm.model_endpoint_type not in EMBEDDED_CHAT_TYPES:
            entries.append(_entry(configs.EMBEDDED_LLM))
        return entries

    @operation(
        "List models: the operator's providers' (by name for users), and the embedded model",
        query=s.Page,
        response=s.ListModelsResponse,
    )
    async def on_get(self, req: Request, resp: Response, query: s.Page) -> s.ListModelsResponse:
        return s.ListModelsResponse(after_name(await self._entries(req), _name, query.start_after, query.limit))


def _mask(secret: str | None) -> str | None:
    return f"{secret[:3]}...{secret[-4:]}" if secret else None


class ServerConfig:
    """The server's configuration. The admin sees endpoints and paths, a key only masked; users see
    no paths, no key, and the operator's endpoints by their providers' names."""

    def __init__(self, config: Config, version: str) -> None:
        self._config = config
        self._version = version
        self._endpoints = Endpoints.of(config)

    def _document(
        self,
        admin: bool,
        llm: dict[str, Any],
        embedding: dict[str, Any],
        preset: str,
        persona: str,
        human: str,
    ) -> dict[str, Any]:
        storage = "postgres"
        if not admin:
            llm = llm | {"model_endpoint": self._endpoints.public_endpoint(llm.get("model_endpoint"))}
            embedding = embedding | {
                "embedding_endpoint": self._endpoints.public_endpoint(embedding.get("embedding_endpoint"))
            }
        return {
            "config_path": f"{self._config.home}/config" if admin else None,
            "anon_clientid": str(self._config.default_user_id),
            "preset": preset,
            "persona": persona,
            "human": human,
            "default_llm_config": llm,
            "default_embedding_config": embedding,
            "archival_storage_type": storage,
            "recall_storage_type": storage,
            "metadata_storage_type": storage,
            "archival_storage_uri": "***" if self._config.pg_uri else None,
            "recall_storage_uri": "***" if self._config.pg_uri else None,
            "metadata_storage_uri": "***" if self._config.pg_uri else None,
            "openai_key": _mask(self._config.openai_api_key) if admin else None,
            "memgpt_version": self._version,
        }

    @operation("The server's configuration and its built-in defaults, secrets masked", response=s.ConfigResponse)
    async def on_get(self, req: Request, resp: Response) -> s.ConfigResponse:
        cfg, admin = self._config, req.context.principal.is_admin
        return s.ConfigResponse(
            self._document(
                admin,
                cfg.default_llm_config,
                cfg.default_embedding_config,
                cfg.default_preset,
                cfg.default_persona,
                cfg.default_human,
            ),
            self._document(
                admin,
                EMBEDDED_LLM,
                EMBEDDED_EMBEDDING,
                catalogue.DEFAULT_PRESET,
                catalogue.DEFAULT_PERSONA,
                catalogue.DEFAULT_HUMAN,
            ),
        )


class Auth:
    """Exchanges the admin password for the default user's id (no bearer token needed)."""

    auth = None

    def __init__(self, authenticator: Authenticator, default_user_id: UUID) -> None:
        self._auth = authenticator
        self._default_user = default_user_id

    @operation(
        "Exchange the admin password for the default user id",
        body=s.AuthRequest,
        response=s.AuthResponse,
        errors={400: "Malformed body, or an incorrect password"},
    )
    async def on_post(self, req: Request, resp: Response, body: s.AuthRequest) -> s.AuthResponse:
        if not self._auth.is_admin_password(body.password):
            raise falcon.HTTPBadRequest(description="Incorrect password")
        return s.AuthResponse(self._default_user)
