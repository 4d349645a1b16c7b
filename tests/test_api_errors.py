"""Bad input of every kind answers a 4xx JSON `{"detail": ...}` and leaves the log unchanged."""

import pytest

from tests.support import Server, event_count

AGENT = "11111111-1111-1111-1111-111111111111"

CASES = [
    # (method, path, raw body or None, expected status)
    ("POST", "/api/agents", b'{"config":', 400),
    ("POST", "/api/agents", b"[]", 400),
    ("POST", "/api/agents", b'"text"', 400),
    ("POST", "/api/agents", b"", 400),
    ("POST", "/api/agents", b"{}", 400),
    ("POST", "/api/agents", b'{"config": {"name": 5}}', 400),
    ("POST", "/api/agents", b'{"config": {"llm_config": {"context_window": "big"}}}', 400),
    ("POST", "/api/agents", b'{"config": {"llm_config": {"context_window": 0}}}', 422),
    ("POST", "/api/agents", b'{"config": {"name": "no/slashes"}}', 422),
    ("POST", "/api/agents", b'{"config": {"name": "' + b"x" * 51 + b'"}}', 422),
    ("POST", "/api/agents", b'{"config": {"preset": "unknown_preset"}}', 404),
    ("POST", "/api/agents", b'{"config": {"persona": "nobody"}}', 404),
    ("POST", "/api/agents", b'{"config": {"human": "nobody"}}', 404),
    ("POST", "/admin/users", b'{"user_id": "not-a-uuid"}', 422),
    ("POST", "/admin/users", b'{"user_id": 42}', 400),
    ("POST", "/admin/users/keys", b"{}", 400),
    ("POST", "/admin/users/keys", b'{"user_id": "' + AGENT.encode() + b'"}', 404),
    ("GET", "/admin/users/keys", None, 400),
    ("GET", "/admin/users/keys?user_id=nope", None, 422),
    ("DELETE", "/admin/users?user_id=" + AGENT, None, 404),
    ("DELETE", "/admin/users/keys?api_key=sk-unknown", None, 404),
    ("GET", "/api/agents/config", None, 400),
    ("GET", "/api/agents/config?agent_id=zzz", None, 422),
    ("GET", "/api/agents/config?agent_id=" + AGENT, None, 404),
    ("GET", "/api/agents/not-a-uuid", None, 404),
    ("PATCH", "/api/agents/rename", b'{"agent_id": "' + AGENT.encode() + b'", "agent_name": "x"}', 404),
    ("PATCH", "/api/agents/rename", b'{"agent_name": "x"}', 400),
    ("POST", "/api/agents/memory", b'{"agent_id": "' + AGENT.encode() + b'", "persona": "x"}', 404),
    ("POST", "/api/agents/memory", b'{"agent_id": "' + AGENT.encode() + b'", "persona": 3}', 400),
    ("DELETE", "/api/agents?agent_id=" + AGENT, None, 404),
    ("POST", "/api/auth", b'{"password": 1}', 400),
    ("GET", "/api/nothing-here", None, 404),
    ("PUT", "/api/agents", b"{}", 405),
    ("POST", "/api/agents", b'{"config": {"name": "nul\\u0000name"}}', 422),
    ("POST", "/api/personas", b'{"name": "p", "text": "a\\u0000b"}', 422),
    ("POST", "/v1/assistants", b'{"model": "m", "name": "n", "instructions": "\\u0000"}', 422),
    ("GET", "/api/tools?after=%00", None, 422),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), CASES)
def test_bad_input_is_refused_with_json_and_nothing_is_recorded(
    server: Server, dsn: str, method: str, path: str, body: bytes | None, status: int
) -> None:
    before = event_count(dsn)
    with server.client() as admin:
        r = admin.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]
    assert r.headers["X-Request-ID"]
    assert event_count(dsn) == before


def test_bodies_over_the_limit_are_refused(server: Server, dsn: str) -> None:
    before = event_count(dsn)
    huge = b'{"config": {"name": "' + b"x" * 1_100_000 + b'"}}'
    with server.client() as admin:
        r = admin.post("/api/agents", content=huge, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "detail" in r.json()

        def chunks():  # no Content-Length: the limit still holds while reading
            yield huge

        r = admin.post("/api/agents", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413
    assert event_count(dsn) == before


def test_a_conflicting_create_records_nothing(server: Server, dsn: str) -> None:
    with server.client() as admin:
        assert admin.post("/api/agents", json={"config": {"name": "Only"}}).status_code == 200
        before = event_count(dsn)
        assert admin.post("/api/agents", json={"config": {"name": "Only"}}).status_code == 409
    assert event_count(dsn) == before


def test_request_ids_are_echoed(server: Server) -> None:
    with server.client() as admin:
        echoed = admin.get("/api/presets", headers={"X-Request-ID": "abc-123"}).headers
        assert echoed["X-Client-Request-ID"] == "abc-123" and len(echoed["X-Request-ID"]) == 32  # the server's own
        generated = admin.get("/api/presets", headers={"X-Request-ID": "bad id with spaces"}).headers
        assert "X-Client-Request-ID" not in generated and len(generated["X-Request-ID"]) == 32
