"""/health and /ready for load balancers and orchestrators: no credentials, nothing revealed.

`/health` says the process answers (restart it if not). `/ready` says it can serve: the database
answers (and this process's connection that follows the views is up, without which it refuses
writes), every migration this build ships is applied, and every view is within `MAX_LAG` events
of the log (send it traffic if so). Neither names versions, hosts or paths.
"""

import falcon
import msgspec
import psycopg
from falcon.asgi import Request, Response
from psycopg_pool import AsyncConnectionPool

import migrations
from api.errors import RETRY_AFTER
from api.http import operation
from projections.runner import VIEW_NAMES
from projections.watch import ProjectionWatch
from runtime.database import UNAVAILABLE

MAX_LAG = 1000  # events a view may trail the log by and still count as ready


class Status(msgspec.Struct):
    status: str


class Health:
    auth = None

    @operation("Liveness: the process answers (no credentials needed)", response=Status)
    async def on_get(self, req: Request, resp: Response) -> Status:
        return Status("ok")


class Ready:
    auth = None

    def __init__(self, pool: AsyncConnectionPool, watch: ProjectionWatch) -> None:
        self._pool = pool
        self._watch = watch
        self._migrations = sorted(version for version, _, _ in migrations.available())
        views = " UNION ALL ".join(
            f"SELECT coalesce((SELECT notification_id FROM {name}_tracking"  # noqa: S608 - our names
            " WHERE application_name = 'memgpt'), 0)"
            for name in VIEW_NAMES
        )
        self._sql = (
            "SELECT (SELECT coalesce(max(notification_id), 0) FROM memgpt_events),"
            " (SELECT coalesce(array_agg(version ORDER BY version), '{}') FROM schema_migrations),"
            f" (SELECT min(position) FROM ({views}) AS tracking(position))"
        )

    @operation(
        "Readiness: the database answers, migrations are applied and the views keep up with the log",
        response=Status,
        errors={503: "Not ready: the database is unreachable, migrations are pending, or the views trail the log"},
    )
    async def on_get(self, req: Request, resp: Response) -> Status:
        if not self._watch.connected:  # until it is back, this process refuses writes
            raise _not_ready("The database is unreachable.")
        try:
            async with self._pool.connection() as conn:
                row = await (await conn.execute(self._sql)).fetchone()
        except UNAVAILABLE:
            raise _not_ready("The database is unreachable.") from None
        except psycopg.Error:  # e.g. a table that a migration makes is missing
            raise _not_ready("The database schema is not ready.") from None
        assert row is not None
        head, applied, slowest = row
        if not set(self._migrations) <= set(applied):
            raise _not_ready("Migrations are pending.")
        if head - slowest > MAX_LAG:
            raise _not_ready("The views are catching up with the log.")
        return Status("ready")


def _not_ready(detail: str) -> falcon.HTTPError:
    return falcon.HTTPServiceUnavailable(description=detail, retry_after=RETRY_AFTER)
