"""No event can stop a view, as a hostile tenant would try it, against a real server.

Unstorable values (NUL, lone surrogates, integers beyond 64 bits) from every source are refused
or cleaned before any event is appended; an event a view still cannot apply is set aside and
the views go on; a write whose views lag says so instead of waiting; and a revoked key or a
deleted user is refused at once, however far the keys view lags.
"""

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from domain import keys
from tests.fake_llm import FakeLLM, tool_reply
from tests.support import MEMGPT, Server, fresh_database, scripted_model_env

WAIT = 2.0  # MEMGPT_VIEW_WAIT of this module's server: how long a write waits for its views


@pytest.fixture(scope="module")
def srv(dsn: str, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        **scripted_model_env(llm.url),
        "MEMGPT_VIEW_WAIT": str(WAIT),
    }
    running = Server(Path(tmp_path_factory.mktemp("home")), dsn, env=env).start()
    try:
        yield running
    finally:
        running.stop()


def _user(srv: Server) -> tuple[str, str]:
    with srv.client() as admin:
        r = admin.post("/admin/users", json={})
        assert r.status_code == 200, r.text
        return r.json()["user_id"], r.json()["api_key"]


def _views_advance(srv: Server) -> None:
    """Another user's create shows in their own list at once, answered well within the bound."""
    _, key = _user(srv)
    with srv.client(key) as c:
        started = time.monotonic()
        r = c.post("/api/agents", json={"config": {"name": f"probe-{uuid.uuid4().hex[:8]}"}})
        assert r.status_code == 200, r.text
        assert "X-Views-Lag" not in r.headers
        assert time.monotonic() - started < WAIT
        agent_id = r.json()["agent_state"]["id"]
        assert agent_id in [a["id"] for a in c.get("/api/agents").json()["agents"]]


def _set_aside(srv: Server) -> dict[str, int]:
    with srv.client() as admin:
        r = admin.get("/admin/views")
        assert r.status_code == 200, r.text
        return {v["view"]: v["set_aside"] for v in r.json()["views"]}


def test_unstorable_request_values_are_refused_and_views_advance(srv: Server) -> None:
    _, key = _user(srv)
    with srv.client(key) as c:
        raw = {"Content-Type": "application/json"}
        for body in (
            b'{"config": {"name": "a\\u0000b"}}',
            b'{"config": {"name": "lone \\ud800 half"}}',
            b'{"config": {"name": "lone \\udc00"}}',
        ):
            r = c.post("/api/agents", content=body, headers=raw)
            assert r.status_code in (400, 422), (body, r.status_code, r.text)
            assert "detail" in r.json()
        r = c.post("/api/humans", json={"name": "h\x00", "text": "someone"})
        assert r.status_code == 422, r.text
        for metadata in ({"n": 2**63}, {"n": -(2**63) - 1}, {"deep": [{"n": 2**70}]}, {"s": "x\x00"}):
            r = c.post(
                "/v1/assistants", json={"model": "gpt-4", "name": "Big", "instructions": "", "metadata": metadata}
            )
            assert r.status_code in (400, 422), (metadata, r.text)
        big = b'{"model": "gpt-4", "name": "B", "instructions": "", "metadata": {"n": 1e30}}'
        assert c.post("/v1/assistants", content=big, headers=raw).status_code in (400, 422)
        for window in (2**64, 1e30):
            r = c.post("/api/agents", json={"config": {"name": "Big", "llm_config": {"context_window": window}}})
            assert r.status_code in (400, 422), r.text
        assert c.get("/v1/assistants").status_code == 200
        assert c.get("/api/humans", params={"after": "x\x00"}).status_code == 422
        assert c.get("/api/humans/a%00b").status_code == 404
        assert c.get("/api/agents", params={"limit": str(2**70)}).status_code in (400, 422)
    _views_advance(srv)
    assert set(_set_aside(srv).values()) == {0}


