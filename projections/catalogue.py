"""The catalogue view: each user's own humans, personas and presets."""

from psycopg.types.json import Jsonb

from domain.users import User
from projections.base import Statement, View

view = View("view_catalogue")

_UPSERT = (
    "INSERT INTO view_catalogue (user_id, kind, name, body, created_at) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (user_id, kind, name) DO UPDATE SET body = excluded.body"
)


@view.on(User.TextSaved)
def _(e: User.TextSaved, position: int) -> list[Statement]:
    return [(_UPSERT, (e.originator_id, e.kind, e.name, Jsonb({"text": e.text}), e.timestamp))]


@view.on(User.PresetSaved)
def _(e: User.PresetSaved, position: int) -> list[Statement]:
    body = Jsonb({"system": e.system, "functions": e.functions})
    return [(_UPSERT, (e.originator_id, "preset", e.name, body, e.timestamp))]


@view.on(User.PresetDeleted)
def _(e: User.PresetDeleted, position: int) -> list[Statement]:
    return [
        (
            "DELETE FROM view_catalogue WHERE user_id = %s AND kind = 'preset' AND name = %s",
            (e.originator_id, e.name),
        )
    ]


@view.on(User.Deleted)
def _(e: User.Deleted, position: int) -> list[Statement]:
    return [("DELETE FROM view_catalogue WHERE user_id = %s", (e.originator_id,))]
