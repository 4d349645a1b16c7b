"""No probing: a cursor naming another tenant's row pages exactly like an id nobody has."""

import uuid

import httpx

from tests.support import Server


def _user(admin: httpx.Client, server: Server) -> httpx.Client:
    return server.client(admin.post("/admin/users", json={}).json()["api_key"])


def _same(client: httpx.Client, path: str, name: str, foreign: str, **params: object) -> None:
    unknown = str(uuid.uuid4())
    theirs = client.get(path, params={**params, name: foreign})
    nobodys = client.get(path, params={**params, name: unknown})
    assert theirs.status_code == nobodys.status_code, (path, name, theirs.text, nobodys.text)
    assert theirs.json() == nobodys.json(), (path, name, theirs.text, nobodys.text)


def test_foreign_cursors_page_like_unknown_ids(server: Server) -> None:
    with server.client() as admin:
        mine, theirs = _user(admin, server), _user(admin, server)
    # Their rows are both older and newer than mine, so a resolved cursor would change the page.
    their_agents = [theirs.post("/api/agents", json={"config": {"name": "old"}}).json()["agent_state"]["id"]]
    my_agents = [
        mine.post("/api/agents", json={"config": {"name": f"a{i}"}}).json()["agent_state"]["id"] for i in range(3)
    ]
    their_agents.append(theirs.post("/api/agents", json={"config": {"name": "new"}}).json()["agent_state"]["id"])
    their_sources = [theirs.post("/api/sources", json={"name": "old"}).json()["id"]]
    mine.post("/api/sources", json={"name": "mine"})
    their_sources.append(theirs.post("/api/sources", json={"name": "new"}).json()["id"])
    their_messages = [m["id"] for m in theirs.get(f"/api/agents/{their_agents[0]}/messages").json()["messages"]]
    assert their_messages
    for foreign in their_agents:
        _same(mine, "/api/agents", "after", foreign)
        _same(mine, "/api/agents", "cursor", foreign, limit=2)
    for foreign in their_sources:
        _same(mine, "/api/sources", "after", foreign)
    for foreign in their_messages:
        for name in ("after", "before"):
            _same(mine, f"/api/agents/{my_agents[0]}/messages", name, foreign)
            _same(mine, "/api/agents/message", name, foreign, agent_id=my_agents[1])
    # Their own cursors still page for them.
    assert theirs.get("/api/agents", params={"after": their_agents[0]}).json()["agents"][0]["id"] == their_agents[1]
