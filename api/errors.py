"""Every error is JSON `{"detail": ...}`; one table maps what went wrong to its status.

Domain refusals map to 4xx by their family. A database that is away (refused connections, a pool
that found no connection in time, a connection lost mid-query) is 503 with `Retry-After`: the
client may try again, and the reason stays in the log, never in the answer (it names hosts).
"""

from typing import Any

import falcon
import orjson
import structlog
from falcon.asgi import Request, Response

from domain.errors import Conflict, DomainError, InvalidValue, NotFound
from runtime.database import UNAVAILABLE
from runtime.turns.follow import TurnTimedOut, UnknownEventId

log = structlog.get_logger(__name__)

RETRY_AFTER = 2  # seconds a client should wait before trying again while the database is away
_UNAVAILABLE = "The database is unavailable right now; retry shortly."

# Most specific first: the first family an error belongs to decides its status.
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidValue, 422),
    (DomainError, 400),
    (UnknownEventId, 400),
    (TurnTimedOut, 504),
    *((family, 503) for family in UNAVAILABLE),
)


def serialize(req: Request, resp: Response, error: falcon.HTTPError) -> None:
    resp.content_type = "application/json"
    resp.data = orjson.dumps({"detail": error.description or error.title})


async def mapped(req: Request, resp: Response, error: Exception, params: dict[str, Any]) -> None:
    status = next(code for family, code in _STATUS if isinstance(error, family))
    if status == 503:
        log.warning("request.database_unavailable", error=type(error).__name__, reason=str(error))
        raise falcon.HTTPServiceUnavailable(description=_UNAVAILABLE, retry_after=RETRY_AFTER)
    raise falcon.HTTPError(status, description=str(error))


async def unexpected(req: Request, resp: Response, error: Exception, params: dict[str, Any]) -> None:
    if isinstance(error, falcon.HTTPError):  # Falcon's own, including 404/405 from the router
        raise error
    log.exception("request.failed")
    raise falcon.HTTPInternalServerError(description="Internal server error; the request id is in X-Request-ID.")


def install(app: falcon.asgi.App) -> None:
    app.set_error_serializer(serialize)
    app.add_error_handler(Exception, unexpected)
    for family, _ in _STATUS:  # Falcon picks the handler of the most specific registered class
        app.add_error_handler(family, mapped)
