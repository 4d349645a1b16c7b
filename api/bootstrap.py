"""Builds the object graph once: database, migrations, application, views and their runners.

Synchronous pieces (starting an embedded PostgreSQL, migrating) run here, before the event loop
serves requests; `Services.open()`/`close()` handle the parts that live on the event loop.
"""

import asyncio
from dataclasses import dataclass

import structlog
from psycopg_pool import AsyncConnectionPool

import migrations
from api.config import Config
from api.database import Database, eventsourcing_env
from domain.app import MemGPT
from projections.runner import VIEW_NAMES, ProjectionHost
from projections.views import Views
from projections.watch import ProjectionWatch

log = structlog.get_logger(__name__)


@dataclass
class Services:
    config: Config
    database: Database
    app: MemGPT
    views: Views
    watch: ProjectionWatch
    projections: ProjectionHost
    pool: AsyncConnectionPool

    async def open(self) -> None:
        await self.pool.open(wait=True)
        await self.watch.start()
        self.projections.start()

    async def close(self) -> None:
        await self.watch.stop()
        await self.pool.close()
        await asyncio.to_thread(self.projections.stop)
        self.app.close()
        self.database.stop()


def bootstrap(config: Config) -> Services:
    database = Database(config.pg_uri, config.home)
    dsn = database.start()
    applied = migrations.apply(dsn)
    if applied:
        log.info("migrations.applied", names=applied)
    env = eventsourcing_env(dsn)
    app = MemGPT(env=env)
    app.ensure_user(config.default_user_id)
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=8, open=False, kwargs={"autocommit": True})
    return Services(
        config=config,
        database=database,
        app=app,
        views=Views(pool),
        watch=ProjectionWatch(dsn, VIEW_NAMES),
        projections=ProjectionHost(dsn, env),
        pool=pool,
    )
