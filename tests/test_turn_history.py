"""An agent's turns over HTTP: the list, and each turn's model requests rebuilt from the log,
checked against what the scripted model really received, byte for byte (as JSON)."""

import dataclasses
import json
import math
import threading
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.fake_llm import FakeLLM, text_reply, tool_reply
from tests.support import Server, create_agent, new_user, say, waits_for

LONG_TEXT = "I like long walks along the fjord, and " + "tea " * 150


def _json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def _chat_requests(llm: FakeLLM) -> list[dict[str, Any]]:
    """What the model received, as bodies: the chat requests only, without how they came."""
    return [
        _json({k: v for k, v in r.items() if k not in ("path", "headers")})
        for r in llm.requests
        if r["path"].endswith("/chat/completions")
    ]


def _sent(request: dict[str, Any]) -> Any:
    """A rebuilt request as the body it stands for."""
    body = {**request["params"], "messages": request["messages"]}
    if request["tools"] is not None:
        body["tools"] = request["tools"]
    return _json(body)


def _tokens(request: dict[str, Any]) -> int:
    return math.ceil((len(json.dumps(request["messages"])) + len(json.dumps(request["tools"]))) / 3)


def _turns(c: httpx.Client, agent_id: str, **params: Any) -> list[dict[str, Any]]:
    r = c.get(f"/api/agents/{agent_id}/turns", params=params)
    assert r.status_code == 200, r.text
    return r.json()["turns"]


def _all_turns_ended(c: httpx.Client, agent_id: str, count: int) -> list[dict[str, Any]]:
    """Every turn, once the turns view has seen all `count` of them end."""
    found: list[dict[str, Any]] = []

    def ended() -> bool:
        found[:] = _turns(c, agent_id, limit=1000)
        return len(found) == count and all(t["status"] in ("completed", "failed") for t in found)

    assert waits_for(ended, 30.0), found
    return found


