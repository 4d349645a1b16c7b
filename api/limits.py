"""Fair sharing: what one key, one client address or one user may take of a shared server.

- `RateLimits` (middleware): a token bucket per API key (the admin password counts as one key),
  and one per client address for requests without valid credentials; `POST /api/auth` password
  attempts draw on a slower bucket per client address, and a right password gives its token back.
- `UserLimits`: a user's running and queued turns (read from the agents view with the key that
  authenticated the request; for the admin password, when a turn is queued) and their open
  streams.

Rate buckets and stream counts live in each server process (several processes each allow the
full rate); behind a proxy, every client shares the proxy's address. Refusals are 429 with
`Retry-After` and a JSON `{"detail"}`.
"""

import hashlib
import math
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from uuid import UUID

import falcon
from falcon.asgi import Request, Response

from api.auth import Principal
from projections.views import Views
from runtime.config import Config

_PRUNE_AT = 10_000  # buckets kept before full (idle) ones are dropped


class Buckets:
    """Token buckets by name: `rate` tokens a second up to `burst`; one request takes one."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(max(1, burst))
        self._state: dict[str, tuple[float, float]] = {}  # name -> (tokens, when)

    def _tokens(self, name: str, now: float) -> float:
        tokens, then = self._state.get(name, (self._burst, now))
        return min(self._burst, tokens + (now - then) * self._rate)

    def take(self, name: str) -> float:
        """Takes a token: 0 if there was one, else the seconds until there is one."""
        now = time.monotonic()
        tokens = self._tokens(name, now)
        if tokens < 1:
            self._state[name] = (tokens, now)
            return (1 - tokens) / self._rate
        if len(self._state) >= _PRUNE_AT:
            self._prune(now)
        self._state[name] = (tokens - 1, now)
        return 0.0

    def wait(self, name: str) -> float:
        """Seconds until `name` has a token (0 if it has one), taking nothing."""
        tokens = self._tokens(name, time.monotonic())
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate

    def known(self, name: str) -> bool:
        return name in self._state

    def give_back(self, name: str) -> None:
        now = time.monotonic()
        self._state[name] = (min(self._burst, self._tokens(name, now) + 1), now)

    def _prune(self, now: float) -> None:
        self._state = {k: v for k, v in self._state.items() if self._tokens(k, now) < self._burst}


# Requests without valid credentials, per client address: nobody's work needs many of them.
ANONYMOUS_RATE, ANONYMOUS_BURST = 50.0, 200


def too_many(detail: str, wait: float) -> falcon.HTTPTooManyRequests:
    return falcon.HTTPTooManyRequests(description=detail, retry_after=max(1, math.ceil(wait)))


class RateLimits:
    """Middleware; listed after `AuthMiddleware`, so its `process_resource` sees the principal."""

    def __init__(self, config: Config) -> None:
        self._keys = Buckets(config.rate_per_second, config.rate_burst)
        self._anonymous = Buckets(min(config.rate_per_second, ANONYMOUS_RATE), min(config.rate_burst, ANONYMOUS_BURST))
        self._auth = Buckets(config.auth_per_minute / 60, config.auth_burst)

    @staticmethod
    def _address(req: Request) -> str:
        return req.remote_addr or "-"

    async def process_request(self, req: Request, resp: Response) -> None:
        address = self._address(req)
        if req.method == "POST" and req.path == "/api/auth":
            wait = self._auth.take(address)
            if wait:
                raise too_many("Too many password attempts from this address; retry later.", wait)
            req.context.auth_attempt = True
        elif self._known_key(req):
            if wait := self._keys.wait(self._key(req)):  # a key revoked since is limited as itself
                raise too_many("Too many requests with this key; retry later.", wait)
        elif wait := self._anonymous.wait(address):
            raise too_many("Too many requests without valid credentials from this address; retry later.", wait)

    async def process_resource(self, req: Request, resp: Response, resource: Any, params: dict) -> None:
        if getattr(req.context, "principal", None) is None:
            return
        wait = self._keys.take(self._key(req))
        if wait:
            raise too_many("Too many requests with this key; retry later.", wait)

    async def process_response(self, req: Request, resp: Response, resource: Any, req_succeeded: bool) -> None:
        if getattr(req.context, "auth_attempt", False):
            if resp.status_code == 200:  # a right password costs no attempt
                self._auth.give_back(self._address(req))
        elif getattr(req.context, "principal", None) is None and resp.status_code != 429:
            if self._known_key(req):  # revoked: it costs its own bucket, never its address's others
                self._keys.take(self._key(req))
            else:
                self._anonymous.take(self._address(req))

    @staticmethod
    def _key(req: Request) -> str:
        return hashlib.sha256((req.get_header("Authorization") or "").encode()).hexdigest()

    def _known_key(self, req: Request) -> bool:
        """A key that authenticated before: its own bucket applies, not its address's."""
        return req.get_header("Authorization") is not None and self._keys.known(self._key(req))


class UserLimits:
    """A user's running and queued turns and open streams, checked before more are started."""

    def __init__(self, views: Views, config: Config) -> None:
        self._views = views
        self._running = config.max_running_turns
        self._queued = config.max_queued_turns
        self._max_streams = config.max_streams
        self._streams: dict[UUID, int] = defaultdict(int)

    async def may_queue(self, principal: Principal) -> None:
        """Refuses (429) a new turn while the user has too many running or queued (as their key's
        read found them; read now for the admin password)."""
        turns = principal.turns
        running, queued = turns if turns is not None else await self._views.turns_of(principal.user_id)
        if queued >= self._queued:
            raise too_many(f"You have {queued} turns waiting (at most {self._queued}); retry later.", 5)
        if running >= self._running:
            raise too_many(f"You have {running} turns running (at most {self._running}); retry later.", 5)

    def open_stream(self, user_id: UUID) -> Callable[[], None]:
        """Counts a stream of the user (429 past the limit); returns its release (idempotent)."""
        if self._streams[user_id] >= self._max_streams:
            raise too_many(f"You have {self._streams[user_id]} streams open (at most {self._max_streams}).", 5)
        self._streams[user_id] += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._streams[user_id] -= 1
            if self._streams[user_id] <= 0:
                del self._streams[user_id]

        return release

    def open_streams(self) -> int:
        """Streams open now in this process, of every user (for /metrics)."""
        return sum(self._streams.values())
