"""The catalogue view: each user's own humans, personas and presets."""

from eventsourcing.dispatch import singledispatchmethod
from psycopg.types.json import Jsonb

from domain.users import User
from projections.base import Statement, View, ViewRecorder

_UPSERT = (
    "INSERT INTO view_catalogue (user_id, kind, name, body, created_at) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (user_id, kind, name) DO UPDATE SET body = excluded.body"
)


class CatalogueRecorder(ViewRecorder):
    view_name = "view_catalogue"


class CatalogueView(View):
    name = "view_catalogue"
    tables = ("view_catalogue",)

    @singledispatchmethod
    def statements(self, domain_event: object) -> list[Statement]:
        return []

    @statements.register
    def _(self, e: User.TextSaved) -> list[Statement]:
        return [(_UPSERT, (e.originator_id, e.kind, e.name, Jsonb({"text": e.text}), e.timestamp))]

    @statements.register
    def _(self, e: User.PresetSaved) -> list[Statement]:
        body = Jsonb({"system": e.system, "functions": e.functions})
        return [(_UPSERT, (e.originator_id, "preset", e.name, body, e.timestamp))]

    @statements.register
    def _(self, e: User.PresetDeleted) -> list[Statement]:
        return [
            (
                "DELETE FROM view_catalogue WHERE user_id = %s AND kind = 'preset' AND name = %s",
                (e.originator_id, e.name),
            )
        ]

    @statements.register
    def _(self, e: User.Deleted) -> list[Statement]:
        return [("DELETE FROM view_catalogue WHERE user_id = %s", (e.originator_id,))]