def _with_usage(message: dict[str, Any], prompt: int, completion: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-usage",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def _two_calls() -> dict[str, Any]:
    """A reply with two calls: the first runs, the second is recorded and skipped."""
    return {
        "role": "assistant",
        "content": "Two at once.",
        "tool_calls": [
            {
                "id": "call_first",
                "type": "function",
                "function": {"name": "send_message", "arguments": '{"message": "first"}'},
            },
            {
                "id": "call_second",
                "type": "function",
                "function": {"name": "send_message", "arguments": '{"message":"second"}'},
            },
        ],
    }


def test_every_model_request_of_every_turn_is_rebuilt_exactly(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        probe = create_agent(c, name="HistoryProbe")
        say(c, probe, "hi")
        window = _tokens(fresh_llm.requests[-1]) + 1400
        aid = create_agent(c, name="Historian", llm_config={"context_window": window})
        fresh_llm.reset()
        turns = 0

        say(c, aid, "hello there")
        turns += 1
        fresh_llm.script(
            tool_reply("core_memory_append", {"name": "human", "content": "Likes tea", "request_heartbeat": True})
        )
        say(c, aid, "remember that I like tea")  # a memory edit, then a heartbeat step
        turns += 1
        fresh_llm.script(
            tool_reply("core_memory_replace", {"name": "human", "old_content": "nowhere", "new_content": "x"})
        )
        say(c, aid, "fix my name")  # a failed function: another step follows
        turns += 1
        fresh_llm.script(_with_usage(_two_calls(), 1234, 56))
        say(c, aid, "say two things")  # a skipped call; the model reports its usage
        turns += 1
        assert c.post(f"/api/agents/{aid}/command", json={"command": "/rethink Thinking again."}).status_code == 200
        assert c.post(f"/api/agents/{aid}/command", json={"command": "/rewrite Said again."}).status_code == 200
        say(c, aid, "after the rewrite")
        turns += 1
        assert c.post(f"/api/agents/{aid}/command", json={"command": "/pop 2"}).status_code == 200
        fresh_llm.script(text_reply("Only thinking."))
        say(c, aid, "after the pop")  # a reply without a call ends the turn
        turns += 1
        assert c.post(f"/api/agents/{aid}/command", json={"command": "/heartbeat"}).status_code == 200
        turns += 1
        for n in range(14):  # until the context overflowed: memory warnings, then summaries
            say(c, aid, f"{n}: {LONG_TEXT}")
            turns += 1
            if sum("tools" not in r for r in _chat_requests(fresh_llm)) >= 2:
                break
        assert c.post(f"/api/agents/{aid}/command", json={"command": "/retry"}).status_code == 200
        turns += 1
        say(c, aid, "the end")
        turns += 1

        received = _chat_requests(fresh_llm)
        assert sum("tools" not in r for r in received) >= 2, "the context never overflowed twice"
        assert any("nearly full" in json.dumps(r["messages"][-1:]) for r in received), "no memory warning"

        listed = _all_turns_ended(c, aid, turns)
        assert all(t["status"] == "completed" for t in listed)
        details = []
        for turn in listed:
            r = c.get(f"/api/agents/{aid}/turns/{turn['id']}")
            assert r.status_code == 200, r.text
            details.append(r.json())

    assert all(d["unanswered"] is None for d in details)
    rebuilt = [_sent(request) for d in details for request in d["requests"]]
    assert len(rebuilt) == len(received)
    for n, (mine, theirs) in enumerate(zip(rebuilt, received, strict=True)):
        assert mine == theirs, f"request {n} differs"

    requests = [request for d in details for request in d["requests"]]
    summaries = [q for q in requests if q["kind"] == "summarize"]
    assert summaries and all(q["tools"] is None and q["reply"]["text"].startswith("We talked") for q in summaries)
    assert all(q["layout"] == "openai" and q["exact"] and q["model"] == "gpt-4" for q in requests)
    steps = [q for q in requests if q["kind"] == "complete"]
    assert all(q["timing"]["model_seconds"] >= 0 for q in steps)
    assert [d["turn"]["steps"] for d in details] == [
        sum(q["kind"] == "complete" for q in d["requests"]) for d in details
    ]

    def stepped(turn: int) -> list[dict[str, Any]]:
        return [q for q in details[turn]["requests"] if q["kind"] == "complete"]

    memory_edit = stepped(1)
    assert memory_edit[0]["function"]["name"] == "core_memory_append"
    assert memory_edit[0]["function"]["status"] == "success"
    assert json.loads(memory_edit[1]["new_messages"][-1]["content"])["type"] == "heartbeat"
    failed = stepped(2)[0]["function"]
    assert failed["status"] == "error" and "CoreMemoryNoMatch" in failed["result"]

    two = stepped(3)[0]
    assert [call["id"] for call in two["reply"]["tool_calls"]] == ["call_first", "call_second"]
    assert two["reply"]["tool_calls"][1]["function"]["arguments"] == '{"message":"second"}'
    assert two["reply"]["skipped"] == 1
    assert two["usage"] == {"prompt_tokens": 1234, "completion_tokens": 56}
    assert details[3]["turn"]["tokens"] == {"prompt": 1234, "completion": 56, "total": 1290}
    assert details[0]["message"] == {"role": "user", "text": "hello there"}
    assert stepped(0)[0]["new_messages"][0]["role"] == "user"
    assert stepped(5)[0]["reply"] == {"text": "Only thinking.", "tool_calls": [], "skipped": 0}
    assert details[6]["message"]["role"] == "heartbeat"


def test_the_list_pages_in_queue_order_with_log_positions(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Lister")
        for n in range(3):
            say(c, aid, f"message {n}")
        listed = _all_turns_ended(c, aid, 3)
        positions = [t["positions"] for t in listed]
        assert all(p["queued"] < p["started"] < p["ended"] for p in positions)
        assert [p["queued"] for p in positions] == sorted(p["queued"] for p in positions)
        assert all(t["queued_at"] <= t["started_at"] <= t["ended_at"] for t in listed)
        assert all(t["steps"] == 1 and t["failure"] is None and t["role"] == "user" for t in listed)
        assert all(t["tokens"] == {"prompt": 0, "completion": 0, "total": 0} for t in listed)  # none reported

        first = c.get(f"/api/agents/{aid}/turns", params={"limit": 2}).json()
        assert [t["id"] for t in first["turns"]] == [t["id"] for t in listed[:2]]
        rest = c.get(f"/api/agents/{aid}/turns", params={"limit": 2, "after": first["cursor"]}).json()
        assert [t["id"] for t in rest["turns"]] == [listed[2]["id"]] and "cursor" not in rest
        newest = _turns(c, aid, order="desc")
        assert [t["id"] for t in newest] == [t["id"] for t in reversed(listed)]


def test_a_failed_turn_is_listed_with_its_failure(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Failer")
        fresh_llm.fail(500, 500, 500, 500)
        say(c, aid, "this fails")
        (turn,) = _all_turns_ended(c, aid, 1)
        assert turn["status"] == "failed" and "unavailable" in turn["failure"]
        detail = c.get(f"/api/agents/{aid}/turns/{turn['id']}").json()
        assert detail["requests"] == [] and detail["turn"]["failure"] == turn["failure"]
    tried = _chat_requests(fresh_llm)
    assert len(tried) == 4 and all(body == tried[0] for body in tried)  # the retries sent one body
    unanswered = detail["unanswered"]
    assert unanswered["kind"] == "complete" and _sent(unanswered) == tried[0]


def test_another_users_agent_and_unknown_turns_are_404(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Private")
        say(c, aid, "secret")
        (turn,) = _all_turns_ended(c, aid, 1)
        unknown = "00000000-0000-4000-8000-000000000000"
        assert c.get(f"/api/agents/{aid}/turns/{unknown}").status_code == 404
        assert c.get(f"/api/agents/{unknown}/turns").status_code == 404
        other_id = create_agent(c, name="Other")
        assert c.get(f"/api/agents/{other_id}/turns/{turn['id']}").status_code == 404  # not that agent's turn
    with new_user(chat_server) as stranger:
        missing = stranger.get(f"/api/agents/{unknown}/turns")
        foreign = stranger.get(f"/api/agents/{aid}/turns")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json()["detail"].replace(aid, unknown) == missing.json()["detail"]
        assert stranger.get(f"/api/agents/{aid}/turns/{turn['id']}").status_code == 404


def test_a_memory_edit_made_while_the_model_answers_is_only_in_the_later_prompts(
    chat_server: Server, fresh_llm: FakeLLM
) -> None:
    """The runner builds a prompt from the state its own last save left, so an edit recorded
    while the model answers is not in that request, though it precedes the reply in the log."""
    fresh_llm.script(tool_reply("send_message", {"message": "one moment", "request_heartbeat": True}))
    with chat_server.client() as c:
        aid = create_agent(c, name="Interrupted")
        fresh_llm.delay = 1.0

        def talk_slowly() -> None:
            with chat_server.client() as other:
                say(other, aid, "take your time")

        talk = threading.Thread(target=talk_slowly)
        talk.start()
        assert waits_for(lambda: fresh_llm.in_flight > 0, 10.0)
        edit = c.post(f"/api/agents/{aid}/memory", json={"human": "Edited while the model was thinking."})
        assert edit.status_code == 200, edit.text
        talk.join(30.0)
        fresh_llm.delay = 0.0
        (turn,) = _all_turns_ended(c, aid, 1)
        requests = c.get(f"/api/agents/{aid}/turns/{turn['id']}").json()["requests"]
    received = _chat_requests(fresh_llm)[-2:]
    assert [_sent(q) for q in requests] == received
    assert "Edited while" not in received[0]["messages"][0]["content"]
    assert "Edited while" in received[1]["messages"][0]["content"]


def test_an_embedded_agents_requests_show_the_layout_the_embedded_model_is_sent(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from domain.configs import EMBEDDED_LLM
    from domain.functions import schemas_for
    from domain.turn_history import COMPLETE, SUMMARIZE, ModelCall
    from runtime.adapters.embedded import EmbeddedChat, plain_messages, reply_schema
    from runtime.turns.history import TurnHistory

    class Embedded:
        def for_agent(self, llm_config: dict[str, Any]) -> EmbeddedChat:
            return EmbeddedChat(None, tmp_path, tmp_path, 2048)

    history = TurnHistory(None, None, Embedded())  # type: ignore[arg-type]  # only lays requests out
    config = dataclasses.asdict(EMBEDDED_LLM)
    messages = [{"role": "system", "content": "You are MemGPT."}, {"role": "user", "content": "hi"}]
    tools = [{"type": "function", "function": s} for s in schemas_for(["send_message"])]
    now = datetime.now(UTC)
    step = history._entry(ModelCall(COMPLETE, 3, config, messages, tools, [], 7, now, {}))
    assert step["layout"] == "embedded" and step["exact"] and step["tools"] is None
    assert step["messages"] == plain_messages(messages, tools)
    assert step["params"]["response_format"] == {"type": "json_object", "schema": reply_schema(tools)}
    assert step["model"] == EMBEDDED_LLM.model  # the embedded body names no model: the agent's config does
    summary = history._entry(ModelCall(SUMMARIZE, 3, config, messages, None, [], 8, now, {}))
    assert summary["messages"] == plain_messages(messages, []) and summary["params"]["max_tokens"] == 256
