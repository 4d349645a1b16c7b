"""Every list route pages the same way: `limit`, and `after` the last id or name seen."""

from tests.fake_llm import FakeLLM
from tests.support import Server, create_agent, say


def _walk(client, path: str, key: str, ident: str, limit: int, **params: object) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        query = {"limit": limit, **params} | ({"after": after} if after else {})
        page = client.get(path, params=query).json()[key]
        seen += [item[ident] for item in page]
        if len(page) < limit:
            return seen
        after = seen[-1]


def test_users_agents_and_catalogues_page_with_limit_and_after(chat_server: Server) -> None:
    with chat_server.client() as admin:
        created = [admin.post("/admin/users", json={}).json()["user_id"] for _ in range(5)]
        everyone = [u["user_id"] for u in admin.get("/admin/users").json()["user_list"]]
        assert everyone[-5:] == created
        assert _walk(admin, "/admin/users", "user_list", "user_id", 2) == everyone
        first = admin.get("/admin/users", params={"limit": 2}).json()
        assert first["cursor"] == first["user_list"][-1]["user_id"]
        assert (
            admin.get("/admin/users", params={"limit": 2, "cursor": first["cursor"]}).json()["user_list"][0]["user_id"]
            == everyone[2]
        )

        agents = [create_agent(admin, name=f"Paged{i}") for i in range(5)]
        listed = admin.get("/api/agents").json()
        assert [a["id"] for a in listed["agents"]][-5:] == agents
        assert _walk(admin, "/api/agents", "agents", "id", 2) == [a["id"] for a in listed["agents"]]
        page = admin.get("/api/agents", params={"limit": 2}).json()
        assert page["num_agents"] == listed["num_agents"] and len(page["agents"]) == 2

        humans = [h["name"] for h in admin.get("/api/humans").json()["humans"]]
        assert _walk(admin, "/api/humans", "humans", "name", 1) == humans
        tools = [t["name"] for t in admin.get("/api/tools").json()["tools"]]
        assert _walk(admin, "/api/tools", "tools", "name", 4) == tools
        assert admin.get("/api/tools", params={"after": "nope"}).json()["tools"] == []
        assert admin.get("/admin/users", params={"limit": 0}).status_code == 422


def test_message_history_pages_by_offset_and_by_message_id(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Cursor")
        for n in range(4):
            say(c, aid, f"turn {n}")
        everything = [m["id"] for m in c.get(f"/api/agents/{aid}/messages", params={"count": 1000}).json()["messages"]]
        older = c.get(f"/api/agents/{aid}/messages-cursor", params={"before": everything[3], "limit": 4}).json()[
            "messages"
        ]
        assert [m["id"] for m in older] == everything[4:8]
        newer = c.get(f"/api/agents/{aid}/messages", params={"after": everything[8], "limit": 3}).json()["messages"]
        assert [m["id"] for m in newer] == everything[5:8]
        assert [
            m["id"]
            for m in c.get("/api/agents/message", params={"agent_id": aid, "start": 2, "count": 2}).json()["messages"]
        ] == everything[2:4]
