"""The MemGPT loop through the HTTP API, against a scripted model on loopback."""

import json
from typing import Any

import httpx

from tests.fake_llm import FakeLLM, tool_reply
from tests.support import Server


def _agent(client: httpx.Client, **config: Any) -> str:
    r = client.post("/api/agents", json={"config": config})
    assert r.status_code == 200, r.text
    return r.json()["agent_state"]["id"]


def _say(client: httpx.Client, agent_id: str, text: str, **extra: Any) -> list[dict[str, str]]:
    r = client.post("/api/agents/message", json={"agent_id": agent_id, "message": text, "stream": False, "role": "user", **extra})
    assert r.status_code == 200, r.text
    return r.json()["messages"]


def _kinds(messages: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [next((k, v) for k, v in m.items() if k not in ("date", "status")) for m in messages]


def _sse(response: httpx.Response) -> list[tuple[str | None, dict[str, str]]]:
    """(id, data) per event of a text/event-stream body."""
    events, current_id = [], None
    for block in response.text.split("\n\n"):
        data = None
        for line in block.splitlines():
            if line.startswith("id: "):
                current_id = line[4:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if data is not None:
            events.append((current_id, data))
    return events


def test_a_message_gets_the_reply_of_the_original_walkthrough(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        aid = _agent(c, name="Walk")
        messages = _say(c, aid, "what's the meaning of life? someone told me it's 42...")
    assert _kinds(messages) == [
        ("internal_monologue", "The user said something."),
        ("function_call", "send_message({'message': \"echo: what's the meaning of life? someone told me it's 42...\"})"),
        ("assistant_message", "echo: what's the meaning of life? someone told me it's 42..."),
        ("function_return", "None"),
    ]
    assert messages[3]["status"] == "success"
    assert all(m["date"].endswith("+00:00") for m in messages)
    sent = fresh_llm.requests[-1]
    assert sent["model"] == "gpt-4" and sent["headers"]["Authorization"] == "Bearer sk-test-secret"
    assert sent["messages"][0]["role"] == "system" and "<persona>" in sent["messages"][0]["content"]
    assert {t["function"]["name"] for t in sent["tools"]} >= {"send_message", "core_memory_append", "archival_memory_search"}


def test_streamed_reply_is_server_sent_events_with_log_positions(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        aid = _agent(c, name="Streamer")
        r = c.post("/api/agents/message", json={"agent_id": aid, "message": "stream me", "stream": True, "role": "user"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _sse(r)
    assert [next(k for k in d if k not in ("date", "status")) for _, d in events] == [
        "internal_monologue", "function_call", "assistant_message", "function_return",
    ]
    assert events[1][1]["function_call"] == "send_message({'message': 'echo: stream me'})"
    assert events[2][1]["assistant_message"] == "echo: stream me"
    ids = [int(i) for i, _ in events if i is not None]
    assert ids == sorted(ids) and len(set(ids)) == 2  # one log position per event, two events
    assert "data: {" in r.text and r.text.count("data: ") == 4


def test_memory_edit_with_heartbeat_then_reply(chat_server: Server, fresh_llm: FakeLLM) -> None:
    fresh_llm.script(tool_reply("core_memory_append", {"name": "human", "content": "Likes tea", "request_heartbeat": True}, "I should save this."))
    with chat_server.client() as c:
        aid = _agent(c, name="Rememberer", human="cs_phd")
        messages = _say(c, aid, "remember Likes tea")
        assert _kinds(messages) == [
            ("internal_monologue", "I should save this."),
            ("function_call", "core_memory_append({'name': 'human', 'content': 'Likes tea'})"),
            ("function_return", "None"),
            ("internal_monologue", "Heartbeat."),
            ("function_call", "send_message({'message': 'heartbeat seen'})"),
            ("assistant_message", "heartbeat seen"),
            ("function_return", "None"),
        ]
        core = c.get(f"/api/agents/{aid}/memory").json()["core_memory"]
        assert core["human"].endswith("\nLikes tea")
        state = c.get(f"/api/agents/{aid}").json()["agent_state"]["state"]
        assert state["human"].endswith("\nLikes tea")
    heartbeat = json.loads(fresh_llm.requests[-1]["messages"][-1]["content"])
    assert heartbeat["type"] == "heartbeat"
    assert "Likes tea" in fresh_llm.requests[-1]["messages"][0]["content"]  # the new memory is in the prompt
