"""`create_app(config)`: the Falcon ASGI app with every route wired to its collaborators."""

from dataclasses import dataclass
from typing import Any

import falcon.asgi

from api import errors
from api.auth import Authenticator, AuthMiddleware
from api.context import RequestContext
from api.http import ViewsLagHeader
from api.limits import RateLimits, UserLimits
from api.resources import admin, agents, archival, assistants, catalogue, events, health, history, messages, sources
from api.resources import metrics as metrics_
from api.resources import turns as turn_history
from projections.backlog import Backlogs
from projections.event_history import EventHistory
from projections.passage_history import PassagesThen
from projections.positions import Positions
from runtime.bootstrap import Services, bootstrap
from runtime.commands import Commands
from runtime.config import Config
from runtime.event_follow import HistoryFollower
from runtime.turns.follow import TurnFollower
from runtime.turns.history import TurnHistory

VERSION = "0.3.4"  # the MemGPT API release this server speaks
METRICS_PATH = "/metrics"  # Prometheus text, admin password only


@dataclass(frozen=True)
class Route:
    path: str
    resource: type
    suffix: str | None = None
    document: str = "memgpt"  # the OpenAPI document that describes it: "memgpt" or "assistants"


ROUTES: tuple[Route, ...] = (
    Route("/health", health.Health),
    Route("/ready", health.Ready),
    Route("/admin/users", admin.Users),
    Route("/admin/users/{user_id:uuid}", admin.Users, "one"),
    Route("/admin/users/keys", admin.Keys),
    Route("/admin/views", admin.SetAside),
    Route("/admin/views/retry", admin.SetAside, "retry"),
    Route("/admin/events", events.AdminEvents),
    Route("/api/auth", catalogue.Auth),
    Route("/api/agents", agents.AgentList),
    Route("/api/agents/config", agents.AgentConfig),
    Route("/api/agents/rename", agents.AgentRename),
    Route("/api/agents/memory", agents.AgentMemory),
    Route("/api/agents/{agent_id:uuid}", agents.AgentItem),
    Route("/api/agents/{agent_id:uuid}/config", agents.AgentConfig, "path"),
    Route("/api/agents/{agent_id:uuid}/rename", agents.AgentRename, "path"),
    Route("/api/agents/{agent_id:uuid}/memory", agents.AgentMemory, "path"),
    Route("/api/agents/{agent_id:uuid}/archival", archival.ArchivalPassages),
    Route("/api/agents/{agent_id:uuid}/context", history.AgentContext),
    Route("/api/agents/{agent_id:uuid}/diff", history.AgentDiff),
    Route("/api/agents/{agent_id:uuid}/revert", history.AgentRevert),
    Route("/api/agents/{agent_id:uuid}/fork", history.AgentFork),
    Route("/api/agents/message", messages.Messages),
    Route("/api/agents/{agent_id:uuid}/messages", messages.Messages, "path"),
    Route("/api/agents/{agent_id:uuid}/messages-cursor", messages.Messages, "cursor"),
    Route("/api/agents/{agent_id:uuid}/turns", turn_history.Turns),
    Route("/api/agents/{agent_id:uuid}/turns/{turn_id:uuid}", turn_history.Turns, "one"),
    Route("/api/agents/{agent_id:uuid}/events", events.AgentEvents),
    Route("/api/events", events.UserEvents),
    Route("/api/agents/command", messages.Command),
    Route("/api/agents/{agent_id:uuid}/command", messages.Command, "path"),
    Route("/api/humans", catalogue.Humans),
    Route("/api/humans/{name}", catalogue.Humans, "one"),
    Route("/api/personas", catalogue.Personas),
    Route("/api/personas/{name}", catalogue.Personas, "one"),
    Route("/api/presets", catalogue.Presets),
    Route("/api/presets/{name}", catalogue.Presets, "one"),
    Route("/api/tools", catalogue.Tools),
    Route("/api/tools/{name}", catalogue.Tools, "one"),
    Route("/api/models", catalogue.ModelList),
    Route("/api/config", catalogue.ServerConfig),
    Route("/api/sources", sources.SourceList),
    Route("/api/sources/{source_id:uuid}", sources.SourceList, "one"),
    Route("/api/sources/upload", sources.SourceList, "upload"),
    Route("/api/sources/{source_id:uuid}/upload", sources.SourceList, "upload_path"),
    Route("/api/sources/attach", sources.Attachments, "attach"),
    Route("/api/sources/detach", sources.Attachments, "detach"),
    Route("/api/sources/{source_id:uuid}/attach", sources.Attachments, "attach_path"),
    Route("/api/sources/{source_id:uuid}/detach", sources.Attachments, "detach_path"),
    Route("/api/sources/{source_id:uuid}/passages", sources.SourceContents, "passages"),
    Route("/api/sources/{source_id:uuid}/documents", sources.SourceContents, "documents"),
    Route("/v1/assistants", assistants.AssistantList, document="assistants"),
    Route("/v1/assistants/{assistant_id:uuid}", assistants.AssistantList, "one", "assistants"),
    Route("/v1/threads", assistants.Threads, document="assistants"),
    Route("/v1/threads/{thread_id:uuid}", assistants.Threads, "one", "assistants"),
    Route("/v1/threads/{thread_id:uuid}/messages", assistants.ThreadMessages, document="assistants"),
    Route("/v1/threads/{thread_id:uuid}/messages/{message_id:uuid}", assistants.ThreadMessages, "one", "assistants"),
    Route("/v1/threads/{thread_id:uuid}/runs", assistants.Runs, document="assistants"),
    Route("/v1/threads/{thread_id:uuid}/runs/{run_id:uuid}", assistants.Runs, "one", "assistants"),
)


