"""The keys view: API keys by digest, for authentication and for masked listings."""

from domain.users import User
from projections.base import Statement, View

view = View("view_keys")


@view.on(User.KeyIssued)
def _(e: User.KeyIssued, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_keys (key_digest, key_id, user_id, name, masked, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (e.digest, e.key_id, e.originator_id, e.name, e.masked, e.timestamp),
        )
    ]


@view.on(User.KeyRevoked)
def _(e: User.KeyRevoked, position: int) -> list[Statement]:
    return [("DELETE FROM view_keys WHERE key_id = %s", (e.key_id,))]


@view.on(User.Deleted)
def _(e: User.Deleted, position: int) -> list[Statement]:
    return [("DELETE FROM view_keys WHERE user_id = %s", (e.originator_id,))]
