"""The messages view: every message of every agent, in log order — recall memory and history."""

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg.types.json import Jsonb

from domain.agents import Agent
from domain.messages import Message, plain_text
from projections.base import Statement, View, ViewRecorder


class MessagesRecorder(ViewRecorder):
    view_name = "view_messages"


def _insert(agent_id: Any, message: Message, position: int, seq: int = 0) -> Statement:
    return (
        "INSERT INTO view_messages"
        " (id, agent_id, role, text, content, name, tool_call, tool_call_id, created_at, position, seq)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (
            message.id,
            agent_id,
            message.role,
            message.text,
            plain_text(message),
            message.name,
            Jsonb(message.to_dict()["tool_call"]) if message.tool_call else None,
            message.tool_call_id,
            message.created_at,
            position,
            seq,
        ),
    )


class MessagesView(View):
    name = "view_messages"
    tables = ("view_messages",)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.record(tracking, self.statements(domain_event, tracking.notification_id))

    @singledispatchmethod
    def statements(self, domain_event: object, position: int) -> list[Statement]:
        return []

    @statements.register
    def _(self, e: Agent.Created, position: int) -> list[Statement]:
        return [_insert(e.originator_id, m, position, seq) for seq, m in enumerate(e.messages)]

    @statements.register
    def _(self, e: Agent.TurnStarted, position: int) -> list[Statement]:
        return [_insert(e.originator_id, e.message, position)] if e.message else []

    @statements.register(Agent.AssistantSpoke)
    @statements.register(Agent.FunctionReturned)
    @statements.register(Agent.HeartbeatSent)
    @statements.register(Agent.MemoryWarned)
    def _(self, e: Any, position: int) -> list[Statement]:
        return [_insert(e.originator_id, e.message, position)]

    @statements.register
    def _(self, e: Agent.ContextSummarized, position: int) -> list[Statement]:
        return [_insert(e.originator_id, e.summary, position)]

    @statements.register
    def _(self, e: Agent.MessageRewritten, position: int) -> list[Statement]:
        m = e.message
        return [
            (
                "UPDATE view_messages SET text = %s, content = %s, tool_call = %s WHERE id = %s",
                (m.text, plain_text(m), Jsonb(m.to_dict()["tool_call"]) if m.tool_call else None, m.id),
            )
        ]

    @statements.register
    def _(self, e: Agent.Deleted, position: int) -> list[Statement]:
        return [("DELETE FROM view_messages WHERE agent_id = %s", (e.originator_id,))]
