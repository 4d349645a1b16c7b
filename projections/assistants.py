"""The assistants view: assistants, threads, thread messages and runs, in OpenAI's terms.

A run's status follows its agent turn (queued → in_progress → completed | failed), and what the
agent showed the user in that turn becomes the thread's assistant messages.
"""

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg.types.json import Jsonb

from domain.agents import Agent
from domain.assistants import Assistant, Thread
from projections.base import Statement, View, ViewRecorder


class AssistantsRecorder(ViewRecorder):
    view_name = "view_assistants"


class AssistantsView(View):
    name = "view_assistants"
    tables = ("view_assistants", "view_threads", "view_thread_messages", "view_runs")

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.record(tracking, self.statements(domain_event, tracking.notification_id))

    @singledispatchmethod
    def statements(self, domain_event: object, position: int) -> list[Statement]:
        return []

    @statements.register
    def _(self, e: Assistant.Created, position: int) -> list[Statement]:
        return [
            (
                "INSERT INTO view_assistants (id, user_id, name, model, instructions, description, tools, metadata, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    e.originator_id,
                    e.user_id,
                    e.name,
                    e.model,
                    e.instructions,
                    e.description,
                    Jsonb(e.tools),
                    Jsonb(e.metadata),
                    e.timestamp,
                ),
            )
        ]

    @statements.register
    def _(self, e: Assistant.Deleted, position: int) -> list[Statement]:
        return [("DELETE FROM view_assistants WHERE id = %s", (e.originator_id,))]

    @statements.register
    def _(self, e: Thread.Created, position: int) -> list[Statement]:
        return [
            (
                "INSERT INTO view_threads (id, user_id, metadata, created_at) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (e.originator_id, e.user_id, Jsonb(e.metadata), e.timestamp),
            )
        ]

    @statements.register
    def _(self, e: Thread.MessageAdded, position: int) -> list[Statement]:
        return [
            (
                "INSERT INTO view_thread_messages (id, thread_id, role, content, metadata, created_at, position, seq)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, 0) ON CONFLICT DO NOTHING",
                (e.message_id, e.originator_id, e.role, e.content, Jsonb(e.metadata), e.timestamp, position),
            )
        ]

    @statements.register
    def _(self, e: Thread.RunStarted, position: int) -> list[Statement]:
        return [
            (
                "INSERT INTO view_runs (id, thread_id, assistant_id, agent_id, turn_id, status, created_at)"
                " VALUES (%s, %s, %s, %s, %s, 'queued', %s) ON CONFLICT DO NOTHING",
                (e.run_id, e.originator_id, e.assistant_id, e.agent_id, e.turn_id, e.timestamp),
            ),
            ("UPDATE view_threads SET agent_id = %s WHERE id = %s", (e.agent_id, e.originator_id)),
        ]

    @statements.register
    def _(self, e: Thread.Deleted, position: int) -> list[Statement]:
        return [
            (f"DELETE FROM {table} WHERE {column} = %s", (e.originator_id,))  # noqa: S608
            for table, column in (
                ("view_thread_messages", "thread_id"),
                ("view_runs", "thread_id"),
                ("view_threads", "id"),
            )
        ]

    @statements.register
    def _(self, e: Agent.TurnStarted, position: int) -> list[Statement]:
        return [
            (
                "UPDATE view_runs SET status = 'in_progress', started_at = %s WHERE turn_id = %s",
                (e.timestamp, e.turn_id),
            )
        ]

    @statements.register
    def _(self, e: Agent.TurnCompleted, position: int) -> list[Statement]:
        return [
            (
                "UPDATE view_runs SET status = 'completed', completed_at = %s WHERE turn_id = %s",
                (e.timestamp, e.turn_id),
            )
        ]

    @statements.register
    def _(self, e: Agent.TurnFailed, position: int) -> list[Statement]:
        return [
            (
                "UPDATE view_runs SET status = 'failed', failed_at = %s, last_error = %s WHERE turn_id = %s",
                (e.timestamp, e.reason, e.turn_id),
            )
        ]

    @statements.register
    def _(self, e: Agent.FunctionReturned, position: int) -> list[Statement]:
        if e.shown is None:
            return []
        return [
            (
                "INSERT INTO view_thread_messages (id, thread_id, role, content, assistant_id, run_id, metadata, created_at, position, seq)"
                " SELECT %s, thread_id, 'assistant', %s, assistant_id, id, '{}'::jsonb, %s, %s, 0 FROM view_runs"
                " WHERE turn_id = %s ON CONFLICT DO NOTHING",
                (e.message.id, e.shown, e.timestamp, position, e.turn_id),
            )
        ]
