"""Operator-owned endpoints with servers of their own: internal addresses stay refused when users'
endpoints are allowed, and agents saved while they were allowed are refused once they are not.

A module apart from test_tenant_endpoints.py, so that its servers do not run beside those.
"""

from pathlib import Path

import httpx

from tests.fake_llm import FakeLLM
from tests.support import (
    create_agent_raw,
    fresh_database,
    new_user,
    own_embedding,
    own_llm,
    say,
    start_ready,
    tenant_env,
)


def test_internal_addresses_stay_refused_with_opt_in_unless_allowed(
    admin_dsn: str, llm: FakeLLM, fresh_tenant: FakeLLM, tmp_path: Path
) -> None:
    server = start_ready(admin_dsn, tmp_path, tenant_env(llm, MEMGPT_ALLOW_USER_ENDPOINTS="1"))
    try:
        with new_user(server) as c:
            port = httpx.URL(fresh_tenant.url).port
            for url in (
                fresh_tenant.url,
                f"http://localhost:{port}/v1",
                f"http://[::ffff:127.0.0.1]:{port}/v1",
                f"http://[::1]:{port}/v1",
                "http://10.1.2.3/v1",
                "http://169.254.169.254/latest",
                "http://0.0.0.0:80/v1",
                "http://2130706433/v1",
                f"{server.url}/admin",
            ):
                r = create_agent_raw(c, llm_config={"model_endpoint": url})
                assert r.status_code == 422, (url, r.text)
                r = create_agent_raw(
                    c, embedding_config={"embedding_endpoint": url, "embedding_endpoint_type": "openai"}
                )
                assert r.status_code == 422, (url, r.text)
            # the operator's own provider is on loopback too: that is the operator's choice
            assert create_agent_raw(c, name="Fine").status_code == 200
    finally:
        server.stop()
    assert fresh_tenant.requests == []


def test_agents_saved_before_are_refused_at_turn_time(
    admin_dsn: str, llm: FakeLLM, fresh_tenant: FakeLLM, tmp_path: Path
) -> None:
    dsn = fresh_database(admin_dsn)
    opened = tenant_env(llm, MEMGPT_ALLOW_USER_ENDPOINTS="1", MEMGPT_ALLOW_INTERNAL_ENDPOINTS="1")
    server = start_ready(admin_dsn, tmp_path / "a", opened, dsn)
    try:
        with server.client() as admin:
            aid = create_agent_raw(
                admin, llm_config=own_llm(fresh_tenant), embedding_config=own_embedding(fresh_tenant)
            ).json()["agent_state"]["id"]
    finally:
        server.stop()
    server = start_ready(admin_dsn, tmp_path / "b", tenant_env(llm), dsn)  # the operator closed users' endpoints
    try:
        with server.client() as admin:
            [*_, last] = say(admin, aid, "still there?")
            assert last["internal_error"] == "The agent's model_endpoint is not one of this server's providers."
            r = admin.post(f"/api/agents/{aid}/archival", json={"content": "x"})
            assert r.status_code in (200, 409) and fresh_tenant.url not in r.text
    finally:
        server.stop()
    assert fresh_tenant.requests == []
