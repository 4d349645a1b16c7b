"""The users view: which users exist (the default user included)."""

from domain.users import User
from projections.base import Statement, View

view = View("view_users")


@view.on(User.Created)
def _(e: User.Created, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_users (user_id, created_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (e.originator_id, e.timestamp),
        )
    ]


@view.on(User.Deleted)
def _(e: User.Deleted, position: int) -> list[Statement]:
    return [("DELETE FROM view_users WHERE user_id = %s", (e.originator_id,))]
