"""`memgpt server` as a newcomer runs it: embedded PostgreSQL, start-up lines, OpenAPI files, SSL."""

import json
import ssl
from pathlib import Path

import httpx

from tests.support import Server


def test_embedded_defaults_start_print_and_persist(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = Server(home, dsn=None, env={"MEMGPT_SERVER_PASS": ""}).start(timeout=120)
    try:
        out = server.output()
        password = out.split("Generated admin server password for this session: ")[1].split()[0]
        assert len(password) >= 20
        assert "Writing out openapi_memgpt.json file" in out and "Writing out openapi_assistants.json file" in out
        assert f"Uvicorn running on http://127.0.0.1:{server.port} (Press CTRL+C to quit)" in out
        assert (home / "pgdata" / "PG_VERSION").read_text().strip() == "16"
        with server.client(password) as admin:
            agent = admin.post("/api/agents", json={"config": {"name": "Kept"}}).json()["agent_state"]
        memgpt_doc = json.loads((home / "openapi_memgpt.json").read_text())
        assert "/api/agents" in memgpt_doc["paths"] and "/admin/users" in memgpt_doc["paths"]
        assert json.loads((home / "openapi_assistants.json").read_text())["openapi"].startswith("3.")
    finally:
        assert server.stop()

    again = Server(home, dsn=None).start(timeout=120)  # MEMGPT_SERVER_PASS set this time
    try:
        assert "Using existing admin server password from environment." in again.output()
        with again.client() as admin:
            assert admin.get(f"/api/agents/{agent['id']}").json()["agent_state"]["name"] == "Kept"
    finally:
        again.stop()


def test_use_ssl_serves_https_with_a_kept_self_signed_certificate(tmp_path: Path, dsn: str) -> None:
    server = Server(tmp_path, dsn, args=("--use-ssl",)).start()
    try:
        with server.client() as admin:
            assert admin.get("/api/presets").status_code == 200
        cert = (tmp_path / "ssl" / "server.crt").read_bytes()
        context = ssl.create_default_context(cadata=cert.decode())
        context.check_hostname = False
        assert (
            httpx.get(
                server.url + "/api/humans", headers={"Authorization": "Bearer ilovellms"}, verify=context
            ).status_code
            == 200
        )
    finally:
        server.stop()
    server = Server(tmp_path, dsn, args=("--use-ssl",)).start()
    try:
        assert (tmp_path / "ssl" / "server.crt").read_bytes() == cert
    finally:
        server.stop()


def test_openapi_documents_describe_every_served_route() -> None:
    from api.app import ROUTES
    from api.openapi import document

    doc = document("memgpt", ROUTES)
    assert set(doc["paths"]) >= {
        "/admin/users",
        "/admin/users/{user_id}",
        "/admin/users/keys",
        "/api/auth",
        "/api/agents",
        "/api/agents/config",
        "/api/agents/rename",
        "/api/agents/memory",
        "/api/agents/{agent_id}",
        "/api/agents/{agent_id}/config",
        "/api/agents/{agent_id}/rename",
        "/api/agents/{agent_id}/memory",
        "/api/humans",
        "/api/personas",
        "/api/presets",
        "/api/agents/{agent_id}/events",
        "/api/events",
        "/admin/events",
    }
    history = doc["paths"]["/api/agents/{agent_id}/events"]["get"]
    assert {"after", "limit", "type", "turn_id", "since", "until", "follow"} <= {
        p["name"] for p in history["parameters"]
    }
    assert "text/event-stream" in history["responses"]["200"]["content"]
    admin_history = doc["paths"]["/admin/events"]["get"]
    assert {"user_id", "agent_id", "request_id"} <= {p["name"] for p in admin_history["parameters"]}
    assert "403" in admin_history["responses"]
    create = doc["paths"]["/api/agents"]["post"]
    schema = doc["components"]["schemas"][
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    ]
    assert schema["required"] == ["config"]
    assert {"200", "400", "401", "413", "422"} <= set(create["responses"])
    assert "403" in doc["paths"]["/admin/users"]["get"]["responses"]
    assert "security" not in doc["paths"]["/api/auth"]["post"]
    assert {p["name"] for p in doc["paths"]["/api/agents/config"]["get"]["parameters"]} == {"agent_id"}
