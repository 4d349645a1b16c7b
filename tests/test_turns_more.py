"""Turns under pressure: isolation, concurrency, overflow, replay, resumed streams, commands."""

import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

from domain import prompt
from domain.services.app import MemGPT
from tests.fake_llm import FakeLLM, tool_reply
from tests.support import Server, create_agent, say, sse_events


def test_two_users_streaming_at_once_see_only_their_own_events(chat_server: Server, fresh_llm: FakeLLM) -> None:
    fresh_llm.delay = 0.05
    with chat_server.client() as admin:
        keys = [admin.post("/admin/users", json={}).json()["api_key"] for _ in range(2)]
    agents = []
    for key in keys:
        with chat_server.client(key) as c:
            agents.append(create_agent(c, name="Mine"))

    def stream(i: int) -> list[str]:
        with chat_server.client(keys[i]) as c:
            seen = []
            for n in range(3):
                r = c.post(f"/api/agents/{agents[i]}/messages", json={"message": f"user{i} says {n}", "stream": True})
                seen += [d["assistant_message"] for _, d in sse_events(r) if "assistant_message" in d]
            return seen

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(stream, range(2))
    assert first == [f"echo: user0 says {n}" for n in range(3)]
    assert second == [f"echo: user1 says {n}" for n in range(3)]
    with chat_server.client(keys[0]) as c:
        r = c.post(f"/api/agents/{agents[1]}/messages", json={"message": "intrude", "stream": True})
        assert r.status_code == 404


def test_ten_concurrent_messages_to_one_agent_are_all_answered_in_order(
    chat_server: Server, fresh_llm: FakeLLM
) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Crowded")
    barrier = threading.Barrier(10)

    def send(i: int) -> list[str]:
        with chat_server.client() as c:
            barrier.wait()
            return [m["assistant_message"] for m in say(c, aid, f"message {i}") if "assistant_message" in m]

    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(send, range(10)))
    assert replies == [[f"echo: message {i}"] for i in range(10)]
    with chat_server.client() as c:
        history = c.get(f"/api/agents/{aid}/messages", params={"count": 100}).json()["messages"][::-1]
    users = [json.loads(m["text"])["message"] for m in history if m["role"] == "user" and "user_message" in m["text"]]
    answers = [
        json.loads(m["tool_calls"][0]["function"]["arguments"])["message"]
        for m in history
        if m["role"] == "assistant" and m["tool_calls"]
    ][1:]
    assert sorted(users) == sorted(f"message {i}" for i in range(10))
    assert answers == [f"echo: {u}" for u in users]  # each turn ran whole before the next began


def _tokens(request: dict[str, Any]) -> int:
    return math.ceil((len(json.dumps(request["messages"])) + len(json.dumps(request["tools"]))) / 3)


def test_overflow_warns_then_summarises_and_keeps_everything_in_recall(chat_server: Server, fresh_llm: FakeLLM) -> None:
    long_text = "I like long walks along the fjord, and " + "tea " * 150
    with chat_server.client() as c:
        probe = create_agent(c, name="Probe")
        say(c, probe, "hi")
        base = _tokens(fresh_llm.requests[-1])
        window = base + 1400
        aid = create_agent(c, name="Squeezed", llm_config={"context_window": window})
        fresh_llm.reset()
        for n in range(12):
            say(c, aid, f"{n}: {long_text}")
            if any("tools" not in r for r in fresh_llm.requests):
                break
        summaries = [i for i, r in enumerate(fresh_llm.requests) if "tools" not in r]
        assert summaries, "the context never overflowed"
        warnings = [i for i, r in enumerate(fresh_llm.requests) if "nearly full" in json.dumps(r["messages"][-1:])]
        assert warnings and warnings[0] < summaries[0]
        assert all(_tokens(r) <= window for r in fresh_llm.requests if "tools" in r)
        after = next(r for r in fresh_llm.requests[summaries[0] :] if "tools" in r)
        assert "We talked about tea" in json.dumps(after["messages"][1])
        state = c.get(f"/api/agents/{aid}").json()["agent_state"]["state"]
        history = c.get(f"/api/agents/{aid}/messages", params={"count": 1000}).json()["messages"]
        assert len(state["messages"]) < len(history)
        assert set(state["messages"]) <= {m["id"] for m in history}
        assert "0: I like long walks" in json.dumps(history)  # summarised, not forgotten


