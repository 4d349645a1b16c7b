"""The agents view's context (`view_agent_context`): after every kind of change to an agent's
messages in context (a turn's messages, a summary, twice, a pop, a revert, a deletion), the
`messages` of its state as the API reads them are the agent's own, in its order."""

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import migrations
from domain import prompt, step
from domain.messages import ToolCall
from domain.services.app import CommandGroups, MemGPT
from projections.base import ViewStore, ViewWriter
from projections.runner import VIEWS, catch_up
from runtime.database import eventsourcing_env
from tests.support import fresh_database


@pytest.fixture
def app(admin_dsn: str) -> Iterator[tuple[CommandGroups, psycopg.Connection[Any]]]:
    dsn = fresh_database(admin_dsn)
    migrations.apply(dsn)
    store = MemGPT(env=eventsourcing_env(dsn))
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            yield CommandGroups.on(store), conn
    finally:
        store.close()


def _turn(groups: CommandGroups, user: uuid.UUID, agent_id: uuid.UUID, text: str) -> uuid.UUID:
    turn_id, opened = groups.turns.queue_and_open_turn(user, agent_id, "user", text)
    assert opened is not None
    reply = step.Reply("ok", (ToolCall("c1", "send_message", f'{{"message": "re: {text}"}}'),), "tool_calls", None)
    outcome = step.run_local(step.parse(reply.call, opened.functions), opened.core_memory)  # type: ignore[arg-type]
    groups.turns.record_step(agent_id, turn_id, reply, outcome, finishes=lambda _: True)
    return turn_id


def test_the_viewed_context_follows_the_agent_through_every_change(
    app: tuple[CommandGroups, psycopg.Connection[Any]],
) -> None:
    groups, conn = app
    writer = ViewWriter(ViewStore(conn, VIEWS))
    user, _ = groups.accounts.create_user(None, None)
    agent = groups.agents.create_agent(user, "Context", "memgpt_chat", "sam_pov", "basic", {}, {})
    other = groups.agents.create_agent(user, "Beside", "memgpt_chat", "sam_pov", "basic", {}, {})

    def viewed(agent_id: uuid.UUID) -> list[uuid.UUID]:
        catch_up(conn, groups.store.mapper, writer)
        rows = conn.execute(
            "SELECT message_id FROM view_agent_context WHERE agent_id = %s ORDER BY seq", (agent_id,)
        ).fetchall()
        return [r[0] for r in rows]

    def check() -> None:
        for a in (agent.id, other.id):
            assert viewed(a) == groups.turns.agent(a).message_ids

    check()
    for n in range(6):
        _turn(groups, user, agent.id, f"hello {n}")
        _turn(groups, user, other.id, f"hi {n}")
    check()
    early_version, early_position = groups.turns.agent(agent.id).version, writer.position
    for _ in range(2):  # the second summary hides the first
        turn_id, _ = groups.turns.queue_and_open_turn(user, agent.id, "user", "summarise, please")
        hidden = [m.id for m in prompt.summarisable(groups.turns.agent(agent.id).messages)]
        groups.turns.summarize(agent.id, turn_id, hidden, "We said hello a few times.")
        groups.turns.end_turn(agent.id, turn_id)
        check()
        _turn(groups, user, agent.id, "and after")
        check()
    assert groups.agents.pop_messages(user, agent.id, 2) == 2
    check()
    assert groups.history.revert(user, agent.id, early_version, early_position, ["context"]) == ["context"]
    check()
    groups.agents.delete_agent(user, agent.id)
    assert viewed(agent.id) == []
    assert viewed(other.id) == groups.turns.agent(other.id).message_ids


def test_a_database_of_the_earlier_agents_view_keeps_each_context_in_order(admin_dsn: str) -> None:
    """Migration 0018 moves each agent's jsonb list of ids into rows, in the list's order."""
    dsn = fresh_database(admin_dsn)
    ids = [uuid.uuid4() for _ in range(12)]
    agent_id = uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations ("
            " version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, name, text in migrations.available():
            if version < 18:
                conn.execute(text)  # type: ignore[arg-type]  # the shipped file, as `apply` runs it
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
        conn.execute(
            "INSERT INTO view_agents (id, user_id, name, preset, persona_name, human_name, system, functions,"
            " core_memory, llm_config, embedding_config, message_ids, created_at)"
            " VALUES (%s, %s, 'Old', 'p', 'x', 'y', 's', '[]', '{}', '{}', '{}', %s, now())",
            (agent_id, uuid.uuid4(), Jsonb([str(i) for i in ids])),
        )
    assert "0018_agent_context.sql" in migrations.apply(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT message_id FROM view_agent_context WHERE agent_id = %s ORDER BY seq", (agent_id,))
        assert [r[0] for r in rows] == ids
        [again] = [text for _, name, text in migrations.available() if name == "0018_agent_context.sql"]
        conn.execute(again)  # type: ignore[arg-type]  # run again, it changes nothing
        rows = conn.execute("SELECT message_id FROM view_agent_context WHERE agent_id = %s ORDER BY seq", (agent_id,))
        assert [r[0] for r in rows] == ids
