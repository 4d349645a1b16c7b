"""The seed's walkthrough over HTTP against a real server process and PostgreSQL."""

from uuid import UUID

import httpx

from domain import catalogue
from tests.support import PASSWORD, Server


def _new_user(admin: httpx.Client) -> tuple[str, str]:
    r = admin.post("/admin/users", json={})
    assert r.status_code == 200
    body = r.json()
    return body["user_id"], body["api_key"]


def test_admin_and_user_keys_see_only_their_own_agents(server: Server) -> None:
    with server.client() as admin:
        created = admin.post("/api/agents", json={"config": {"name": "ViaAdmin"}})
        assert created.status_code == 200, created.text
        admin_agent = created.json()["agent_state"]
        assert admin_agent["user_id"] == "00000000-0000-0000-0000-000000000000"

        user_id, key = _new_user(admin)
        assert key.startswith("sk-")
        listed = [u["user_id"] for u in admin.get("/admin/users").json()["user_list"]]
        assert user_id in listed and "00000000-0000-0000-0000-000000000000" in listed

    with server.client(key) as user:
        assert user.get("/api/agents").json() == {"num_agents": 0, "agents": []}
        r = user.post(
            "/api/agents",
            json={
                "config": {"name": "MyCustomAgent", "preset": "memgpt_chat", "human": "cs_phd", "persona": "sam_pov"}
            },
        )
        assert r.status_code == 200, r.text
        mine = r.json()["agent_state"]
        listing = user.get("/api/agents").json()
        assert listing["num_agents"] == 1 and listing["agents"][0]["id"] == mine["id"]
        assert listing["agents"][0]["name"] == "MyCustomAgent"
        # the admin's agent is invisible to the user, and answers like an unknown id
        assert user.get(f"/api/agents/{admin_agent['id']}").status_code == 404
        assert user.get("/api/agents/config", params={"agent_id": admin_agent["id"]}).status_code == 404
        assert user.delete("/api/agents", params={"agent_id": admin_agent["id"]}).status_code == 404

    with server.client() as admin:
        names = [a["name"] for a in admin.get("/api/agents").json()["agents"]]
        assert "MyCustomAgent" not in names and "ViaAdmin" in names
        assert admin.get(f"/api/agents/{mine['id']}/config").status_code == 404
        r = admin.patch("/api/agents/rename", json={"agent_id": mine["id"], "agent_name": "Stolen"})
        assert r.status_code == 404


def test_agent_state_has_the_contract_shape_and_defaults(server: Server) -> None:
    with server.client() as admin:
        # the original client sends null for every field it was not given
        r = admin.post(
            "/api/agents",
            json={
                "config": {
                    "name": None,
                    "preset": None,
                    "human": None,
                    "persona": None,
                    "llm_config": None,
                    "embedding_config": None,
                }
            },
        )
        assert r.status_code == 200, r.text
        state = r.json()["agent_state"]
        contract = {
            "id",
            "name",
            "user_id",
            "preset",
            "persona",
            "human",
            "llm_config",
            "embedding_config",
            "state",
            "created_at",
        }
        assert set(state) == contract | {"functions_schema"}  # later 0.3.x clients read functions_schema
        assert set(r.json()) == {"agent_state", "preset", "sources", "last_run_at"}
        assert r.json()["preset"]["name"] == "memgpt_chat" and r.json()["sources"] == []
        assert (state["preset"], state["persona"], state["human"]) == ("memgpt_chat", "sam_pov", "basic")
        assert state["name"]
        assert set(state["llm_config"]) == {
            "model",
            "model_endpoint_type",
            "model_endpoint",
            "model_wrapper",
            "context_window",
        }
        assert set(state["embedding_config"]) == {
            "embedding_endpoint_type",
            "embedding_endpoint",
            "embedding_model",
            "embedding_dim",
            "embedding_chunk_size",
        }
        assert isinstance(state["created_at"], int)
        inner = state["state"]
        assert inner["persona"] == catalogue.PERSONAS["sam_pov"] and inner["human"] == catalogue.HUMANS["basic"]
        assert [f["name"] for f in inner["functions"]][:2] == ["send_message", "pause_heartbeats"]
        assert isinstance(inner["messages"], list)
        UUID(state["id"])

        elsewhere = {"model_endpoint_type": "openai", "model_endpoint": "http://127.0.0.1:9/v1"}
        refused = admin.post("/api/agents", json={"config": {"llm_config": elsewhere}})
        assert refused.status_code == 422  # not one of the operator's providers
        custom = admin.post(
            "/api/agents",
            json={"config": {"llm_config": {"model": "gpt-4", "model_endpoint_type": "local", "context_window": 8192}}},
        ).json()["agent_state"]
        assert custom["llm_config"]["model"] == "gpt-4" and custom["llm_config"]["context_window"] == 8192
        for path in (f"/api/agents/{custom['id']}", f"/api/agents/{custom['id']}/config"):
            assert admin.get(path).json()["agent_state"] == custom
        assert admin.get("/api/agents/config", params={"agent_id": custom["id"]}).json()["agent_state"] == custom


