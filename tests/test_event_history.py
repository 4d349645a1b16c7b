"""The event history, read by whom it belongs to: `/api/agents/{id}/events`, `/api/events` and
`/admin/events` page the log in order, filter it, follow it live (resumable with Last-Event-ID,
across a server killed with -9), show each event's cause, and never show a secret."""

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from domain import keys
from tests.fake_llm import FakeLLM
from tests.support import (
    OPERATOR_KEY,
    PASSWORD,
    TENANT_KEY,
    Server,
    create_agent,
    fresh_database,
    new_user,
    own_llm,
    say,
    start_ready,
    tenant_env,
    waits_for,
)

RUNNER_TYPES = ("Agent.TurnStarted", "Agent.AssistantSpoke", "Agent.FunctionReturned", "Agent.TurnCompleted")


@pytest.fixture(scope="module")
def history_server(admin_dsn: str, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = tenant_env(llm, MEMGPT_ALLOW_USER_ENDPOINTS="1", MEMGPT_ALLOW_INTERNAL_ENDPOINTS="1")
    running = start_ready(admin_dsn, tmp_path_factory.mktemp("history"), env)
    try:
        yield running
    finally:
        running.stop()


def events(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every event of a history, following `next` page by page."""
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        r = client.get(path, params={"limit": 1000, **params, "after": after})
        assert r.status_code == 200, r.text
        page = r.json()
        found += page["events"]
        if page["next"] is None:
            return found
        after = page["next"]


def types(items: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in items]


def positions(items: list[dict[str, Any]]) -> list[int]:
    return [e["position"] for e in items]


def follow(
    client: httpx.Client, path: str, until: Any, headers: dict[str, str] | None = None, **params: Any
) -> list[tuple[int, dict[str, Any]]]:
    """Read a followed history until `until(events so far)` holds: (id, event) per SSE event."""
    got: list[tuple[int, dict[str, Any]]] = []
    with client.stream("GET", path, params={**params, "follow": "true"}, headers=headers or {}) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        current: int | None = None
        for line in r.iter_lines():
            if line.startswith("id: "):
                current = int(line[4:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                assert current == data["position"]
                got.append((current, data))
                if until(got):
                    return got
    raise AssertionError(f"the stream ended early after {len(got)} events")


def rename(client: httpx.Client, agent_id: str, name: str) -> str:
    """Rename an agent; returns the request's id."""
    r = client.patch(f"/api/agents/{agent_id}/rename", json={"agent_name": name})
    assert r.status_code == 200, r.text
    return r.headers["X-Request-ID"]


def head(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT max(notification_id) FROM memgpt_events").fetchone()
        return row[0] if row else 0


def test_an_agents_history_in_log_order_with_the_causes_of_its_turns(history_server: Server) -> None:
    with new_user(history_server) as c:
        agent = create_agent(c, name="Historian")
        r = c.post(
            "/api/agents/message",
            json={"agent_id": agent, "message": "Hello there", "stream": False, "role": "user"},
            headers={"X-Request-ID": "client-hello-1"},
        )
        assert r.status_code == 200, r.text
        request_id = r.headers["X-Request-ID"]
        before = c.get(f"/api/agents/{agent}/memory").json()["core_memory"]
        edit = c.post(f"/api/agents/{agent}/memory", json={"persona": "I keep the records."})
        assert edit.status_code == 200, edit.text
        history = events(c, f"/api/agents/{agent}/events")
        messages = {
            m["id"]: m for m in c.get(f"/api/agents/{agent}/messages", params={"count": 1000}).json()["messages"]
        }

    positions = [e["position"] for e in history]
    assert positions == sorted(set(positions))
    assert types(history)[0] == "Agent.Created"
    for expected in ("Agent.TurnQueued", *RUNNER_TYPES, "Agent.CoreMemoryReplaced"):
        assert expected in types(history)
    for e in history:
        assert set(e) == {
            "position", "type", "version", "time", "originator_id", "user_id", "agent_id", "turn_id", "caused_by", "payload"
        }  # fmt: skip
        assert e["agent_id"] == agent and e["time"].endswith("+00:00")
    versions = [e["version"] for e in history if e["originator_id"] == agent]
    assert versions == list(range(1, len(versions) + 1))

    created = history[0]["payload"]
    assert created["name"] == "Historian" and isinstance(created["user_id"], str)
    assert all(m["id"] in messages and m == messages[m["id"]] for m in created["messages"])  # shaped as the route does
    queued = next(e for e in history if e["type"] == "Agent.TurnQueued")
    cause = queued["caused_by"]
    assert cause["request_id"] == request_id and cause["client_request_id"] == "client-hello-1"
    assert cause["user_id"] == history[0]["user_id"] and cause["key_id"] and "key_name" in cause
    assert queued["payload"] == {"turn_id": queued["turn_id"], "role": "user", "text": "Hello there"}
    turn = [e for e in history if e["turn_id"] == queued["turn_id"]]
    assert {"Agent.TurnQueued", *RUNNER_TYPES} <= set(types(turn))
    assert all(e["caused_by"] == cause for e in turn)  # the runner's events: the cause of their turn
    spoke = next(e for e in turn if e["type"] == "Agent.AssistantSpoke")
    assert spoke["payload"]["message"] == messages[spoke["payload"]["message"]["id"]]
    assert spoke["payload"]["message"]["model"] == "gpt-4"

    replaced = [e for e in history if e["type"] == "Agent.CoreMemoryReplaced"][-1]
    assert replaced["payload"] == {
        "core_memory": {"persona": {"before": before["persona"], "after": "I keep the records."}}
    }
    assert replaced["caused_by"]["request_id"] == edit.headers["X-Request-ID"]


def test_a_function_that_edits_memory_shows_the_section_before_and_after(history_server: Server, llm: FakeLLM) -> None:
    from tests.fake_llm import tool_reply

    llm.reset()
    with new_user(history_server) as c:
        agent = create_agent(c)
        human = c.get(f"/api/agents/{agent}/memory").json()["core_memory"]["human"]
        llm.script(
            tool_reply("core_memory_append", {"name": "human", "content": "Likes tea.", "request_heartbeat": False})
        )
        say(c, agent, "I like tea")
        history = events(c, f"/api/agents/{agent}/events", type="Agent.CoreMemoryReplaced")
    (change,) = history
    assert change["payload"]["core_memory"] == {"human": {"before": human, "after": human + "\nLikes tea."}}
    queued = events(history_server.client(PASSWORD), "/admin/events", type="Agent.TurnQueued", agent_id=agent)
    assert change["turn_id"] == queued[-1]["turn_id"] and change["caused_by"] == queued[-1]["caused_by"]


def test_pages_by_position_with_a_next_cursor(history_server: Server) -> None:
    with new_user(history_server) as c:
        agent = create_agent(c)
        for name in ("One", "Two", "Three"):
            rename(c, agent, name)
        everything = events(c, f"/api/agents/{agent}/events")
        first = c.get(f"/api/agents/{agent}/events", params={"limit": 2}).json()
        assert [e["position"] for e in first["events"]] == [e["position"] for e in everything[:2]]
        assert first["next"] == everything[1]["position"]
        second = c.get(f"/api/agents/{agent}/events", params={"limit": 2, "after": first["next"]}).json()
        assert [e["position"] for e in second["events"]] == [e["position"] for e in everything[2:4]]
        paged, after = [], 0
        while True:
            page = c.get(f"/api/agents/{agent}/events", params={"limit": 3, "after": after}).json()
            paged += page["events"]
            if page["next"] is None:
                break
            after = page["next"]
        assert paged == everything
        assert c.get(f"/api/agents/{agent}/events", params={"limit": 100}).json()["next"] is None
        for bad in ({"limit": 0}, {"limit": 1001}, {"after": -1}, {"since": "yesterday"}, {"turn_id": "nope"}):
            assert c.get(f"/api/agents/{agent}/events", params=bad).status_code in (400, 422), bad
        assert c.get(f"/api/agents/{agent}/events", params={"limit": 1000}).status_code == 200


def test_every_filter(history_server: Server) -> None:
    with new_user(history_server) as c:
        one, two = create_agent(c, name="FilterOne"), create_agent(c, name="FilterTwo")
        say(c, one, "first")
        rename_request = rename(c, two, "FilterTwoB")
        say(c, one, "second")
        full = events(c, f"/api/agents/{one}/events")
        mine = events(c, "/api/events")
        user_id = full[0]["user_id"]

        # type: one, repeated, comma-separated
        queued = events(c, f"/api/agents/{one}/events", type="Agent.TurnQueued")
        assert types(queued) == ["Agent.TurnQueued"] * 2
        both = [e for e in full if e["type"] in ("Agent.TurnQueued", "Agent.TurnCompleted")]
        assert events(c, f"/api/agents/{one}/events", type=["Agent.TurnQueued", "Agent.TurnCompleted"]) == both
        assert events(c, f"/api/agents/{one}/events", type="Agent.TurnQueued,Agent.TurnCompleted") == both
        assert events(c, f"/api/agents/{one}/events", type="No.Such") == []

        # turn_id
        turn = queued[1]["turn_id"]
        in_turn = events(c, f"/api/agents/{one}/events", turn_id=turn)
        assert in_turn == [e for e in full if e["turn_id"] == turn] and len(in_turn) >= 5

        # since (inclusive) and until (exclusive)
        middle = full[len(full) // 2]
        since = events(c, f"/api/agents/{one}/events", since=middle["time"])
        assert since and all(e["time"] >= middle["time"] for e in since) and since[-1] == full[-1]
        until = events(c, f"/api/agents/{one}/events", until=middle["time"])
        assert until and all(e["time"] < middle["time"] for e in until) and until[0] == full[0]
        naive = middle["time"].replace("+00:00", "")
        assert events(c, f"/api/agents/{one}/events", since=naive) == since

        # /api/events: the user's whole history, and its agent_id filter
        assert {"User.Created", "User.KeyIssued", "Agent.Created", "AgentName.Created", "User.Owned"} <= set(
            types(mine)
        )
        assert all(e["user_id"] == user_id for e in mine)
        assert events(c, "/api/events", agent_id=one) == full
        assert [e for e in events(c, "/api/events", agent_id=two) if e["type"] == "Agent.Renamed"]

    with history_server.client(PASSWORD) as admin:
        everyone = events(admin, "/admin/events")
        assert [e for e in everyone if e["user_id"] == user_id] == events(admin, "/admin/events", user_id=user_id)
        # the operator sees its own endpoints' addresses; the rest is the same
        assert positions(events(admin, "/admin/events", agent_id=one)) == positions(full)
        by_request = events(admin, "/admin/events", request_id=rename_request)
        assert by_request and {e["caused_by"]["request_id"] for e in by_request} == {rename_request}
        assert "Agent.Renamed" in types(by_request)
        assert events(admin, "/admin/events", user_id=user_id, type="Agent.TurnQueued", since=full[0]["time"]) == queued
        assert events(admin, "/admin/events", turn_id=turn) == in_turn
        assert [e["position"] for e in everyone] == sorted(e["position"] for e in everyone)


def test_another_tenants_history_is_invisible(history_server: Server) -> None:
    with new_user(history_server) as alice, new_user(history_server) as bob:
        agent = create_agent(alice)
        say(alice, agent, "secret plans")
        gone = create_agent(alice)
        assert alice.delete(f"/api/agents/{gone}").status_code == 200
        missing = "00000000-0000-0000-0000-0000000000aa"
        for who, agent_id in ((bob, agent), (alice, gone), (bob, missing)):
            r = who.get(f"/api/agents/{agent_id}/events")
            assert r.status_code == 404 and r.json() == {"detail": f"Agent agent_id={agent_id} not found"}
            assert who.get(f"/api/agents/{agent_id}/events", params={"follow": "true"}).status_code == 404
        alices = {e["position"] for e in events(alice, "/api/events")}
        bobs = events(bob, "/api/events")
        assert alices and bobs and not alices & {e["position"] for e in bobs}
        assert events(bob, "/api/events", agent_id=agent) == []
        assert bob.get("/admin/events").status_code == 403
        assert bob.get("/admin/events", params={"follow": "true"}).status_code == 403
    with history_server.client(None) as nobody:
        assert nobody.get("/admin/events").status_code == 401
        assert nobody.get("/api/events").status_code == 401


def test_follow_sends_the_backlog_then_live_events_and_resumes_with_last_event_id(history_server: Server) -> None:
    with new_user(history_server) as c:
        agent = create_agent(c, name="Follower")
        backlog = events(c, f"/api/agents/{agent}/events")
        path = f"/api/agents/{agent}/events"
        got = follow(c, path, lambda got: len(got) == len(backlog))
        assert [e for _, e in got] == backlog

        # live: a rename while following, seen once, after the backlog
        def later() -> None:
            with new_user(history_server):  # unrelated writes in between are filtered out
                pass
            rename(c, agent, "FollowerB")

        timer = threading.Timer(0.5, later)
        timer.start()
        live = follow(c, path, lambda got: got[-1][1]["type"] == "Agent.Renamed")
        timer.join()
        assert [e for _, e in live[: len(backlog)]] == backlog
        renamed = live[len(backlog) :]
        assert types([e for _, e in renamed])[-1] == "Agent.Renamed" and len({p for p, _ in live}) == len(live)

        # resumed after the last one seen: only what came after it
        rename(c, agent, "FollowerC")
        last = live[-1][0]
        missed = [e for e in events(c, path) if e["position"] > last]
        assert "Agent.Renamed" in types(missed)

        def caught_up(got: list[tuple[int, dict[str, Any]]]) -> bool:
            return got[-1][0] >= missed[-1]["position"]

        resumed = follow(c, path, caught_up, {"Last-Event-ID": str(last)})
        assert [e for _, e in resumed] == missed
        assert follow(c, path, caught_up, after=last) == resumed
        bad = c.get(path, params={"follow": "true"}, headers={"Last-Event-ID": "x1"})
        assert bad.status_code == 400


def test_an_admin_follower_gets_exactly_the_events_it_missed_across_a_kill_9(
    admin_dsn: str, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> None:
    dsn = fresh_database(admin_dsn)
    home = Path(tmp_path_factory.mktemp("killed"))
    env = tenant_env(llm)
    first = start_ready(admin_dsn, home, env, dsn)
    try:
        with first.client() as admin, new_user(first) as c:
            agent = create_agent(c)
            say(c, agent, "before the kill")
            top = head(dsn)
            seen = follow(admin, "/admin/events", lambda got: got[-1][0] >= top)
            assert [p for p, _ in seen] == sorted({p for p, _ in seen})
    finally:
        first.stop(signal.SIGKILL)
    second = start_ready(admin_dsn, home, env, dsn)
    try:
        with second.client() as admin:
            key = admin.post("/admin/users", json={}).json()["api_key"]
            with second.client(key) as c:
                agent = create_agent(c)
                say(c, agent, "after the kill")
            top = head(dsn)
            last = seen[-1][0]
            resumed = follow(admin, "/admin/events", lambda got: got[-1][0] >= top, {"Last-Event-ID": str(last)})
        with psycopg.connect(dsn) as conn:
            missed = [
                r[0]
                for r in conn.execute(
                    "SELECT notification_id FROM memgpt_events WHERE notification_id > %s ORDER BY 1", (last,)
                )
            ]
        assert [p for p, _ in resumed] == missed
    finally:
        second.stop()


def test_no_secret_appears_in_any_payload(history_server: Server, tenant: FakeLLM) -> None:
    with history_server.client(PASSWORD) as admin:
        made = admin.post("/admin/users", json={"api_key_name": "laptop"}).json()
        user_key = made["api_key"]
        second = admin.post("/admin/users/keys", json={"user_id": made["user_id"], "name": "phone"}).json()["api_key"]
        assert admin.delete("/admin/users/keys", params={"api_key": second}).status_code == 200
    with history_server.client(user_key) as c:
        r = c.post("/api/agents", json={"config": {"name": "Keyed", "llm_config": own_llm(tenant, api_key=TENANT_KEY)}})
        assert r.status_code == 200, r.text
        agent = r.json()["agent_state"]["id"]
        shown = c.get(f"/api/agents/{agent}").json()["agent_state"]["llm_config"]
        source = c.post("/api/sources", json={"name": "docs"})
        assert source.status_code == 200, source.text
        mine = events(c, "/api/events")
        created = next(e for e in mine if e["type"] == "Agent.Created")
        assert created["payload"]["llm_config"]["model_endpoint"] == shown["model_endpoint"]
        assert created["payload"]["llm_config"]["api_key_sealed"] == "[redacted]"
        issued = [e for e in mine if e["type"] == "User.KeyIssued"]
        assert len(issued) == 2 and all(e["payload"]["digest"] == "[redacted]" for e in issued)
        assert issued[0]["payload"]["masked"] == keys.mask(user_key)
    with history_server.client(PASSWORD) as admin:
        everything = events(admin, "/admin/events")
    sealed = set()
    for e in everything:
        if e["type"] == "Agent.Created":
            assert e["payload"]["llm_config"].get("api_key_sealed") in (None, "[redacted]")
    with psycopg.connect(history_server.dsn) as conn:
        for (state,) in conn.execute("SELECT state FROM memgpt_events WHERE topic = 'memgpt.Agent.Created'"):
            value = json.loads(bytes(state)).get("llm_config", {}).get("api_key_sealed")
            if value:
                sealed.add(value)
    assert sealed  # the tenant's key is in the log, sealed
    secrets = {
        user_key,
        second,
        keys.digest(user_key),
        keys.digest(second),
        TENANT_KEY,
        OPERATOR_KEY,
        PASSWORD,
        *sealed,
    }
    for dump in (json.dumps(everything), json.dumps(mine)):
        found = [s for s in secrets if s in dump]
        assert not found, found


def test_hostile_text_in_an_event_neither_stalls_the_index_nor_breaks_a_page(history_server: Server) -> None:
    """An event appended behind the server's back, with NUL and lone surrogates in its text and its
    cause: the index stores it (made storable), and its page answers."""
    with history_server.client(PASSWORD) as admin:
        made = admin.post("/admin/users", json={}).json()
    user_id = made["user_id"]
    with psycopg.connect(history_server.dsn or "") as conn:
        version, state = conn.execute(
            "SELECT originator_version, state FROM memgpt_events WHERE originator_id = %s"
            " AND topic = 'memgpt.User.KeyIssued' ORDER BY originator_version LIMIT 1",
            (user_id,),
        ).fetchone()
        last = conn.execute("SELECT max(originator_version) FROM memgpt_events WHERE originator_id = %s", (user_id,))
        event = json.loads(bytes(state))
        event["key_id"]["_data_"] = "ab" * 16
        event["name"] = "bad\x00name \ud800"
        event["caused_by"] |= {"client_request_id": "x\x00\udc00", "\x00key": "v", "request_id": "r" * 5000}
        text = json.dumps(event)  # escapes both: \u0000, \ud800
        conn.execute(
            "INSERT INTO memgpt_events (originator_id, originator_version, topic, state)"
            " VALUES (%s, %s, 'memgpt.User.KeyIssued', %s)",
            (user_id, last.fetchone()[0] + 1, text.encode()),
        )
        conn.execute("NOTIFY memgpt_events")
    with history_server.client(PASSWORD) as admin:
        found: list[dict[str, Any]] = []

        def indexed() -> bool:
            found[:] = events(admin, "/admin/events", user_id=user_id, type="User.KeyIssued")
            return len(found) == 2

        assert waits_for(indexed, 30)
        assert found[-1]["payload"]["name"] == "badname \ufffd"
        assert found[-1]["caused_by"]["client_request_id"] == "x\ufffd"
        assert found[-1]["caused_by"]["request_id"] == "r" * 200  # indexed: kept short
        views = {v["view"]: v["set_aside"] for v in admin.get("/admin/views").json()["views"]}
        assert views["view_event_index"] == 0


def test_payloads_are_generic_new_fields_and_events_show_shaped_and_redacted() -> None:
    """Without a server: an event type this code has never seen (shaped like `Agent.Reverted`, with
    `usage` and a nested key) shows every field, its messages shaped, its memory as before/after,
    its ids as strings, and no secret."""
    import uuid
    from dataclasses import dataclass
    from datetime import UTC, datetime

    from api.payloads import REDACTED, Shaper
    from domain.messages import Message, ToolCall
    from projections.event_history import Recorded
    from runtime.endpoints import Endpoints, Sealer

    @dataclass(frozen=True)
    class Reverted:
        originator_id: uuid.UUID
        originator_version: int
        timestamp: datetime
        to: int
        parts: list[str]
        core_memory: dict[str, str] | None
        messages: list[Message] | None
        usage: dict[str, int]
        forked_from: dict[str, Any]
        llm_config: dict[str, Any]
        caused_by: dict[str, str]

    agent, user, now = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
    message = Message(uuid.uuid4(), "assistant", "thinking", now, tool_call=ToolCall("c1", "send_message", "{}"))
    event = Reverted(
        agent,
        7,
        now,
        to=42,
        parts=["core_memory", "context"],
        core_memory={"persona": "p", "human": "h2"},
        messages=[message],
        usage={"prompt_tokens": 10, "completion_tokens": 3},
        forked_from={"agent_id": uuid.uuid4(), "position": 40},
        llm_config={"model": "gpt-4", "api_key_sealed": "gAAAA-sealed", "nested": {"password": "pw", "digest": "d"}},
        caused_by={"request_id": "r1"},
    )
    recorded = Recorded(
        99, "Agent.Reverted", 7, now, agent, user, agent, None, None, event, {"persona": "p", "human": "h"}
    )
    endpoints = Endpoints((), False, False, Sealer("not-used", Path("/nonexistent")))
    payload = Shaper(endpoints, False, {agent: "gpt-4"}).payload(recorded)
    assert set(payload) == {"to", "parts", "core_memory", "messages", "usage", "forked_from", "llm_config"}
    assert payload["core_memory"] == {"human": {"before": "h", "after": "h2"}}
    assert payload["messages"] == [
        {
            "id": str(message.id),
            "user_id": str(user),
            "agent_id": str(agent),
            "role": "assistant",
            "text": "thinking",
            "name": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "send_message", "arguments": "{}"}}],
            "tool_call_id": None,
            "model": "gpt-4",
            "created_at": now.isoformat(),
        }
    ]
    assert payload["usage"] == {"prompt_tokens": 10, "completion_tokens": 3}
    assert payload["forked_from"]["agent_id"] == str(event.forked_from["agent_id"])
    assert payload["llm_config"]["api_key_sealed"] == REDACTED
    assert payload["llm_config"]["nested"] == {"password": REDACTED, "digest": REDACTED}
    assert "gAAAA-sealed" not in json.dumps(payload)


def test_a_database_with_events_gets_its_index_from_the_migration(admin_dsn: str) -> None:
    """Migration 0012 on a database that already holds a log fills the index in SQL (the runner
    would take half an hour per million events): every row and owner exactly as the view's rule
    makes them from the recorded log, and the view's position at the log's head."""
    import migrations
    from tests.log_fixture import differences, dump_views, fixture_paths, load_events, read_fixture

    tables = ("view_event_index", "view_event_owners", "view_event_index_tracking")
    for path in fixture_paths():
        fixture = read_fixture(path)
        dsn = fresh_database(admin_dsn)
        migrations.apply(dsn)
        load_events(dsn, fixture["events"])
        with psycopg.connect(dsn, autocommit=True) as conn:  # as before 0012: a log, no index
            conn.execute("DELETE FROM schema_migrations WHERE version = 12")
            conn.execute("DROP TABLE view_event_index, view_event_owners, view_event_index_tracking")
        assert migrations.apply(dsn) == ["0012_event_index.sql"]
        views = dump_views(dsn)
        found = differences({t: fixture["views"][t] for t in tables}, {t: views[t] for t in tables})
        assert not found, f"{path.name}:\n" + "\n".join(found[:20])
        if path == fixture_paths()[0]:  # a state jsonb cannot hold: the index is left to the runner
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("DELETE FROM schema_migrations WHERE version = 12")
                conn.execute("DROP TABLE view_event_index, view_event_owners, view_event_index_tracking")
                user = fixture["events"][0]["originator_id"]
                conn.execute(
                    "INSERT INTO memgpt_events (originator_id, originator_version, topic, state)"
                    " VALUES (%s, 1000, 'memgpt.User.TextSaved', %s)",
                    (
                        user,
                        b'{"timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-01T00:00:00+00:00"},'
                        b' "kind": "human", "name": "x", "text": "bad \\u0000 text"}',
                    ),
                )
            assert migrations.apply(dsn) == ["0012_event_index.sql"]
            with psycopg.connect(dsn) as conn:
                assert conn.execute("SELECT count(*) FROM view_event_index").fetchone() == (0,)
                assert conn.execute("SELECT application_name FROM view_event_index_tracking").fetchall() == [
                    ("__migration__",)
                ]
