"""Humans, personas, presets, tools, models and config over HTTP."""

import httpx

from domain import catalogue
from tests.fake_llm import FakeLLM
from tests.support import Server


def _user(chat_server: Server) -> httpx.Client:
    with chat_server.client() as admin:
        return chat_server.client(admin.post("/admin/users", json={}).json()["api_key"])


def test_users_add_their_own_humans_and_personas_and_agents_use_them(chat_server: Server) -> None:
    with _user(chat_server) as alice, _user(chat_server) as bob:
        r = alice.post("/api/personas", json={"name": "pirate", "text": "I am a pirate. Arr."})
        assert r.status_code == 200 and r.json() == {"name": "pirate", "text": "I am a pirate. Arr."}
        alice.post("/api/humans", json={"name": "ada", "text": "Name: Ada Lovelace"})
        names = [p["name"] for p in alice.get("/api/personas").json()["personas"]]
        assert names[: len(catalogue.PERSONAS)] == list(catalogue.PERSONAS) and names[-1] == "pirate"
        assert "pirate" not in bob.get("/api/personas").text
        assert alice.get("/api/humans/ada").json()["text"] == "Name: Ada Lovelace"
        assert alice.get("/api/humans/basic").json()["text"] == catalogue.HUMANS["basic"]
        assert bob.get("/api/humans/ada").status_code == 404
        state = alice.post("/api/agents", json={"config": {"persona": "pirate", "human": "ada"}}).json()["agent_state"]
        assert state["state"]["persona"] == "I am a pirate. Arr." and state["persona"] == "pirate"
        assert bob.post("/api/agents", json={"config": {"persona": "pirate"}}).status_code == 404
        assert alice.post("/api/personas", json={"name": "sam_pov", "text": "x"}).status_code == 409
        assert alice.post("/api/personas", json={"name": "bad/name", "text": "x"}).status_code == 422
        assert alice.post("/api/personas", json={"name": "long", "text": "x" * 2001}).status_code == 422
        alice.post("/api/personas", json={"name": "pirate", "text": "A reformed pirate."})  # saving again replaces
        assert alice.get("/api/personas/pirate").json()["text"] == "A reformed pirate."


def test_presets_can_be_created_used_and_deleted(chat_server: Server) -> None:
    with _user(chat_server) as user:
        r = user.post(
            "/api/presets",
            json={
                "name": "terse",
                "system_prompt": "Be brief.",
                "functions": ["send_message", "archival_memory_search"],
            },
        )
        assert r.status_code == 200, r.text
        assert [f["name"] for f in r.json()["functions"]] == ["send_message", "archival_memory_search"]
        assert [p["name"] for p in user.get("/api/presets").json()["presets"]][-1] == "terse"
        state = user.post("/api/agents", json={"config": {"preset": "terse"}}).json()["agent_state"]
        assert state["state"]["system"] == "Be brief." and len(state["state"]["functions"]) == 2
        assert user.get("/api/presets/terse").json()["system_prompt"] == "Be brief."
        assert (
            user.post("/api/presets", json={"name": "x", "system_prompt": "y", "functions": ["fly"]}).status_code == 422
        )
        assert (
            user.post(
                "/api/presets", json={"name": "memgpt_chat", "system_prompt": "y", "functions": ["send_message"]}
            ).status_code
            == 409
        )
        assert user.delete("/api/presets/memgpt_chat").status_code == 409
        assert user.delete("/api/presets/terse").json() == {"message": "Preset terse successfully deleted"}
        assert user.get("/api/presets/terse").status_code == 404
        assert user.delete("/api/presets/terse").status_code == 404


def test_tools_are_the_function_schemas(chat_server: Server) -> None:
    with chat_server.client() as c:
        tools = {t["name"]: t for t in c.get("/api/tools").json()["tools"]}
        assert {"send_message", "core_memory_replace", "archival_memory_search", "http_request"} <= set(tools)
        assert tools["send_message"]["json_schema"]["parameters"]["required"] == ["message"]
        assert tools["send_message"]["tags"] == ["memgpt-base"]
        assert c.get("/api/tools/conversation_search").json()["json_schema"]["name"] == "conversation_search"
        assert c.get("/api/tools/nope").status_code == 404


def test_models_and_config(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        models = c.get("/api/models").json()["models"]
        assert models[0] == {
            "name": "gpt-4",
            "endpoint": fresh_llm.url,
            "endpoint_type": "openai",
            "wrapper": None,
            "context_window": 8192,
            "model": "gpt-4",  # the same as an llm_config, as later 0.3.x clients read it
            "model_endpoint": fresh_llm.url,
            "model_endpoint_type": "openai",
            "model_wrapper": None,
        }
        assert any(m["endpoint_type"] == "local" for m in models)
        assert [m["name"] for m in models].count("gpt-4") == 1 and "gpt-3.5-turbo" in [m["name"] for m in models]
        body = c.get("/api/config").json()
        assert body["config"]["default_llm_config"]["model_endpoint"] == fresh_llm.url
        assert body["defaults"]["default_llm_config"]["model_endpoint_type"] == "local"
        assert (
            body["config"]["preset"] == "memgpt_chat"
            and body["config"]["anon_clientid"] == "00000000-0000-0000-0000-000000000000"
        )
        assert "sk-test-secret" not in c.get("/api/config").text and body["config"]["openai_key"] == "sk-...cret"
        assert chat_server.dsn not in c.get("/api/config").text
