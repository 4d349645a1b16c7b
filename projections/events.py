"""The event index: one row per event of the log, saying whose history it belongs to.

The event history routes page this index (by owner, agent, turn, request, type, time) and decode
each payload from the log by position, so the index holds no text a client wrote: only ids,
positions, times and the request's cause (made storable, as every view's text is). One generic
rule covers every event type, today's and those added later: what an event says about its owner
comes from its own fields (`user_id`, `agent_id`, `turn_id`, `core_memory`, `caused_by`), and
what only an aggregate's earlier events said (the owner its Created event named, an agent's
running turn, where its core memory was last set) is kept in `view_event_owners`.
"""

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic
from psycopg.types.json import Jsonb

from domain.messages import clean, cleaned
from projections.base import Statement, View

view = View("view_event_index", ("view_event_index", "view_event_owners"))

PREFIX = "memgpt."
TURN_QUEUED = "Agent.TurnQueued"

# The index row. The owner, agent and (for a runner event without one) turn fall back to what
# `view_event_owners` knows of the aggregate; an event without a cause of its own takes the
# cause of its turn's TurnQueued; a cause gains the name of the key that acted.
_INSERT = (
    "INSERT INTO view_event_index"
    " (position, originator_id, version, type, user_id, agent_id, turn_id, caused_by, memory_before, time)"
    " SELECT %(position)s, %(originator_id)s, %(version)s, %(type)s,"
    "  coalesce(%(user_id)s::uuid, o.user_id), coalesce(%(agent_id)s::uuid, o.agent_id), t.turn_id,"
    "  coalesce(%(cause)s::jsonb || coalesce((SELECT jsonb_build_object('key_name', k.key_name)"
    "    FROM view_event_owners k WHERE k.id = %(key_id)s::uuid), '{}'),"
    "   (SELECT q.caused_by FROM view_event_index q WHERE q.turn_id = t.turn_id AND q.type = 'Agent.TurnQueued'"
    "    ORDER BY q.position LIMIT 1)),"
    "  CASE WHEN %(sets_memory)s THEN o.memory_at END, %(time)s"
    " FROM (SELECT 1) AS one LEFT JOIN view_event_owners o ON o.id = %(owner_key)s::uuid"
    " CROSS JOIN LATERAL (SELECT coalesce(%(turn_id)s::uuid, CASE WHEN %(in_turn)s THEN o.turn_id END) AS turn_id) t"
    " ON CONFLICT (position) DO NOTHING"
)

_OWNED = (
    "INSERT INTO view_event_owners (id, user_id, agent_id) VALUES (%s, %s, %s)"
    " ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, agent_id = EXCLUDED.agent_id"
)


def event_type(event: Any) -> str:
    """`Agent.CoreMemoryReplaced`: the event's topic without the `memgpt.` prefix."""
    topic = get_topic(type(event))
    return topic[len(PREFIX) :] if topic.startswith(PREFIX) else topic


def _uuid(value: Any) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


def _cause(value: Any) -> dict[str, Any] | None:
    """The cause as the index keeps it: storable, and its request ids short text (they are
    indexed, and a btree entry has a size limit an injected event could exceed)."""
    if not isinstance(value, dict):
        return None
    cause = cleaned(dict(value))
    for key in ("request_id", "client_request_id"):
        if key in cause and cause[key] is not None:
            cause[key] = str(cause[key])[:200]
    return cause


def _about_agent(e: Any, kind: str) -> UUID | None:
    if kind == "Agent":
        return e.originator_id
    fields = vars(e)
    if fields.get("kind") == "agent" and "item_id" in fields:  # User.Owned: the user's new agent
        return _uuid(fields["item_id"])
    return _uuid(fields.get("agent_id"))


@view.on(Aggregate.Event)
def _(e: Any, position: int) -> list[Statement]:
    fields = vars(e)
    name = event_type(e)
    kind = name.partition(".")[0]
    cause = _cause(fields.get("caused_by"))
    user_id = e.originator_id if kind == "User" else _uuid(fields.get("user_id"))
    agent_id = _about_agent(e, kind)
    turn_id = _uuid(fields.get("turn_id"))
    core_memory = fields.get("core_memory")
    sets_memory = kind == "Agent" and isinstance(core_memory, dict)
    claim_created = kind == "AgentName" and name.endswith(".Created")
    row = {
        "position": position,
        "originator_id": e.originator_id,
        "version": e.originator_version,
        "type": name,
        "user_id": user_id,
        "agent_id": agent_id,
        "turn_id": turn_id,
        "cause": Jsonb(cause) if cause is not None else None,
        "key_id": _uuid(cause.get("key_id")) if cause else None,
        "sets_memory": sets_memory,
        "in_turn": kind == "Agent" and cause is None and turn_id is None,  # a function's own change
        "time": e.timestamp,
        # a claim is created in the same save as its agent: its owner is the agent's
        "owner_key": agent_id if claim_created else e.originator_id,
    }
    statements: list[Statement] = [(_INSERT, row)]
    if claim_created:
        statements.append(
            (
                "INSERT INTO view_event_owners (id, user_id, agent_id)"
                " SELECT %s, (SELECT user_id FROM view_event_owners WHERE id = %s), %s"
                " ON CONFLICT (id) DO UPDATE SET agent_id = EXCLUDED.agent_id",
                (e.originator_id, agent_id, agent_id),
            )
        )
    elif kind == "AgentName" and agent_id is not None:  # claimed again
        statements.append(("UPDATE view_event_owners SET agent_id = %s WHERE id = %s", (agent_id, e.originator_id)))
    elif kind != "User" and user_id is not None:  # a Created event naming its owner
        statements.append((_OWNED, (e.originator_id, user_id, e.originator_id if kind == "Agent" else None)))
    if name == "User.KeyIssued" and _uuid(fields.get("key_id")):
        statements.append(
            (
                "INSERT INTO view_event_owners (id, user_id, key_name) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (_uuid(fields["key_id"]), e.originator_id, clean(str(fields.get("name") or "")) or None),
            )
        )
    if kind == "Agent":
        if name == "Agent.TurnStarted":
            statements.append(("UPDATE view_event_owners SET turn_id = %s WHERE id = %s", (turn_id, e.originator_id)))
        elif name in ("Agent.TurnCompleted", "Agent.TurnFailed"):
            statements.append(
                (
                    "UPDATE view_event_owners SET turn_id = NULL WHERE id = %s AND turn_id = %s",
                    (e.originator_id, turn_id),
                )
            )
        if sets_memory:
            statements.append(
                ("UPDATE view_event_owners SET memory_at = %s WHERE id = %s", (position, e.originator_id))
            )
    return statements
