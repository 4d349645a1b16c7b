"""A trail that cannot be forged: `caused_by` holds the server's own request id, the user and the
key that acted; a client's X-Request-ID is kept beside it as `client_request_id`, never in its place."""

import json
import uuid

import psycopg

from tests.support import Server


def test_a_forged_request_id_never_lands_as_the_servers(server: Server, dsn: str) -> None:
    with server.client() as admin:
        user = admin.post("/admin/users", json={}).json()
    forged = f"forged-{uuid.uuid4().hex[:8]}"
    with server.client(user["api_key"]) as client:
        r = client.post("/api/agents", json={"config": {"name": "Forger"}}, headers={"X-Request-ID": forged})
        assert r.status_code == 200, r.text
        server_id = r.headers["X-Request-ID"]
        assert server_id != forged and r.headers["X-Client-Request-ID"] == forged
        agent_id = r.json()["agent_state"]["id"]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT topic, state FROM memgpt_events").fetchall()
    causes = [json.loads(bytes(state)).get("caused_by") or {} for _, state in rows]
    assert not any(c.get("request_id") == forged for c in causes)
    mine = [c for c in causes if c.get("client_request_id") == forged]
    assert mine and all(c["request_id"] == server_id for c in mine)
    assert all(c["user_id"] == user["user_id"] for c in mine)
    key_ids = {c["key_id"] for c in mine}
    assert len(key_ids) == 1 and uuid.UUID(key_ids.pop())  # the key's id, not the key
    assert not any(user["api_key"].encode() in bytes(state) for _, state in rows)
    with server.client(user["api_key"]) as client:  # events stored before and after still load
        assert client.get(f"/api/agents/{agent_id}").status_code == 200
