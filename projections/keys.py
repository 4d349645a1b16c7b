"""The keys view: API keys by digest, for authentication and for masked listings."""

from eventsourcing.dispatch import singledispatchmethod

from domain.users import User
from projections.base import Statement, View, ViewRecorder


class KeysRecorder(ViewRecorder):
    view_name = "view_keys"


class KeysView(View):
    name = "view_keys"
    tables = ("view_keys",)

    @singledispatchmethod
    def statements(self, domain_event: object) -> list[Statement]:
        return []

    @statements.register
    def _(self, e: User.KeyIssued) -> list[Statement]:
        return [
            (
                "INSERT INTO view_keys (key_digest, key_id, user_id, name, masked, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (e.digest, e.key_id, e.originator_id, e.name, e.masked, e.timestamp),
            )
        ]

    @statements.register
    def _(self, e: User.KeyRevoked) -> list[Statement]:
        return [("DELETE FROM view_keys WHERE key_id = %s", (e.key_id,))]

    @statements.register
    def _(self, e: User.Deleted) -> list[Statement]:
        return [("DELETE FROM view_keys WHERE user_id = %s", (e.originator_id,))]