def test_model_output_with_nul_and_lone_surrogates_is_cleaned(srv: Server, fresh_llm: FakeLLM) -> None:
    _, key = _user(srv)
    with srv.client(key) as c:
        agent_id = c.post("/api/agents", json={"config": {"name": "Echo"}}).json()["agent_state"]["id"]
        arguments = '{"message": "hi\\u0000there \\ud83d alone", "request_heartbeat": false}'
        fresh_llm.script(
            {
                "role": "assistant",
                "content": "thinking\x00 \udc00",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "send_message", "arguments": arguments}}
                ],
            },
        )
        r = c.post(
            "/api/agents/message", json={"agent_id": agent_id, "message": "say it", "stream": False, "role": "user"}
        )
        assert r.status_code == 200, r.text
        said = [m["assistant_message"] for m in r.json()["messages"] if "assistant_message" in m]
        assert said and "\x00" not in said[0] and said[0].startswith("hithere")
        fresh_llm.script(tool_reply("core_memory_append", {"name": "human", "content": "likes \x00 tea"}))
        fresh_llm.script(tool_reply("archival_memory_insert", {"content": "note \x00 one"}))
        _ = c.post(
            "/api/agents/message", json={"agent_id": agent_id, "message": "remember", "stream": False, "role": "user"}
        )
        history = c.get(f"/api/agents/{agent_id}/messages", params={"limit": 50})
        assert history.status_code == 200 and "say it" in history.text
    _views_advance(srv)
    assert set(_set_aside(srv).values()) == {0}


def test_an_uploaded_text_with_nul_after_8_kib_is_cleaned_or_refused(srv: Server) -> None:
    _, key = _user(srv)
    with srv.client(key) as c:
        source = c.post("/api/sources", json={"name": "dump"}).json()["id"]
        data = b"plain words. " * 700 + b"\x00hidden\x00 tail " + "caf\u00e9".encode() + b"\xed\xa0\x80"
        r = c.post(f"/api/sources/{source}/upload", files={"file": ("dump.txt", data)})
        assert r.status_code in (200, 422), r.text
        passages = c.get(f"/api/sources/{source}/passages")
        assert passages.status_code == 200 and "\x00" not in passages.text
    _views_advance(srv)
    assert set(_set_aside(srv).values()) == {0}


def _append_key_issued(dsn: str, user_id: str, key: str, name: str, notify: bool = True) -> int:
    """A `KeyIssued` event appended behind the server's back, shaped like the ones it writes."""
    with psycopg.connect(dsn) as conn:
        version, state = conn.execute(
            "SELECT originator_version, state FROM memgpt_events WHERE originator_id = %s"
            " AND topic = 'memgpt.User.KeyIssued' ORDER BY originator_version LIMIT 1",
            (user_id,),
        ).fetchone()
        last = conn.execute("SELECT max(originator_version) FROM memgpt_events WHERE originator_id = %s", (user_id,))
        event = json.loads(bytes(state))
        event["key_id"]["_data_"] = uuid.uuid4().hex
        event["digest"], event["masked"], event["name"] = keys.digest(key), keys.mask(key), name
        row = conn.execute(
            "INSERT INTO memgpt_events (originator_id, originator_version, topic, state)"
            " VALUES (%s, %s, 'memgpt.User.KeyIssued', %s) RETURNING notification_id",
            (user_id, last.fetchone()[0] + 1, json.dumps(event).encode()),
        ).fetchone()
        if notify:
            conn.execute("NOTIFY memgpt_events")  # what the server's own appends do: wakes the views
        return row[0]


def test_an_event_whose_notification_is_lost_still_reaches_the_views(srv: Server) -> None:
    """As when a view's runner starts listening just after the event was written: nothing else
    happens on the server, yet the key works within a few seconds."""
    user_id, _ = _user(srv)
    key = keys.new_key()
    _append_key_issued(srv.dsn or "", user_id, key, "quiet", notify=False)
    deadline = time.monotonic() + 15
    with srv.client(key) as c:
        while c.get("/api/agents").status_code != 200:
            assert time.monotonic() < deadline, "the keys view never applied an event nobody announced"
            time.sleep(0.5)


