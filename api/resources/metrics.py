"""/metrics: the server's Prometheus metrics (admin password only), and the middleware that counts
every HTTP response for them.

Not in the OpenAPI documents: it answers Prometheus's text format, not JSON, as Prometheus and
its agents expect of a `/metrics` route.
"""

import structlog
from falcon.asgi import Request, Response
from prometheus_client import Counter
from prometheus_client.exposition import choose_encoder

from projections.backlog import Backlogs
from runtime.database import UNAVAILABLE
from runtime.metrics import Metrics
from runtime.tail import LogTail

log = structlog.get_logger(__name__)

UNMATCHED = "unmatched"  # the route label of requests no route took
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Exposition:
    """The metrics, in the format the scraper's Accept header asks for (Prometheus text 0.0.4 by
    default, OpenMetrics when preferred). The backlog gauges are read from the database now; while
    it cannot be read they are NaN and the rest is served, as an outage is when metrics matter."""

    auth = "admin"

    def __init__(self, metrics: Metrics, backlogs: Backlogs, tail: LogTail) -> None:
        self._metrics = metrics
        self._backlogs = backlogs
        self._tail = tail

    async def on_get(self, req: Request, resp: Response) -> None:
        try:
            backlog = await self._backlogs.read()
        except UNAVAILABLE as e:
            log.warning("metrics.database_unavailable", error=type(e).__name__)
            backlog = None
        self._metrics.show_backlog(backlog, self._tail.position)
        encode, resp.content_type = choose_encoder(req.get_header("Accept") or "")
        resp.data = encode(self._metrics.registry)


class RequestMetrics:
    """Counts every response by method, route template and status. The template, never the path,
    keeps the series few whatever ids and names tenants send: requests that no route took (unknown
    paths, and those refused before routing, such as an address's rate limit) share `unmatched`,
    and methods other than HTTP's usual ones share `other`. Listed first among the middleware, so
    that its `process_response` runs last and counts the status the others leave."""

    def __init__(self, requests: Counter) -> None:
        self._requests = requests

    async def process_response(self, req: Request, resp: Response, resource: object, req_succeeded: bool) -> None:
        method = req.method if req.method in _METHODS else "other"
        self._requests.labels(method, req.uri_template or UNMATCHED, str(resp.status_code)).inc()
