"""/api/humans, /api/personas, /api/presets and /api/auth."""

from uuid import UUID

import falcon
from falcon.asgi import Request, Response

from api import schemas as s
from api.auth import Authenticator
from api.http import operation
from domain import catalogue
from domain.functions import schemas_for


class Humans:
    @operation("List humans", response=s.ListHumansResponse)
    async def on_get(self, req: Request, resp: Response) -> s.ListHumansResponse:
        return s.ListHumansResponse([s.CatalogueEntry(n, t) for n, t in catalogue.HUMANS.items()])


class Personas:
    @operation("List personas", response=s.ListPersonasResponse)
    async def on_get(self, req: Request, resp: Response) -> s.ListPersonasResponse:
        return s.ListPersonasResponse([s.CatalogueEntry(n, t) for n, t in catalogue.PERSONAS.items()])


class Presets:
    @operation("List presets", response=s.ListPresetsResponse)
    async def on_get(self, req: Request, resp: Response) -> s.ListPresetsResponse:
        return s.ListPresetsResponse(
            [s.PresetModel(p.name, p.system, schemas_for(p.functions)) for p in catalogue.PRESETS.values()]
        )


class Auth:
    """Exchanges the admin password for the default user's id (no bearer token needed)."""

    auth = None

    def __init__(self, authenticator: Authenticator, default_user_id: UUID) -> None:
        self._auth = authenticator
        self._default_user = default_user_id

    @operation(
        "Exchange the admin password for the default user id",
        body=s.AuthRequest,
        response=s.AuthResponse,
        errors=(400,),
    )
    async def on_post(self, req: Request, resp: Response, body: s.AuthRequest) -> s.AuthResponse:
        if not self._auth.is_admin_password(body.password):
            raise falcon.HTTPBadRequest(description="Incorrect password")
        return s.AuthResponse(self._default_user)