def test_rename_memory_and_delete_in_both_route_forms(server: Server) -> None:
    with server.client() as admin:
        agent = admin.post("/api/agents", json={"config": {"name": "Memo"}}).json()["agent_state"]
        aid = agent["id"]
        r = admin.patch("/api/agents/rename", json={"agent_id": aid, "agent_name": "Memo 2"})
        assert r.status_code == 200 and r.json()["agent_state"]["name"] == "Memo 2"
        r = admin.patch(f"/api/agents/{aid}/rename", json={"agent_name": "Memo_3"})
        assert r.status_code == 200 and r.json()["agent_state"]["name"] == "Memo_3"
        assert admin.patch(f"/api/agents/{aid}/rename", json={"agent_name": "bad/name"}).status_code == 422

        memory = admin.get("/api/agents/memory", params={"agent_id": aid}).json()
        assert memory["core_memory"] == {"persona": catalogue.PERSONAS["sam_pov"], "human": catalogue.HUMANS["basic"]}
        assert memory["archival_memory"] == 0 and isinstance(memory["recall_memory"], int)
        r = admin.post("/api/agents/memory", json={"agent_id": aid, "persona": "I am Sam."})
        assert r.status_code == 200
        assert r.json()["old_core_memory"]["persona"] == catalogue.PERSONAS["sam_pov"]
        assert r.json()["new_core_memory"] == {"persona": "I am Sam.", "human": catalogue.HUMANS["basic"]}
        r = admin.post(f"/api/agents/{aid}/memory", json={"human": "Name: Ada"})
        assert r.json()["new_core_memory"] == {"persona": "I am Sam.", "human": "Name: Ada"}
        assert admin.get(f"/api/agents/{aid}/memory").json()["core_memory"] == {
            "persona": "I am Sam.",
            "human": "Name: Ada",
        }
        assert admin.get(f"/api/agents/{aid}").json()["agent_state"]["state"]["persona"] == "I am Sam."
        r = admin.post(f"/api/agents/{aid}/memory", json={"human": "h" * 2001})
        assert r.status_code == 422 and "2000" in r.json()["detail"]

        r = admin.delete("/api/agents", params={"agent_id": aid})
        assert r.json() == {"message": f"Agent agent_id={aid} successfully deleted"}
        assert admin.get(f"/api/agents/{aid}").status_code == 404
        assert admin.delete(f"/api/agents/{aid}").status_code == 404
        other = admin.post("/api/agents", json={"config": {"name": "Memo_3"}}).json()["agent_state"]
        assert admin.delete(f"/api/agents/{other['id']}").json()["message"].endswith("successfully deleted")


def test_agent_names_are_unique_per_user(server: Server) -> None:
    with server.client() as admin:
        assert admin.post("/api/agents", json={"config": {"name": "Twin"}}).status_code == 200
        r = admin.post("/api/agents", json={"config": {"name": "twin"}})
        assert r.status_code == 409 and "already exists" in r.json()["detail"]
        _, key = _new_user(admin)
    with server.client(key) as user:
        assert user.post("/api/agents", json={"config": {"name": "Twin"}}).status_code == 200


def test_keys_are_listed_masked_and_revocation_is_immediate(server: Server) -> None:
    with server.client() as admin:
        user_id, first = _new_user(admin)
        second = admin.post("/admin/users/keys", json={"user_id": user_id, "name": "laptop"}).json()["api_key"]
        listed = admin.get("/admin/users/keys", params={"user_id": user_id}).json()["api_key_list"]
        assert len(listed) == 2
        assert first not in listed and second not in listed
        assert {k[:6] for k in listed} == {first[:6], second[:6]}
        with server.client(second) as user:
            assert user.get("/api/agents").status_code == 200
        r = admin.delete("/admin/users/keys", params={"api_key": second})
        assert r.status_code == 200 and r.json()["message"] == "API key successfully deleted."
        assert second not in r.text
        with server.client(second) as user:
            r = user.get("/api/agents")
            assert r.status_code == 401 and "detail" in r.json()
        with server.client(first) as user:
            assert user.get("/api/agents").status_code == 200
        assert admin.delete("/admin/users/keys", params={"api_key": second}).status_code == 404