class Lifecycle:
    """Opens the event-loop side of the services at start-up and closes everything at exit."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def process_startup(self, scope: dict, event: dict) -> None:
        await self._services.open()

    async def process_shutdown(self, scope: dict, event: dict) -> None:
        await self._services.close()


def _resources(services: Services, authenticator: Authenticator) -> dict[type, Any]:
    cfg, groups, views = services.config, services.commands, services.views
    run = Commands(services.watch, cfg.view_wait_seconds, services.metrics)
    follower = TurnFollower(run, services.tail, cfg.turn_timeout, services.turns)
    limits = UserLimits(views, cfg)
    services.metrics.open_streams.set_function(limits.open_streams)
    reads = EventHistory(services.pool, groups.store.mapper)
    event_history = events.History(HistoryFollower(reads, services.tail, services.watch), reads, cfg, limits)
    accounts, agents_, turns = groups.accounts, groups.agents, groups.turns
    past = history.Past(groups.history, Positions(services.pool), views, run, PassagesThen(services.pool))
    return {
        health.Health: health.Health(),
        health.Ready: health.Ready(views, services.watch),
        messages.Messages: messages.Messages(turns, follower, views, limits),
        archival.ArchivalPassages: archival.ArchivalPassages(agents_, run, views, services.embedders, past),
        messages.Command: messages.Command(agents_, turns, run, follower, views, limits),
        admin.Users: admin.Users(accounts, run, views, cfg.default_user_id),
        admin.Keys: admin.Keys(accounts, run, views),
        admin.SetAside: admin.SetAside(groups.store, services.database.dsn),
        catalogue.Auth: catalogue.Auth(authenticator, cfg.default_user_id),
        agents.AgentList: agents.AgentList(agents_, run, views, cfg),
        agents.AgentItem: agents.AgentItem(agents_, run, views, cfg, past),
        agents.AgentConfig: agents.AgentConfig(views, cfg),
        agents.AgentRename: agents.AgentRename(agents_, run, views, cfg),
        agents.AgentMemory: agents.AgentMemory(agents_, run, views, past),
        history.AgentContext: history.AgentContext(past),
        history.AgentDiff: history.AgentDiff(past),
        history.AgentRevert: history.AgentRevert(past, run, views, cfg),
        history.AgentFork: history.AgentFork(past, run, views, cfg),
        catalogue.Humans: catalogue.Humans(accounts, run, views),
        catalogue.Personas: catalogue.Personas(accounts, run, views),
        catalogue.Presets: catalogue.Presets(accounts, run, views),
        catalogue.Tools: catalogue.Tools(),
        sources.SourceList: sources.SourceList(groups.sources, run, views, cfg, services.embedders),
        sources.Attachments: sources.Attachments(groups.sources, run, views),
        sources.SourceContents: sources.SourceContents(groups.sources, run, views),
        assistants.AssistantList: assistants.AssistantList(groups.assistants, run, views),
        assistants.Threads: assistants.Threads(groups.assistants, run, views),
        assistants.ThreadMessages: assistants.ThreadMessages(groups.assistants, run, views),
        assistants.Runs: assistants.Runs(groups.assistants, run, views, cfg),
        catalogue.ModelList: catalogue.ModelList(cfg, services.http),
        catalogue.ServerConfig: catalogue.ServerConfig(cfg, VERSION),
        turn_history.Turns: turn_history.Turns(views, TurnHistory(groups.store, views, services.models)),
        events.AgentEvents: events.AgentEvents(event_history, views),
        events.UserEvents: events.UserEvents(event_history),
        events.AdminEvents: events.AdminEvents(event_history),
        metrics_.Exposition: metrics_.Exposition(services.metrics, Backlogs(services.pool), services.tail),
    }


def create_app(config: Config, services: Services | None = None) -> falcon.asgi.App:
    services = services or bootstrap(config)
    authenticator = Authenticator(services.views, config.server_password, config.default_user_id)
    app = falcon.asgi.App(
        middleware=[
            metrics_.RequestMetrics(services.metrics.http_requests),
            RequestContext(config.max_body_bytes),
            AuthMiddleware(authenticator),
            RateLimits(config),
            Lifecycle(services),
            ViewsLagHeader(),
        ]
    )
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app)
    resources = _resources(services, authenticator)
    for route in ROUTES:
        app.add_route(route.path, resources[route.resource], **({"suffix": route.suffix} if route.suffix else {}))
    app.add_route(METRICS_PATH, resources[metrics_.Exposition])  # not in ROUTES: no OpenAPI document has it
    return app