def test_an_event_a_view_refuses_is_set_aside_and_applied_after_a_fix(srv: Server) -> None:
    user_id, _ = _user(srv)
    poisoned = keys.new_key()
    position = _append_key_issued(srv.dsn or "", user_id, poisoned, "bad\x00name")  # the keys view cannot store it
    deadline = time.monotonic() + 30
    while _set_aside(srv)["view_keys"] < 1:
        assert time.monotonic() < deadline, f"the poisoned event was never set aside:\n{srv.output()[-3000:]}"
        time.sleep(0.2)
    _views_advance(srv)  # the keys view went on: every write still sees its views at once
    with srv.client(poisoned) as c:
        assert c.get("/api/agents").status_code == 401
    with srv.client() as admin:
        r = admin.post("/admin/views/retry")
        assert r.status_code == 200 and r.json() == {"applied": 0, "set_aside": 1}, r.text
    with psycopg.connect(srv.dsn or "") as conn:  # the fix: the event made storable
        state = conn.execute("SELECT state FROM memgpt_events WHERE notification_id = %s", (position,)).fetchone()[0]
        fixed = bytes(state).replace(b"\\u0000", b"")
        conn.execute("UPDATE memgpt_events SET state = %s WHERE notification_id = %s", (fixed, position))
    with srv.client() as admin:
        r = admin.post("/admin/views/retry")
        assert r.status_code == 200 and r.json() == {"applied": 1, "set_aside": 0}, r.text
        assert admin.post("/admin/views/retry").json() == {"applied": 0, "set_aside": 0}
    with srv.client(poisoned) as c:
        assert c.get("/api/agents").status_code == 200
    assert set(_set_aside(srv).values()) == {0}


def test_the_retry_route_is_for_the_admin_only(srv: Server) -> None:
    _, key = _user(srv)
    with srv.client(key) as c:
        assert c.post("/admin/views/retry").status_code == 403
        assert c.get("/admin/views").status_code == 403
    with httpx.Client(base_url=srv.url) as anonymous:
        assert anonymous.post("/admin/views/retry").status_code == 401


def test_revoked_keys_and_deleted_users_are_refused_while_the_keys_view_lags(srv: Server) -> None:
    user_id, key = _user(srv)
    with srv.client() as admin:
        second = admin.post("/admin/users/keys", json={"user_id": user_id, "name": "spare"}).json()["api_key"]
    with srv.client(key) as c:
        assert c.get("/api/agents").status_code == 200
    with psycopg.connect(srv.dsn or "") as pause:  # the keys view cannot commit while this is held
        pause.execute("LOCK TABLE view_keys_tracking IN EXCLUSIVE MODE")
        with srv.client() as admin:
            started = time.monotonic()
            r = admin.delete("/admin/users/keys", params={"api_key": key})
            assert r.status_code == 200, r.text
            assert r.headers.get("X-Views-Lag") == "true"  # saved, but its views had not shown it in time
            assert time.monotonic() - started < WAIT + 10
            with srv.client(key) as c:
                assert c.get("/api/agents").status_code == 401
            with srv.client(second) as c:
                assert c.get("/api/agents").status_code == 200
            assert admin.delete(f"/admin/users/{user_id}").status_code == 200
            with srv.client(second) as c:
                assert c.get("/api/agents").status_code == 401
                assert c.post("/api/agents", json={"config": {"name": "late"}}).status_code == 401
        pause.rollback()
    _views_advance(srv)


