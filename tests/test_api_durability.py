"""Everything lives in the log: restarts keep it, rebuilt views equal the live ones, and every
event says which user and request caused it."""

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support import MEMGPT, Server

VIEW_TABLES = ("view_users", "view_keys", "view_agents", "view_agent_context")


def _answers(server: Server, key: str) -> dict[str, object]:
    """What clients see: the reads the API serves from the views."""
    seen: dict[str, object] = {}
    with server.client() as admin, server.client(key) as user:
        seen["users"] = admin.get("/admin/users").json()
        seen["admin_agents"] = admin.get("/api/agents").json()
        seen["user_agents"] = user.get("/api/agents").json()
        for agent in seen["user_agents"]["agents"]:  # type: ignore[index]
            seen[agent["id"]] = user.get(f"/api/agents/{agent['id']}").json()
            seen[agent["id"] + "/memory"] = user.get(f"/api/agents/{agent['id']}/memory").json()
        user_id = seen["user_agents"]["agents"][0]["user_id"]  # type: ignore[index]
        seen["keys"] = admin.get("/admin/users/keys", params={"user_id": user_id}).json()
    return seen


def _rows(dsn: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in VIEW_TABLES}


@pytest.fixture
def stopped_home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def _populate(server: Server) -> str:
    with server.client() as admin:
        admin.post("/api/agents", json={"config": {"name": "AdminsOwn"}})
        user = admin.post("/admin/users", json={"api_key_name": "main"}).json()
        spare = admin.post("/admin/users/keys", json={"user_id": user["user_id"]}).json()["api_key"]
        admin.delete("/admin/users/keys", params={"api_key": spare})
        doomed = admin.post("/admin/users", json={}).json()
        admin.delete("/admin/users", params={"user_id": doomed["user_id"]})
    with server.client(user["api_key"]) as client:
        a = client.post("/api/agents", json={"config": {"name": "One"}}).json()["agent_state"]
        b = client.post("/api/agents", json={"config": {"name": "Two", "human": "cs_phd"}}).json()["agent_state"]
        client.patch(f"/api/agents/{a['id']}/rename", json={"agent_name": "Uno"})
        client.post(f"/api/agents/{a['id']}/memory", json={"persona": "I am Uno."})
        client.delete(f"/api/agents/{b['id']}")
        client.post("/api/agents", json={"config": {"name": "Two"}})
    return user["api_key"]


def test_restart_keeps_everything_and_rebuilt_views_equal_live_ones(dsn: str, tmp_path: Path) -> None:
    server = Server(tmp_path, dsn).start()
    try:
        key = _populate(server)
        live = _answers(server, key)
        live_rows = _rows(dsn)
    finally:
        assert server.stop()

    server = Server(tmp_path, dsn).start()
    try:
        assert _answers(server, key) == live
        busy = subprocess.run(
            [MEMGPT, "rebuild"], env=os.environ | {"MEMGPT_PG_URI": dsn}, capture_output=True, text=True
        )
        assert busy.returncode == 1 and "stop it" in busy.stderr
    finally:
        server.stop()

    with psycopg.connect(dsn, autocommit=True) as conn:  # wreck the views to prove the rebuild
        for table in VIEW_TABLES:
            conn.execute(f"DELETE FROM {table}")
    done = subprocess.run([MEMGPT, "rebuild"], env=os.environ | {"MEMGPT_PG_URI": dsn}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Rebuilt view_agents" in done.stdout
    assert _rows(dsn) == live_rows

    server = Server(tmp_path, dsn).start()
    try:
        assert _answers(server, key) == live
    finally:
        server.stop()


def test_events_record_the_user_and_request_behind_them(server: Server, dsn: str) -> None:
    with server.client() as admin:
        user = admin.post("/admin/users", json={}, headers={"X-Request-ID": "req-create-user"}).json()
    with server.client(user["api_key"]) as client:
        client.post("/api/agents", json={"config": {"name": "Audited"}}, headers={"X-Request-ID": "req-create-agent"})
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT topic, state FROM memgpt_events ORDER BY notification_id").fetchall()
    causes = {topic: json.loads(bytes(state))["caused_by"] for topic, state in rows if b"req-create" in bytes(state)}
    # The trail keeps the client's X-Request-ID beside the server's own id, never in its place.
    assert causes["memgpt.User.Created"]["client_request_id"] == "req-create-user"
    assert causes["memgpt.User.Created"]["user_id"] == "00000000-0000-0000-0000-000000000000"
    assert causes["memgpt.User.Created"]["key_id"] == "admin-password"
    assert causes["memgpt.User.KeyIssued"]["client_request_id"] == "req-create-user"
    created = causes["memgpt.Agent.Created"]
    assert created["client_request_id"] == "req-create-agent" and created["user_id"] == user["user_id"]
    assert created["request_id"] != "req-create-agent" and len(created["request_id"]) == 32
    assert causes["memgpt.AgentName.Created"]["client_request_id"] == "req-create-agent"
    assert not any(user["api_key"].encode() in bytes(state) for _, state in rows)


def test_deletions_are_events_too(server: Server, dsn: str) -> None:
    with server.client() as admin:
        agent = admin.post("/api/agents", json={"config": {}}).json()["agent_state"]
        admin.delete(f"/api/agents/{agent['id']}")
    with psycopg.connect(dsn) as conn:
        topics = [
            r[0]
            for r in conn.execute(
                "SELECT topic FROM memgpt_events WHERE originator_id = %s ORDER BY originator_version", (agent["id"],)
            )
        ]
    assert topics == ["memgpt.Agent.Created", "memgpt.Agent.Deleted"]
