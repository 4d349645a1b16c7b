"""Operator-owned endpoints, tried as a tenant would: the operator's key never leaves for a tenant's
URL, other endpoints are refused unless the operator opts in, a tenant's own key is used and never
shown, internal addresses stay refused, and endpoints' answers reach users only as a status.

The operator's provider is `llm` (MEMGPT_MODEL_ENDPOINT, key sk-test-secret); `tenant` is a second
FakeLLM playing the tenant's own host. Both are on loopback: for the operator that is their choice.
"""

from collections.abc import Iterator

import psycopg
import pytest

from tests.fake_llm import FakeLLM
from tests.support import (
    OPERATOR_KEY,
    TENANT_KEY,
    Server,
    create_agent_raw,
    new_user,
    own_embedding,
    own_llm,
    say,
    start_ready,
    tenant_env,
    waits_for,
)


@pytest.fixture(scope="module")
def strict(admin_dsn: str, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The default: users choose among the operator's providers only."""
    running = start_ready(admin_dsn, tmp_path_factory.mktemp("strict"), tenant_env(llm))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def open_server(admin_dsn: str, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Users' own endpoints allowed, internal addresses too (the tenant's host is on loopback here)."""
    env = tenant_env(llm, MEMGPT_ALLOW_USER_ENDPOINTS="1", MEMGPT_ALLOW_INTERNAL_ENDPOINTS="1")
    running = start_ready(admin_dsn, tmp_path_factory.mktemp("open"), env)
    try:
        yield running
    finally:
        running.stop()


def _stored(dsn: str) -> bytes:
    """Everything the event log and the agents view hold, as bytes."""
    with psycopg.connect(dsn) as conn:
        events = conn.execute("SELECT state FROM memgpt_events").fetchall()
        views = conn.execute("SELECT llm_config::text, embedding_config::text FROM view_agents").fetchall()
    return b"".join(bytes(r[0]) for r in events) + "".join(a + b for a, b in views).encode()


def test_a_tenant_endpoint_is_refused_and_never_called(strict: Server, fresh_tenant: FakeLLM) -> None:
    with new_user(strict) as c:
        for config in (
            {"llm_config": own_llm(fresh_tenant)},
            {"llm_config": own_llm(fresh_tenant, api_key=TENANT_KEY)},
            {"embedding_config": own_embedding(fresh_tenant)},
            {"llm_config": {"model_endpoint": f"{strict.url}/admin"}},
            {"llm_config": {"provider": "nobody"}},
        ):
            r = create_agent_raw(c, **config)
            assert r.status_code == 422, (config, r.text)
            assert TENANT_KEY not in r.text
        assert c.get("/api/agents").json()["num_agents"] == 0
    assert fresh_tenant.requests == []


def test_the_operators_providers_are_chosen_by_url_or_name(strict: Server, llm: FakeLLM, fresh_tenant: FakeLLM) -> None:
    llm.reset()
    with new_user(strict) as c:
        assert create_agent_raw(c).status_code == 200  # no config at all: the default provider
        null = {"name": "Nulls", "preset": None, "llm_config": None, "embedding_config": None}
        assert create_agent_raw(c, **null).status_code == 200  # as the original client sends it
        by_url = create_agent_raw(c, name="ByUrl", llm_config={"model_endpoint": llm.url + "/", "model": "gpt-4"})
        assert by_url.status_code == 200, by_url.text
        by_name = create_agent_raw(c, name="ByName", llm_config={"model_endpoint": "default"})
        assert by_name.status_code == 200, by_name.text
        remote_embedding = create_agent_raw(
            c, name="Emb", embedding_config={"embedding_endpoint": llm.url, "embedding_endpoint_type": "openai"}
        )
        assert remote_embedding.status_code == 200
        # the operator's endpoint comes with the operator's key: a key of the user's is refused
        assert (
            create_agent_raw(c, name="Mixed", llm_config={"model_endpoint": llm.url, "api_key": TENANT_KEY}).status_code
            == 422
        )
        assert ("assistant_message", "echo: hi") in [
            next(iter(m.items())) for m in say(c, by_name.json()["agent_state"]["id"], "hi")
        ]
    assert llm.requests and llm.requests[-1]["headers"]["Authorization"] == f"Bearer {OPERATOR_KEY}"
    assert fresh_tenant.requests == []


def test_users_see_no_paths_urls_or_keys_in_config_and_models(strict: Server, llm: FakeLLM) -> None:
    with new_user(strict) as c:
        for path in ("/api/config", "/api/models"):
            r = c.get(path)
            assert r.status_code == 200
            for secret in (llm.url, "127.0.0.1", str(strict.home), OPERATOR_KEY[:3] + "...", OPERATOR_KEY[-4:]):
                assert secret not in r.text, (path, secret)
        config = c.get("/api/config").json()
        assert config["config"]["config_path"] is None and config["config"]["openai_key"] is None
        assert config["config"]["default_llm_config"]["model_endpoint"] == "default"  # chosen by that name
        assert {m["model"] for m in c.get("/api/models").json()["models"]} >= {"gpt-4", "gpt-3.5-turbo"}
    with strict.client() as admin:
        r = admin.get("/api/config")
        assert r.json()["config"]["default_llm_config"]["model_endpoint"] == llm.url and OPERATOR_KEY not in r.text
        assert OPERATOR_KEY not in admin.get("/api/models").text


def test_what_an_endpoint_answers_reaches_the_user_as_a_status_only(strict: Server, llm: FakeLLM) -> None:
    llm.reset()
    with new_user(strict) as c:
        aid = create_agent_raw(c).json()["agent_state"]["id"]
        llm.fail(401)
        [*_, last] = say(c, aid, "hello")
        assert last["internal_error"] == "The model endpoint refused the request: HTTP 401."
        llm.fail(500, 500)
        [*_, last] = say(c, aid, "again")
        assert last["internal_error"] == "The model endpoint is unavailable after 2 attempts (HTTP 500)."
        history = c.get(f"/api/agents/{aid}/messages", params={"start": 0, "count": 100}).text
        assert "scripted failure" not in history and llm.url not in history


def test_with_opt_in_the_tenant_key_is_used_and_never_shown(
    open_server: Server, llm: FakeLLM, fresh_tenant: FakeLLM
) -> None:
    llm.reset()
    with new_user(open_server) as c:
        r = create_agent_raw(
            c,
            name="Own",
            llm_config=own_llm(fresh_tenant, api_key=TENANT_KEY),
            embedding_config=own_embedding(fresh_tenant, api_key=TENANT_KEY),
        )
        assert r.status_code == 200, r.text
        aid = r.json()["agent_state"]["id"]
        assert ("assistant_message", "echo: hi") in [next(iter(m.items())) for m in say(c, aid, "hi")]
        assert c.post(f"/api/agents/{aid}/archival", json={"content": "Tea in Oslo."}).status_code == 200
        assert waits_for(lambda: any(q["path"] == "/embeddings" for q in fresh_tenant.requests))
        shown = [
            r.text,
            c.get(f"/api/agents/{aid}").text,
            c.get(f"/api/agents/{aid}/config").text,
            c.get("/api/agents/config", params={"agent_id": aid}).text,
            c.get("/api/agents").text,
            c.get("/api/config").text,
        ]
        bare = create_agent_raw(c, name="NoKey", llm_config=own_llm(fresh_tenant)).json()["agent_state"]["id"]
        say(c, bare, "no key")
    keys = [q["headers"].get("Authorization") for q in fresh_tenant.requests]
    assert f"Bearer {TENANT_KEY}" in keys and None in keys  # the agent without a key sends none
    assert all(k in (f"Bearer {TENANT_KEY}", None) for k in keys)
    assert {q["path"] for q in fresh_tenant.requests} >= {"/v1/chat/completions", "/embeddings"}
    assert llm.requests == []  # nothing of this agent went to the operator's endpoint
    assert not [text for text in shown if TENANT_KEY in text]
    assert TENANT_KEY.encode() not in _stored(open_server.dsn or "")
    assert OPERATOR_KEY.encode() not in _stored(open_server.dsn or "")
    assert TENANT_KEY not in open_server.output()


def test_a_redirect_is_not_followed(open_server: Server, llm: FakeLLM, fresh_tenant: FakeLLM) -> None:
    llm.reset()
    fresh_tenant.redirect_to = llm.url + "/chat/completions"
    with new_user(open_server) as c:
        aid = create_agent_raw(c, name="Redirected", llm_config=own_llm(fresh_tenant)).json()["agent_state"]["id"]
        [*_, last] = say(c, aid, "follow me")
    assert last["internal_error"] == "The model endpoint refused the request: HTTP 307."
    assert llm.requests == [] and len(fresh_tenant.requests) == 1