def test_a_finished_turn_replays_into_the_prompt_the_model_was_sent(
    chat_server: Server, fresh_llm: FakeLLM, dsn: str
) -> None:
    from runtime.database import eventsourcing_env

    fresh_llm.script(
        tool_reply(
            "core_memory_append", {"name": "persona", "content": "I love puns.", "request_heartbeat": True}, "Noting."
        )
    )
    with chat_server.client() as c:
        aid = create_agent(c, name="Replayed")
        say(c, aid, "be punny")
    sent = fresh_llm.requests[-1]  # the step after the heartbeat
    app = MemGPT(env=eventsourcing_env(dsn))
    try:
        final = app.repository.get(aid)
        # after the last model call the log holds: AssistantSpoke, FunctionReturned, TurnCompleted
        before_last_call = app.repository.get(aid, version=final.version - 3)
        assert prompt.chat_messages(before_last_call) == sent["messages"]
        assert prompt.tools(before_last_call) == sent["tools"]
    finally:
        app.close()


def test_a_dropped_stream_resumes_from_last_event_id(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Resumer")
        full = sse_events(c.post(f"/api/agents/{aid}/messages", json={"message": "resume me", "stream": True}))
        first_id = next(i for i, _ in full if i is not None)
        rest = c.post(
            f"/api/agents/{aid}/messages",
            json={"message": "ignored", "stream": True},
            headers={"Last-Event-ID": first_id},
        )
        assert [d for _, d in sse_events(rest)] == [d for _, d in full][2:]
        history = c.get(f"/api/agents/{aid}/messages", params={"count": 100}).text
        assert "ignored" not in history  # resuming does not send the message again
        assert (
            c.post(
                f"/api/agents/{aid}/messages", json={"message": "x", "stream": True}, headers={"Last-Event-ID": "1"}
            ).status_code
            == 400
        )


def test_agent_commands(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Commanded", human="cs_phd")
        say(c, aid, "first")

        def command(text: str, path: bool = False) -> str:
            if path:
                r = c.post(f"/api/agents/{aid}/command", json={"command": text})
            else:
                r = c.post("/api/agents/command", json={"agent_id": aid, "command": text})
            assert r.status_code == 200, r.text
            return r.json()["response"]

        memory = command("/memory")
        assert "### CORE MEMORY ###" in memory and "=== Persona ===" in memory and "### RECALL MEMORY ###" in memory
        assert "7 total messages" in memory and "Size: 0" in memory
        assert "echo: first" in command("/dump 3", path=True)
        assert command("/rethink I should be warmer.").startswith("Inner thoughts rewritten")
        assert command("/rewrite Hello, friend!").startswith("Sent message rewritten")
        dumped = command("/dump 2")
        assert "I should be warmer." in dumped and "Hello, friend!" in dumped
        assert "echo: first" in command("/retry")
        users = [
            m
            for m in c.get(f"/api/agents/{aid}/messages", params={"count": 100}).json()["messages"]
            if '"first"' in (m["text"] or "")
        ]
        assert len(users) == 2  # the retried message is asked again; the first stays in recall
        before = len(c.get(f"/api/agents/{aid}").json()["agent_state"]["state"]["messages"])
        assert command("/pop 2").startswith("Popped the last 2")
        assert len(c.get(f"/api/agents/{aid}").json()["agent_state"]["state"]["messages"]) == before - 2
        assert command("/heartbeat") == "heartbeat seen"
        assert command("/memorywarning") == "heartbeat seen"
        assert "nearly full" in fresh_llm.requests[-1]["messages"][-1]["content"]
        for bad in ("/nonsense", "/dump many", "/rethink"):
            r = c.post("/api/agents/command", json={"agent_id": aid, "command": bad})
            assert r.status_code == 422 and r.json()["detail"]


def test_events_of_a_turn_are_attributed_to_its_request(chat_server: Server, fresh_llm: FakeLLM, dsn: str) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Traced")
        c.post(f"/api/agents/{aid}/messages", json={"message": "trace me"}, headers={"X-Request-ID": "turn-req-1"})
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT topic, state FROM memgpt_events WHERE originator_id = %s ORDER BY originator_version", (aid,)
        ).fetchall()
    queued = [json.loads(bytes(s)) for t, s in rows if t == "memgpt.Agent.TurnQueued"]
    assert queued[0]["caused_by"]["client_request_id"] == "turn-req-1"
    assert [t for t, _ in rows][-5:] == [
        "memgpt.Agent.TurnQueued",
        "memgpt.Agent.TurnStarted",
        "memgpt.Agent.AssistantSpoke",
        "memgpt.Agent.FunctionReturned",
        "memgpt.Agent.TurnCompleted",
    ]