def test_rebuild_applies_set_aside_events_after_a_fix(admin_dsn: str, tmp_path: Path) -> None:
    dsn = fresh_database(admin_dsn)
    server = Server(tmp_path, dsn).start()
    try:
        user_id, _ = _user(server)
        poisoned = keys.new_key()
        position = _append_key_issued(dsn, user_id, poisoned, "bad\x00name")
        deadline = time.monotonic() + 30
        while _set_aside(server)["view_keys"] < 1:
            assert time.monotonic() < deadline, "the poisoned event was never set aside"
            time.sleep(0.2)
    finally:
        server.stop()
    env = os.environ | {"MEMGPT_PG_URI": dsn, "MEMGPT_HOME": str(tmp_path)}
    still = subprocess.run([MEMGPT, "rebuild"], env=env, capture_output=True, text=True)
    assert still.returncode == 0, still.stderr
    assert "view_keys up to log position" in still.stdout and "1 events set aside" in still.stdout
    with psycopg.connect(dsn, autocommit=True) as conn:  # the fix
        conn.execute(
            "UPDATE memgpt_events SET state = convert_to(replace(convert_from(state, 'UTF8'), '\\u0000', ''), 'UTF8')"
            " WHERE notification_id = %s",
            (position,),
        )
    done = subprocess.run([MEMGPT, "rebuild"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "set aside" not in done.stdout
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM view_set_aside").fetchone()[0] == 0
        found = conn.execute("SELECT name FROM view_keys WHERE key_digest = %s", (keys.digest(poisoned),)).fetchone()
        assert found == ("badname",)


def _unstorable(value: object) -> bool:
    """Whether any text in it holds NUL or a lone surrogate (JSON texts inside are parsed too)."""
    if isinstance(value, str):
        try:
            inner = json.loads(value)
        except ValueError:
            inner = None
        raw = "\x00" in value or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)
        return raw or (isinstance(inner, dict | list | str) and inner != value and _unstorable(inner))
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable(v) for v in value)
    return False


def test_every_text_a_model_writes_is_kept_storable() -> None:
    """Unit level: whatever a step keeps of a reply holds no NUL or lone surrogate, escaped or not."""
    from datetime import UTC, datetime

    from domain import step
    from domain.messages import ToolCall, plain_text

    bad = "x\x00y\ud800z"
    arguments = json.dumps({"message": bad, "nested": [{"k\x00": bad}]})  # escaped: "\\u0000", "\\ud800"
    reply = step.Reply(bad, (ToolCall(bad, "send_message", arguments), ToolCall(bad, bad, arguments + "\x00")), "stop")
    sent = ToolCall("c", "send_message", json.dumps({"message": bad}))
    parsed = step.parse(step.storable(sent), ["send_message"])
    assert not _unstorable(parsed.args)
    outcome = step.Outcome("success", bad, bad)
    now = datetime.now(UTC)
    assistant, result = step.step_messages(reply, outcome, (uuid.uuid4(), uuid.uuid4()), now, bad)
    assert result is not None
    for message in (assistant, result):
        assert not _unstorable(message.to_dict()) and not _unstorable(plain_text(message))
    assert not _unstorable([(c.id, c.name, c.arguments) for c in reply.skipped])


def test_a_create_whose_view_lags_answers_503_never_404(admin_dsn: str, tmp_path: Path) -> None:
    """With no wait for the views at all, a new agent is often not in its view yet when the answer
    is made: the write stands, so the answer is 503 with Retry-After, and the agent shows soon."""
    server = Server(tmp_path, fresh_database(admin_dsn), env={"MEMGPT_VIEW_WAIT": "0"}).start()
    try:
        with server.client() as c:
            answers = [c.post("/api/agents", json={"config": {"name": f"lag-{i}"}}) for i in range(20)]
            assert {r.status_code for r in answers} <= {200, 503}, [r.text for r in answers]
            assert all(r.headers["Retry-After"].isdigit() for r in answers if r.status_code == 503)
            deadline = time.monotonic() + 15
            while len(c.get("/api/agents").json()["agents"]) < 20:
                assert time.monotonic() < deadline, "an acknowledged agent never reached its view"
                time.sleep(0.2)
    finally:
        server.stop()
