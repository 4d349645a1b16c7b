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

import migrations
from api.errors import RETRY_AFTER
from api.http import operation
from projections.views import Views
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

    def __init__(self, views: Views, watch: ProjectionWatch) -> None:
        self._views = views
        self._watch = watch
        self._migrations = sorted(version for version, _, _ in migrations.available())

    @operation(
        "Readiness: the database answers, migrations are applied and the views keep up with the log",
        response=Status,
        errors={503: "Not ready: the database is unreachable, migrations are pending, or the views trail the log"},
    )
    async def on_get(self, req: Request, resp: Response) -> Status:
        if not self._watch.connected:  # until it is back, this process refuses writes
            raise _not_ready("The database is unreachable.")
        try:
            state = await self._views.readiness()
        except UNAVAILABLE:
            raise _not_ready("The database is unreachable.") from None
        except psycopg.Error:  # e.g. a table that a migration makes is missing
            raise _not_ready("The database schema is not ready.") from None
        if not set(self._migrations) <= set(state.applied):
            raise _not_ready("Migrations are pending.")
        if state.head - state.slowest > MAX_LAG:
            raise _not_ready("The views are catching up with the log.")
        return Status("ready")


def _not_ready(detail: str) -> falcon.HTTPError:
    return falcon.HTTPServiceUnavailable(description=detail, retry_after=RETRY_AFTER)
