"""Builds the object graph once: database, migrations, application, views, tail and runners.

Synchronous pieces (starting an embedded PostgreSQL, migrating) run here, before the event loop
serves requests; `Services.open()`/`close()` handle the parts that live on the event loop.
"""

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import structlog
from psycopg_pool import AsyncConnectionPool

import migrations
from domain import configs
from domain.services.app import CommandGroups, MemGPT
from projections.passages import EmbeddingQueue
from projections.runner import VIEW_NAMES, ProjectionHost
from projections.search import Search
from projections.views import Views
from projections.watch import ProjectionWatch
from runtime.adapters.embedded import EmbeddedChat
from runtime.adapters.embeddings import Embedders, EmbedderSource
from runtime.adapters.llm import Models, ModelSource, Retry
from runtime.adapters.wire import Wire
from runtime.archival import Archival, EmbeddingFiller
from runtime.config import Config
from runtime.database import (
    POOL_TIMEOUT,
    RECONNECT_TIMEOUT,
    CheckedPool,
    Database,
    bound_reconnects,
    eventsourcing_env,
)
from runtime.endpoints import Endpoints
from runtime.metrics import Metrics, TimedModels
from runtime.tail import LogTail
from runtime.turns.leases import Leases
from runtime.turns.memories import Memories
from runtime.turns.runner import TurnRunner
from runtime.views_process import ViewsProcess

log = structlog.get_logger(__name__)

# How long a thread may hold the GIL while another waits for it. A command's thread waits on
# PostgreSQL several times per save and must win the GIL back after each wait; at Python's 5 ms
# default, the views' and the event loop's threads made each save take 5-10 ms (issue 14's
# profile); at 0.5 ms a whole turn took half the time.
SWITCH_SECONDS = 0.0005


@dataclass
class Services:
    config: Config
    database: Database
    commands: CommandGroups
    views: Views
    watch: ProjectionWatch
    projections: ProjectionHost  # in a thread: a standby while `views_process` holds the views
    tail: LogTail
    turns: TurnRunner | None
    embedders: EmbedderSource
    archival: Archival
    filler: EmbeddingFiller
    http: Wire
    pool: AsyncConnectionPool
    locks: AsyncConnectionPool
    metrics: Metrics  # this server's own registry of metrics (/metrics)
    embedded: EmbeddedChat | None = None  # its model process is stopped with the server
    models: ModelSource | None = None  # the chat adapters (turn histories show their request bodies)
    views_process: ViewsProcess | None = None  # the views' own process, when configured

    async def open(self) -> None:
        self.database.supervise()
        await self.pool.open(wait=True)
        await self.locks.open(wait=True)
        await self.watch.start()
        await self.tail.start()
        if self.views_process is not None:
            await self.views_process.start()
        self.projections.start()
        await self.filler.start()
        if self.turns:
            await self.turns.start()

    def close_streams(self) -> None:
        """Ends every open stream now, so a shutdown does not wait on idle clients."""
        self.tail.close_subscribers()

    async def close(self) -> None:
        if self.turns:
            await self.turns.stop()
        if self.embedded:
            await self.embedded.close()
        await self.filler.stop()
        await self.tail.stop()
        await self.watch.stop()
        await self.http.close()
        await self.locks.close()
        await self.pool.close()
        if self.views_process is not None:
            await self.views_process.stop()
        await asyncio.to_thread(self.projections.stop)
        self.metrics.threads.stop()
        self.commands.store.close()
        self.database.stop()


def _pool(dsn: str, size: int) -> AsyncConnectionPool:
    """A pool that gives up on a lost database quickly (the request answers 503) and checks a
    connection that sat idle before lending it, so connections the database dropped are
    replaced, not used."""
    return CheckedPool(
        dsn,
        min_size=1,
        max_size=size,
        open=False,
        kwargs={"autocommit": True},
        timeout=POOL_TIMEOUT,
        reconnect_timeout=RECONNECT_TIMEOUT,
    )


def bootstrap(
    config: Config, *, models: ModelSource | None = None, embedders: EmbedderSource | None = None
) -> Services:
    """The object graph for `config`. Tests hand in their own model and embedding adapters (any
    object with `for_agent(llm_config)` / `for_config(embedding_config)`); by default they are
    the HTTP adapters for the operator's providers and the embedded ones."""
    sys.setswitchinterval(SWITCH_SECONDS)
    database = Database(config.pg_uri, config.home)
    dsn = database.start()
    applied = migrations.apply(dsn)
    if applied:
        log.info("migrations.applied", names=applied)
    env = eventsourcing_env(dsn)
    store = MemGPT(env=env)
    bound_reconnects(store)
    commands = CommandGroups.on(store)
    commands.accounts.ensure_user(config.default_user_id)
    pool = _pool(dsn, 8)
    # The turn runner's leases and sweep: short statements only, on a pool of their own so that
    # request traffic never delays a renewal.
    locks = _pool(dsn, 4)
    # Model calls may wait long on slow endpoints: the per-user turn limits bound them, not a
    # small shared connection pool that one user's hung endpoint could fill.
    http = Wire(config.llm_timeout)
    tail = LogTail(dsn, pool, store.mapper)
    embedded = EmbeddedChat(
        Path(config.embedded_gguf) if config.embedded_gguf else None,
        config.home / "models",
        config.home / "run",
        n_ctx=configs.EMBEDDED_LLM.window,
    )
    endpoints = Endpoints.of(config)
    metrics = Metrics()
    retry = Retry(config.llm_attempts, config.llm_backoff, on_retry=metrics.model_retried)
    models = models or Models(http, endpoints, retry, embedded)
    embedders = embedders or Embedders(http, endpoints)
    search, queue = Search(pool), EmbeddingQueue(pool)
    archival = Archival(search, queue, embedders)
    leases = Leases(locks, config.turn_lease_seconds)
    turns = (
        TurnRunner(
            commands.turns,
            tail,
            Views(locks),
            leases,
            TimedModels(models, metrics),
            Memories(search, archival),
            embedders,
            metrics,
        )
        if config.run_turns
        else None
    )
    if turns is not None:
        metrics.turns_running.set_function(lambda: turns.drives)
    return Services(
        config=config,
        database=database,
        commands=commands,
        views=Views(pool),
        watch=ProjectionWatch(dsn, VIEW_NAMES),
        projections=ProjectionHost(dsn, store.mapper),
        tail=tail,
        turns=turns,
        embedders=embedders,
        archival=archival,
        filler=EmbeddingFiller(
            queue, embedders, timeout=config.embedding_timeout, concurrency=config.embedding_concurrency
        ),
        http=http,
        pool=pool,
        locks=locks,
        metrics=metrics,
        embedded=embedded,
        models=models,
        views_process=ViewsProcess(dsn) if config.views_process else None,
    )
