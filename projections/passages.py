"""The archival view: each agent's passages."""

from domain.agents import Agent
from projections.base import Statement, View

view = View("view_passages")


@view.on(Agent.PassagesInserted)
def _(e: Agent.PassagesInserted, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_passages (id, agent_id, text, created_at, position, seq) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (p["id"], e.originator_id, p["text"], e.timestamp, position, seq),
        )
        for seq, p in enumerate(e.passages)
    ]


@view.on(Agent.PassageDeleted)
def _(e: Agent.PassageDeleted, position: int) -> list[Statement]:
    return [("DELETE FROM view_passages WHERE id = %s AND agent_id = %s", (e.passage_id, e.originator_id))]


@view.on(Agent.Deleted)
def _(e: Agent.Deleted, position: int) -> list[Statement]:
    return [("DELETE FROM view_passages WHERE agent_id = %s", (e.originator_id,))]
