"""Per-request context: the server's own request id (sent back as X-Request-ID), logging, and
event attribution.

The trail must not be forgeable: a client's X-Request-ID is kept only as `client_request_id`,
beside the id the server made, never in its place (it is echoed as X-Client-Request-ID)."""

import re
import time
import uuid
from typing import Any

import structlog
from falcon.asgi import Request, Response

from domain.audit import CAUSE

log = structlog.get_logger("memgpt.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContext:
    """Binds `request_id` (and `client_request_id`; later `user_id` and `key_id`) for logs and
    for the events a request causes.

    Everything runs in the request's task, and the command threads (`runtime.threads`) copy its
    context, so the values reach the application service's thread and the SSE generators unchanged.
    """

    def __init__(self, max_body_bytes: int) -> None:
        self._max_body = max_body_bytes

    async def process_request(self, req: Request, resp: Response) -> None:
        given = req.get_header("X-Request-ID") or ""
        request_id = uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        cause = {"request_id": request_id}
        if _SAFE_ID.match(given):
            cause["client_request_id"] = given
            resp.set_header("X-Client-Request-ID", given)
        structlog.contextvars.bind_contextvars(**cause)
        CAUSE.set(cause)

        def bind(**values: str) -> None:
            structlog.contextvars.bind_contextvars(**values)
            cause.update(values)

        req.context.request_id = request_id
        req.context.bind = bind
        req.context.max_body_bytes = self._max_body
        req.context.started = time.perf_counter()
        resp.set_header("X-Request-ID", request_id)

    async def process_response(self, req: Request, resp: Response, resource: Any, req_succeeded: bool) -> None:
        started = getattr(req.context, "started", None)
        log.info(
            "request",
            method=req.method,
            path=req.path,
            status=resp.status_code if hasattr(resp, "status_code") else resp.status,
            ms=round((time.perf_counter() - started) * 1000, 1) if started else None,
        )
