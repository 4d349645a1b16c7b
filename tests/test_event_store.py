"""The event store's saves, on PostgreSQL: a save is one statement (`memgpt_append`), small or
large, and a reader following the log never passes over an event committed after it read."""

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

import migrations
from domain import step
from domain.errors import AgentNotFound
from domain.services.app import CommandGroups, MemGPT
from runtime.database import eventsourcing_env
from tests.support import fresh_database

LARGE = 256 * 1024  # characters of a message: four times what once decided a save went another way


@pytest.fixture
def app(admin_dsn: str) -> Iterator[tuple[CommandGroups, str]]:
    dsn = fresh_database(admin_dsn)
    migrations.apply(dsn)
    store = MemGPT(env=eventsourcing_env(dsn))
    try:
        yield CommandGroups.on(store), dsn
    finally:
        store.close()


def test_a_lost_race_conflicts_and_leaves_its_connection_ready_for_the_next_save(
    app: tuple[CommandGroups, str],
) -> None:
    groups, _ = app
    user, _ = groups.accounts.create_user(None, None)
    agent = groups.agents.create_agent(user, "Racer", "memgpt_chat", "sam_pov", "basic", {}, {})
    store = groups.store
    first, second = store.repository.get(agent.id), store.repository.get(agent.id)
    first.queue_turn(uuid.uuid4(), "user", "one")
    second.queue_turn(uuid.uuid4(), "user", "two")
    store.save(first)
    with pytest.raises(IntegrityError):
        store.save(second)
    for _ in range(store.recorder.datastore.pool.max_size + 1):  # every pooled connection in turn
        groups.turns.queue_turn(user, agent.id, "user", "and on")
    queued = store.repository.get(agent.id).queued
    assert [t["text"] for t in queued] == ["one"] + ["and on"] * (store.recorder.datastore.pool.max_size + 1)


def test_a_reader_of_the_log_misses_nothing_saved_concurrently_small_or_large(app: tuple[CommandGroups, str]) -> None:
    groups, dsn = app
    user, _ = groups.accounts.create_user(None, None)
    agents = [groups.agents.create_agent(user, f"W{n}", "memgpt_chat", "sam_pov", "basic", {}, {}) for n in range(4)]
    large = "x" * LARGE
    done = threading.Event()
    seen: list[int] = []

    def write(agent_id: uuid.UUID) -> None:
        for i in range(25):
            groups.turns.queue_turn(user, agent_id, "user", large if i % 10 == 0 else f"message {i}")

    with psycopg.connect(dsn) as conn:  # where the reader starts: before any writer does
        start = conn.execute("SELECT coalesce(max(notification_id), 0) FROM memgpt_events").fetchone()[0]

    def read() -> None:  # follows the log as the log tail does: whatever comes after the last seen
        last = start
        with psycopg.connect(dsn, autocommit=True) as conn:
            while True:
                finished = done.is_set()
                rows = conn.execute(
                    "SELECT notification_id FROM memgpt_events WHERE notification_id > %s ORDER BY notification_id",
                    (last,),
                ).fetchall()
                seen.extend(r[0] for r in rows)
                last = rows[-1][0] if rows else last
                if finished:
                    return

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(a.id,)) for a in agents]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    done.set()
    reader.join()
    with psycopg.connect(dsn) as conn:
        saved = conn.execute(
            "SELECT notification_id FROM memgpt_events WHERE topic = 'memgpt.Agent.TurnQueued' ORDER BY 1"
        ).fetchall()
    assert len(saved) == 100
    assert {r[0] for r in saved} <= set(seen)  # none passed over: ids are taken in commit order


def _reads(store: MemGPT) -> list[uuid.UUID]:
    """Counts the event store's reads of an aggregate's events (fast-forwards and loads)."""
    reads: list[uuid.UUID] = []
    get = store.events.get

    def counted(originator_id: uuid.UUID, *args: object, **kwargs: object) -> object:
        reads.append(originator_id)
        return get(originator_id, *args, **kwargs)  # type: ignore[arg-type]

    store.events.get = counted  # type: ignore[method-assign]
    return reads


def test_a_step_on_an_agent_this_process_saved_last_reads_nothing_back(app: tuple[CommandGroups, str]) -> None:
    """The agent as saved is what the next command starts from: the runner's commands on it (queue,
    step) read no events back; a plain load still reads what other processes may have saved."""
    groups, _ = app
    user, _ = groups.accounts.create_user(None, None)
    agent = groups.agents.create_agent(user, "Quick", "memgpt_chat", "sam_pov", "basic", {}, {})
    reads = _reads(groups.store)
    turn_id, opened = groups.turns.queue_and_open_turn(user, agent.id, "user", "hi")
    assert opened is not None
    reply = step.Reply("ok", (), "stop", None)
    after = groups.turns.record_step(agent.id, turn_id, reply, None, finishes=lambda _: True)
    assert reads == [] and after.current_turn is None
    groups.turns.agent(agent.id)
    assert reads == [agent.id]