def test_deleting_a_user_stops_their_keys_and_agents(server: Server) -> None:
    with server.client() as admin:
        user_id, key = _new_user(admin)
        with server.client(key) as user:
            agent = user.post("/api/agents", json={"config": {}}).json()["agent_state"]
        r = admin.delete("/admin/users", params={"user_id": user_id})
        assert r.json() == {"message": "User successfully deleted.", "user_id_deleted": user_id}
        with server.client(key) as user:
            assert user.get("/api/agents").status_code == 401
            assert user.get(f"/api/agents/{agent['id']}").status_code == 401
        assert admin.get(f"/api/agents/{agent['id']}").status_code == 404
        assert user_id not in admin.get("/admin/users").text
        assert admin.delete("/admin/users", params={"user_id": user_id}).status_code == 404
        assert admin.get("/admin/users/keys", params={"user_id": user_id}).status_code == 404
        other, _ = _new_user(admin)
        assert admin.delete(f"/admin/users/{other}").status_code == 200
        r = admin.delete("/admin/users", params={"user_id": "00000000-0000-0000-0000-000000000000"})
        assert r.status_code == 409


def test_auth_rules(server: Server) -> None:
    with server.client(None) as anonymous:
        r = anonymous.get("/api/agents")
        assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}
        assert anonymous.get("/admin/users").status_code == 401
        assert anonymous.post("/api/auth", json={"password": PASSWORD}).json() == {
            "uuid": "00000000-0000-0000-0000-000000000000"
        }
        assert anonymous.post("/api/auth", json={"password": "wrong"}).status_code == 400
    for token in ("sk-bogus", "not-a-key", PASSWORD + "x"):
        with server.client(token) as bogus:
            r = bogus.get("/api/agents")
            assert r.status_code == 401 and token not in r.text
    with server.client() as admin:
        _, key = _new_user(admin)
    with server.client(key) as user:
        for method, path in (("GET", "/admin/users"), ("POST", "/admin/users"), ("GET", "/admin/users/keys")):
            r = user.request(method, path, json={} if method == "POST" else None)
            assert r.status_code == 403 and "detail" in r.json()


def test_catalogue_lists(server: Server) -> None:
    with server.client() as admin:
        humans = {h["name"]: h["text"] for h in admin.get("/api/humans").json()["humans"]}
        assert {"basic", "cs_phd"} <= set(humans) and all(humans.values())
        personas = {p["name"] for p in admin.get("/api/personas").json()["personas"]}
        assert {"sam_pov", "sam", "memgpt_starter", "memgpt_doc", "anna_pa"} <= personas
        presets = {p["name"]: p for p in admin.get("/api/presets").json()["presets"]}
        assert set(presets) >= {"memgpt_chat", "memgpt_docs", "memgpt_extras"}
        chat = presets["memgpt_chat"]
        assert chat["system_prompt"] and len(chat["functions"]) == 8
        assert len(presets["memgpt_extras"]["functions"]) > 8


def test_concurrent_writes_to_one_agent_all_succeed_and_names_stay_unique(server: Server) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with server.client() as admin:
        aid = admin.post("/api/agents", json={"config": {"name": "Busy"}}).json()["agent_state"]["id"]

        def edit(i: int) -> int:
            with server.client() as c:
                return c.post(f"/api/agents/{aid}/memory", json={"human": f"edit {i}"}).status_code

        def create(_: int) -> int:
            with server.client() as c:
                return c.post("/api/agents", json={"config": {"name": "Contested"}}).status_code

        with ThreadPoolExecutor(10) as pool:
            assert list(pool.map(edit, range(10))) == [200] * 10
            assert sorted(pool.map(create, range(6))) == [200, 409, 409, 409, 409, 409]
        final = admin.get(f"/api/agents/{aid}/memory").json()["core_memory"]["human"]
        assert final.startswith("edit ")
        assert [a["name"] for a in admin.get("/api/agents").json()["agents"]].count("Contested") == 1
