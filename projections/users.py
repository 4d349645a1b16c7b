"""The users view: which users exist (the default user included)."""

from eventsourcing.dispatch import singledispatchmethod

from domain.users import User
from projections.base import Statement, View, ViewRecorder


class UsersRecorder(ViewRecorder):
    view_name = "view_users"


class UsersView(View):
    name = "view_users"
    tables = ("view_users",)

    @singledispatchmethod
    def statements(self, domain_event: object) -> list[Statement]:
        return []

    @statements.register
    def _(self, e: User.Created) -> list[Statement]:
        return [
            (
                "INSERT INTO view_users (user_id, created_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (e.originator_id, e.timestamp),
            )
        ]

    @statements.register
    def _(self, e: User.Deleted) -> list[Statement]:
        return [("DELETE FROM view_users WHERE user_id = %s", (e.originator_id,))]
