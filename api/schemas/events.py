"""The event history's query parameters and responses (`/api/agents/{id}/events`, `/api/events`,
`/admin/events`); docs/events.md says what each event's payload holds."""

from typing import Annotated, Any
from uuid import UUID

from msgspec import Meta, Struct

from api.schemas.memgpt import INT64_MAX, NUL_FREE

# ISO 8601 (RFC 3339) text, parsed by the resource: this msgspec describes a datetime field as a
# bare string, which would make any text schema-valid.
Time = Annotated[str, Meta(min_length=1, max_length=64, extra_json_schema={"format": "date-time"})]
RequestId = Annotated[str, Meta(min_length=1, max_length=200, pattern=NUL_FREE)]
TypeName = Annotated[str, Meta(min_length=1, max_length=2000, pattern=NUL_FREE)]


class EventsQuery(Struct, kw_only=True):
    after: Annotated[
        int, Meta(ge=0, le=INT64_MAX, description="Only events after this log position (the `next` of a page).")
    ] = 0
    limit: Annotated[int, Meta(ge=1, le=1000, description="At most this many events (a page; not when following).")] = (
        100
    )
    type: Annotated[
        list[TypeName] | TypeName | None,
        Meta(
            description="Only these event types, e.g. `Agent.TurnQueued`: repeat the parameter, or separate by commas."
        ),
    ] = None
    turn_id: UUID | None = None
    since: Annotated[Time | None, Meta(description="Only events at or after this time (ISO 8601; UTC if no zone).")] = (
        None
    )
    until: Annotated[Time | None, Meta(description="Only events before this time (ISO 8601; UTC if no zone).")] = None
    follow: Annotated[
        bool,
        Meta(
            description="Answer with server-sent events: the matching events after `after` (or `Last-Event-ID`),"
            " then each new one as it is written; `id:` is the log position."
        ),
    ] = False

    @property
    def types(self) -> tuple[str, ...]:
        given = [self.type] if isinstance(self.type, str) else self.type or []
        return tuple(dict.fromkeys(name.strip() for item in given for name in item.split(",") if name.strip()))


class UserEventsQuery(EventsQuery, kw_only=True):
    agent_id: UUID | None = None


class AdminEventsQuery(EventsQuery, kw_only=True):
    user_id: Annotated[UUID | None, Meta(description="Only events of this user's history (the owner).")] = None
    agent_id: UUID | None = None
    request_id: Annotated[RequestId | None, Meta(description="Only events this request caused (its X-Request-ID).")] = (
        None
    )


class EventItem(Struct, kw_only=True):
    position: Annotated[int, Meta(description="The event's log position (notification id): the paging cursor.")]
    type: Annotated[str, Meta(description="The event type, e.g. `Agent.CoreMemoryReplaced`.")]
    version: Annotated[int, Meta(description="The event's version within its aggregate (originator version).")]
    time: Annotated[str, Meta(description="When the event was recorded: ISO 8601, UTC.")]
    originator_id: UUID
    user_id: Annotated[UUID | None, Meta(description="Whose history the event belongs to.")] = None
    agent_id: Annotated[UUID | None, Meta(description="The agent the event is about, if any.")] = None
    turn_id: Annotated[UUID | None, Meta(description="The turn the event is part of, if any.")] = None
    caused_by: Annotated[
        dict[str, Any] | None,
        Meta(
            description="The request behind it: request_id, client_request_id, user_id, key_id, key_name; a turn's"
            " events have the cause of the request that queued the turn; null if none."
        ),
    ] = None
    payload: Annotated[dict[str, Any], Meta(description="The event's fields; see docs/events.md.")]


class EventsPage(Struct):
    events: Annotated[list[EventItem], Meta(description="In log order.")]
    next: Annotated[int | None, Meta(description="Pass as after= for the next page; null at the end.")] = None
