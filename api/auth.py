"""Who is calling: the admin password, a user's API key, or nobody.

The admin password acts on /admin and, on /api and /v1, as the default user. A user's key acts
as that user everywhere but /admin. Keys are looked up by their SHA-256 in the keys view, and
refused at once when the log already revokes them or deletes their user, however far the keys view
lags (`Views.key`).
"""

import hmac
from dataclasses import dataclass
from uuid import UUID

import falcon

from domain import keys
from projections.views import Views


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    is_admin: bool
    key_id: UUID | None = None  # the key that acted (None: the admin password)
    turns: tuple[int, int] | None = None  # the user's running and queued turns, read with the key


class Authenticator:
    def __init__(self, views: Views, admin_password: str, default_user_id: UUID) -> None:
        self._views = views
        self._password = admin_password.encode()
        self._default_user = default_user_id

    def is_admin_password(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._password)

    async def principal(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise falcon.HTTPUnauthorized(description="Not authenticated", challenges=["Bearer"])
        if self.is_admin_password(token):
            return Principal(self._default_user, is_admin=True)
        record = await self._views.key(keys.digest(token)) if token.startswith(keys.PREFIX) else None
        if record is None:
            raise falcon.HTTPUnauthorized(description="Invalid or revoked credentials", challenges=["Bearer"])
        return Principal(record.user_id, is_admin=False, key_id=record.key_id, turns=record.turns)


class AuthMiddleware:
    """Resources declare `auth = "admin"`, `"user"` (the default) or `None` (public)."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._auth = authenticator

    async def process_resource(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object, params: dict
    ) -> None:
        need = getattr(resource, "auth", "user")
        if resource is None or need is None:
            return
        principal = await self._auth.principal(req.get_header("Authorization"))
        if need == "admin" and not principal.is_admin:
            raise falcon.HTTPForbidden(description="Admin routes need the admin password, not a user key")
        req.context.principal = principal
        req.context.bind(user_id=str(principal.user_id), key_id=str(principal.key_id or "admin-password"))
