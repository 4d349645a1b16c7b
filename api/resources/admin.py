"""/admin: users and their API keys, and the views' set-aside events (admin password only)."""

import asyncio
from uuid import UUID

import falcon
import msgspec
import psycopg
from falcon.asgi import Request, Response

from api.http import operation
from api.paging import after_name, next_cursor
from api.schemas import memgpt as s
from domain import keys
from domain.services.accounts import AccountCommands
from domain.services.app import MemGPT
from projections import set_aside
from projections.views import Views as ViewReads
from runtime.commands import Commands

_DELETE_ERRORS = {404: "No such user", 409: "The default user cannot be deleted"}


class Users:
    auth = "admin"

    def __init__(self, accounts: AccountCommands, commands: Commands, views: ViewReads, default_user_id: UUID) -> None:
        self._accounts = accounts
        self._run = commands
        self._views = views
        self._default_user = default_user_id

    @operation("List users", query=s.IdPage, response=s.GetAllUsersResponse)
    async def on_get(self, req: Request, resp: Response, query: s.IdPage) -> s.GetAllUsersResponse:
        ids = await self._views.user_ids(query.start_after, query.limit)
        return s.GetAllUsersResponse([s.UserSummary(u) for u in ids], next_cursor(ids, query.limit))

    @operation(
        "Create a user with a first API key",
        body=s.CreateUserRequest,
        response=s.CreateUserResponse,
        errors={409: "A user with that id exists"},
    )
    async def on_post(self, req: Request, resp: Response, body: s.CreateUserRequest) -> s.CreateUserResponse:
        user_id, key = await self._run(self._accounts.create_user, body.user_id, body.api_key_name)
        return s.CreateUserResponse(user_id, key)

    @operation(
        "Delete a user; their keys stop working at once",
        query=s.UserQuery,
        response=s.DeleteUserResponse,
        errors=_DELETE_ERRORS,
    )
    async def on_delete(self, req: Request, resp: Response, query: s.UserQuery) -> s.DeleteUserResponse:
        return await self._delete(query.user_id)

    @operation("Delete a user; their keys stop working at once", response=s.DeleteUserResponse, errors=_DELETE_ERRORS)
    async def on_delete_one(self, req: Request, resp: Response, user_id: UUID) -> s.DeleteUserResponse:
        return await self._delete(user_id)

    async def _delete(self, user_id: UUID) -> s.DeleteUserResponse:
        await self._run(self._accounts.delete_user, user_id, self._default_user)
        return s.DeleteUserResponse("User successfully deleted.", user_id)


class Keys:
    auth = "admin"

    def __init__(self, accounts: AccountCommands, commands: Commands, views: ViewReads) -> None:
        self._accounts = accounts
        self._run = commands
        self._views = views

    @operation(
        "Issue an API key to a user (shown this once)",
        body=s.CreateAPIKeyRequest,
        response=s.CreateAPIKeyResponse,
        errors={404: "No such user"},
    )
    async def on_post(self, req: Request, resp: Response, body: s.CreateAPIKeyRequest) -> s.CreateAPIKeyResponse:
        return s.CreateAPIKeyResponse(
            await self._run(self._accounts.issue_key, body.user_id, body.name or body.key_name)
        )

    @operation("List a user's API keys, masked", query=s.KeysQuery, response=s.GetAPIKeysResponse, errors=(404,))
    async def on_get(self, req: Request, resp: Response, query: s.KeysQuery) -> s.GetAPIKeysResponse:
        if not await self._views.user_exists(query.user_id):
            raise falcon.HTTPNotFound(description=f"User {query.user_id} not found")
        masked = await self._views.masked_keys(query.user_id)
        return s.GetAPIKeysResponse(after_name(masked, str, query.after, query.limit))

    @operation("Revoke an API key", query=s.APIKeyQuery, response=s.DeleteAPIKeyResponse, errors=(404,))
    async def on_delete(self, req: Request, resp: Response, query: s.APIKeyQuery) -> s.DeleteAPIKeyResponse:
        record = await self._views.key(keys.digest(query.api_key))
        if record is None:
            raise falcon.HTTPNotFound(description="API key not found")
        await self._run(self._accounts.revoke_key, record.user_id, record.key_id)
        return s.DeleteAPIKeyResponse("API key successfully deleted.", keys.mask(query.api_key))


class ViewState(msgspec.Struct):
    view: str
    set_aside: int  # events this view could not apply, kept with their errors


class ViewsResponse(msgspec.Struct):
    views: list[ViewState]


class RetryViewsResponse(msgspec.Struct):
    applied: int  # set-aside events now applied to their views
    set_aside: int  # set-aside events their views still refuse (kept, with the new error)


class SetAside:
    """The views' set-aside events: how many, and applying them again once their cause is fixed."""

    auth = "admin"

    def __init__(self, store: MemGPT, dsn: str) -> None:
        self._store = store
        self._dsn = dsn

    @operation("Count the events each view has set aside", response=ViewsResponse)
    async def on_get(self, req: Request, resp: Response) -> ViewsResponse:
        found = await asyncio.to_thread(self._counts)
        return ViewsResponse([ViewState(name, n) for name, n in found.items()])

    @operation("Apply the views' set-aside events again (after a fix)", response=RetryViewsResponse)
    async def on_post_retry(self, req: Request, resp: Response) -> RetryViewsResponse:
        done = await asyncio.to_thread(set_aside.retry, self._store, self._dsn)
        return RetryViewsResponse(done.applied, done.remaining)

    def _counts(self) -> dict[str, int]:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            return set_aside.counts(conn)
