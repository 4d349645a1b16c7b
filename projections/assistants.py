"""The assistants view: assistants, threads, thread messages and runs, in OpenAI's terms.

A run's status follows its agent turn (queued → in_progress → completed | failed), and what the
agent showed the user in that turn becomes the thread's assistant messages.
"""

from psycopg.types.json import Jsonb

from domain.agents import Agent
from domain.assistants import Assistant, Thread
from projections.base import Statement, View, delete

view = View("view_assistants", ("view_assistants", "view_threads", "view_thread_messages", "view_runs"))


@view.on(Assistant.Created)
def _(e: Assistant.Created, position: int) -> list[Statement]:
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


@view.on(Assistant.Deleted)
def _(e: Assistant.Deleted, position: int) -> list[Statement]:
    return [("DELETE FROM view_assistants WHERE id = %s", (e.originator_id,))]


@view.on(Thread.Created)
def _(e: Thread.Created, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_threads (id, user_id, metadata, created_at) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (e.originator_id, e.user_id, Jsonb(e.metadata), e.timestamp),
        )
    ]


@view.on(Thread.MessageAdded)
def _(e: Thread.MessageAdded, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_thread_messages (id, thread_id, role, content, metadata, created_at, position, seq)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 0) ON CONFLICT DO NOTHING",
            (e.message_id, e.originator_id, e.role, e.content, Jsonb(e.metadata), e.timestamp, position),
        )
    ]


@view.on(Thread.RunStarted)
def _(e: Thread.RunStarted, position: int) -> list[Statement]:
    return [
        (
            "INSERT INTO view_runs (id, thread_id, assistant_id, agent_id, turn_id, status, created_at)"
            " VALUES (%s, %s, %s, %s, %s, 'queued', %s) ON CONFLICT DO NOTHING",
            (e.run_id, e.originator_id, e.assistant_id, e.agent_id, e.turn_id, e.timestamp),
        ),
        ("UPDATE view_threads SET agent_id = %s WHERE id = %s", (e.agent_id, e.originator_id)),
    ]


@view.on(Thread.Deleted)
def _(e: Thread.Deleted, position: int) -> list[Statement]:
    return [
        delete(table, column, e.originator_id)
        for table, column in (
            ("view_thread_messages", "thread_id"),
            ("view_runs", "thread_id"),
            ("view_threads", "id"),
        )
    ]


@view.on(Agent.TurnStarted)
def _(e: Agent.TurnStarted, position: int) -> list[Statement]:
    return [
        (
            "UPDATE view_runs SET status = 'in_progress', started_at = %s WHERE turn_id = %s",
            (e.timestamp, e.turn_id),
        )
    ]


@view.on(Agent.TurnCompleted)
def _(e: Agent.TurnCompleted, position: int) -> list[Statement]:
    return [
        (
            "UPDATE view_runs SET status = 'completed', completed_at = %s WHERE turn_id = %s",
            (e.timestamp, e.turn_id),
        )
    ]


@view.on(Agent.TurnFailed)
def _(e: Agent.TurnFailed, position: int) -> list[Statement]:
    return [
        (
            "UPDATE view_runs SET status = 'failed', failed_at = %s, last_error = %s WHERE turn_id = %s",
            (e.timestamp, e.reason, e.turn_id),
        )
    ]


@view.on(Agent.FunctionReturned)
def _(e: Agent.FunctionReturned, position: int) -> list[Statement]:
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
