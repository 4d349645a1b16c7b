"""Every error is JSON `{"detail": ...}`; domain refusals map to 4xx by their family."""

from typing import Any

import falcon
import orjson
import structlog
from falcon.asgi import Request, Response

from domain.errors import Conflict, DomainError, InvalidValue, NotFound

log = structlog.get_logger(__name__)

_STATUS: tuple[tuple[type[DomainError], int], ...] = ((NotFound, 404), (Conflict, 409), (InvalidValue, 422))


def serialize(req: Request, resp: Response, error: falcon.HTTPError) -> None:
    resp.content_type = "application/json"
    resp.data = orjson.dumps({"detail": error.description or error.title})


async def domain_error(req: Request, resp: Response, error: DomainError, params: dict[str, Any]) -> None:
    status = next((code for family, code in _STATUS if isinstance(error, family)), 400)
    raise falcon.HTTPError(status, description=str(error))


async def unexpected(req: Request, resp: Response, error: Exception, params: dict[str, Any]) -> None:
    if isinstance(error, falcon.HTTPError):  # Falcon's own, including 404/405 from the router
        raise error
    log.exception("request.failed")
    raise falcon.HTTPInternalServerError(description="Internal server error; the request id is in X-Request-ID.")


def install(app: falcon.asgi.App) -> None:
    app.set_error_serializer(serialize)
    app.add_error_handler(Exception, unexpected)
    app.add_error_handler(DomainError, domain_error)