def test_a_command_on_an_agent_another_process_changed_since_loses_the_race_and_sees_the_change(
    app: tuple[CommandGroups, str],
) -> None:
    """Two stores on one database, as two server processes: the first's cached agent is behind
    the second's save, so its first attempt conflicts and its retry reads; nothing is lost."""
    groups, dsn = app
    other = CommandGroups.on(MemGPT(env=eventsourcing_env(dsn)))
    try:
        user, _ = groups.accounts.create_user(None, None)
        agent = groups.agents.create_agent(user, "Shared", "memgpt_chat", "sam_pov", "basic", {}, {})
        groups.turns.queue_turn(user, agent.id, "user", "one")  # cached here, as saved
        other.turns.queue_turn(user, agent.id, "user", "two")  # the other process
        reads = _reads(groups.store)
        groups.turns.queue_turn(user, agent.id, "user", "three")
        assert reads == [agent.id]  # only the retry read
        texts = [t["text"] for t in other.turns.agent(agent.id).queued]
        assert texts == ["one", "two", "three"]
        other.agents.delete_agent(user, agent.id)
        with pytest.raises(AgentNotFound):
            groups.turns.queue_turn(user, agent.id, "user", "four")
    finally:
        other.store.close()


def test_a_commands_save_is_one_statement_small_or_large(
    app: tuple[CommandGroups, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a command saves is sent as one statement (`_append`), the library's `tracking=None`
    notwithstanding (it once kept every save off the short path), and a large save too."""
    groups, _ = app
    recorder = groups.store.recorder
    appended: list[int] = []
    send = recorder._append  # type: ignore[attr-defined]
    monkeypatch.setattr(recorder, "_append", lambda events: appended.append(len(events)) or send(events))
    user, _ = groups.accounts.create_user(None, None)
    agent = groups.agents.create_agent(user, "Appended", "memgpt_chat", "sam_pov", "basic", {}, {})
    before = len(appended)
    groups.turns.queue_turn(user, agent.id, "user", "small")
    groups.turns.queue_turn(user, agent.id, "user", "x" * LARGE)
    assert len(appended) == before + 2
    assert [t["text"][:5] for t in groups.turns.agent(agent.id).queued] == ["small", "xxxxx"]


def test_racing_saves_leave_every_connection_usable(app: tuple[CommandGroups, str]) -> None:
    """Eight threads queue messages to one agent at once: most first attempts lose the race, on
    connections that have saved before. Every command still lands (a prepared statement that an
    aborted save never created was once used later: a 500)."""
    groups, _ = app
    user, _ = groups.accounts.create_user(None, None)
    agent = groups.agents.create_agent(user, "Contended", "memgpt_chat", "sam_pov", "basic", {}, {})
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(40):
                groups.turns.queue_turn(user, agent.id, "user", f"{n}-{i}")
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(groups.turns.agent(agent.id).queued) == 8 * 40


def test_a_save_after_the_database_dropped_every_connection_still_lands(
    app: tuple[CommandGroups, str],
) -> None:
    """A restart closes every pooled connection: the first save meets a dead one, and is tried
    once more on a connection the pool has just tested; nothing is saved twice."""
    groups, dsn = app
    user, _ = groups.accounts.create_user(None, None)
    agent = groups.agents.create_agent(user, "Restarted", "memgpt_chat", "sam_pov", "basic", {}, {})
    groups.turns.queue_turn(user, agent.id, "user", "before")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    groups.turns.queue_turn(user, agent.id, "user", "after")
    assert [t["text"] for t in groups.turns.agent(agent.id).queued] == ["before", "after"]


def test_events_and_snapshots_read_back_as_saved_whatever_their_text(app: tuple[CommandGroups, str]) -> None:
    """Saves and snapshots are sent as binary columns (`_columns`): text that the composite
    type's text format would have to escape (quotes, backslashes, commas, parentheses, braces,
    non-ASCII) reads back as it was, from the log and from the snapshot taken at version 100."""
    groups, dsn = app
    user, _ = groups.accounts.create_user(None, None)
    agent = groups.agents.create_agent(user, "Escaped", "memgpt_chat", "sam_pov", "basic", {}, {})
    tricky = 'a "quoted" \\ back\\\\slash, (paren) {brace} é 漢 \x7f'
    while groups.turns.agent(agent.id).version < 100:
        groups.turns.queue_turn(user, agent.id, "user", tricky)
    other = MemGPT(env=eventsourcing_env(dsn))  # another process: nothing cached
    try:
        assert other.snapshots is not None
        assert [s.originator_version for s in other.snapshots.get(agent.id)] == [100]
        loaded = other.repository.get(agent.id)
        assert vars(loaded) == vars(groups.turns.agent(agent.id))
        assert {t["text"] for t in loaded.queued} == {tricky}
    finally:
        other.close()
