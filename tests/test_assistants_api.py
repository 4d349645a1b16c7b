"""/v1: the OpenAI Assistants API backed by agents and turns."""

import time

import httpx

from tests.fake_llm import FakeLLM
from tests.support import Server


def _wait(c: httpx.Client, thread_id: str, run_id: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = c.get(f"/v1/threads/{thread_id}/runs/{run_id}").json()
        if run["status"] in ("completed", "failed"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run still {run['status']}")


def test_an_assistant_answers_a_thread_in_runs(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        r = c.post(
            "/v1/assistants",
            json={
                "model": "gpt-4",
                "name": "Helper",
                "instructions": "I am a helpful librarian.",
                "tools": [{"type": "retrieval"}],
            },
        )
        assert r.status_code == 200, r.text
        assistant = r.json()
        assert (
            assistant["object"] == "assistant"
            and assistant["name"] == "Helper"
            and isinstance(assistant["created_at"], int)
        )
        assert c.get(f"/v1/assistants/{assistant['id']}").json() == assistant
        assert assistant["id"] in [a["id"] for a in c.get("/v1/assistants").json()["data"]]

        thread = c.post("/v1/threads", json={"messages": [{"role": "user", "content": "Hello there."}]}).json()
        assert thread["object"] == "thread"
        added = c.post(
            f"/v1/threads/{thread['id']}/messages", json={"role": "user", "content": "Any books on sailing?"}
        ).json()
        assert added["object"] == "thread.message" and added["content"][0]["text"]["value"] == "Any books on sailing?"

        run = c.post(f"/v1/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}).json()
        assert run["object"] == "thread.run" and run["status"] in ("queued", "in_progress", "completed")
        done = _wait(c, thread["id"], run["id"])
        assert done["status"] == "completed" and done["completed_at"] and done["model"] == "gpt-4"
        assert done["instructions"] == "I am a helpful librarian."

        listing = c.get(f"/v1/threads/{thread['id']}/messages", params={"order": "asc"}).json()
        texts = [(m["role"], m["content"][0]["text"]["value"]) for m in listing["data"]]
        assert texts == [
            ("user", "Hello there."),
            ("user", "Any books on sailing?"),
            ("assistant", "echo: Hello there.\n\nAny books on sailing?"),
        ]
        assert listing["data"][-1]["run_id"] == run["id"] and listing["data"][-1]["assistant_id"] == assistant["id"]
        assert listing["first_id"] == listing["data"][0]["id"] and listing["has_more"] is False
        newest = c.get(f"/v1/threads/{thread['id']}/messages", params={"limit": 1}).json()
        assert newest["data"][0]["role"] == "assistant" and newest["has_more"] is True
        older = c.get(f"/v1/threads/{thread['id']}/messages", params={"limit": 1, "after": newest["last_id"]}).json()
        assert older["data"][0]["content"][0]["text"]["value"] == "Any books on sailing?"

        # the agent behind the thread has the assistant's instructions as its persona
        system = fresh_llm.requests[-1]["messages"][0]["content"]
        assert "I am a helpful librarian." in system

        again = c.post(f"/v1/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]})
        assert again.status_code == 409  # nothing new to answer
        c.post(f"/v1/threads/{thread['id']}/messages", json={"role": "user", "content": "Thanks!"})
        second = c.post(f"/v1/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}).json()
        assert _wait(c, thread["id"], second["id"])["status"] == "completed"
        runs = c.get(f"/v1/threads/{thread['id']}/runs", params={"order": "asc"}).json()["data"]
        assert [r["id"] for r in runs] == [run["id"], second["id"]]

        fresh_llm.fail(500, 500, 500, 500)
        c.post(f"/v1/threads/{thread['id']}/messages", json={"role": "user", "content": "Still there?"})
        failed = _wait(
            c,
            thread["id"],
            c.post(f"/v1/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}).json()["id"],
        )
        assert failed["status"] == "failed" and "unavailable" in failed["last_error"]["message"]

        assert c.delete(f"/v1/threads/{thread['id']}").json() == {
            "id": thread["id"],
            "object": "thread.deleted",
            "deleted": True,
        }
        assert c.get(f"/v1/threads/{thread['id']}").status_code == 404
        assert c.delete(f"/v1/assistants/{assistant['id']}").json()["deleted"] is True
        assert c.get(f"/v1/assistants/{assistant['id']}").status_code == 404


def test_threads_and_assistants_belong_to_their_user(chat_server: Server) -> None:
    with chat_server.client() as admin:
        key = admin.post("/admin/users", json={}).json()["api_key"]
        assistant = admin.post("/v1/assistants", json={"model": "gpt-4", "name": "Mine", "instructions": "x"}).json()
        thread = admin.post("/v1/threads", json={"messages": ["hi"]}).json()
    with chat_server.client(key) as other:
        assert other.get(f"/v1/assistants/{assistant['id']}").status_code == 404
        assert other.get(f"/v1/threads/{thread['id']}").status_code == 404
        assert other.get(f"/v1/threads/{thread['id']}/messages").status_code == 404
        assert other.post(f"/v1/threads/{thread['id']}/messages", json={"content": "x"}).status_code == 404
        own = other.post("/v1/threads", json={}).json()
        other.post(f"/v1/threads/{own['id']}/messages", json={"content": "hello"})
        r = other.post(f"/v1/threads/{own['id']}/runs", json={"assistant_id": assistant["id"]})
        assert r.status_code == 404  # someone else's assistant
        assert other.get("/v1/assistants").json()["data"] == []
    with chat_server.client(None) as anonymous:
        assert anonymous.get("/v1/assistants").status_code == 401
