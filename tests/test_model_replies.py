"""Model output as real servers send it: every reply in `tests/model_replies/` (OpenAI, vLLM,
Ollama, llama.cpp's server, in their exact wire shapes) through a real server, checked against the
frames a client sees and the events the turn appends; then the original's seed conversation
(`../shared/reference/memgpt-0.3.4/transcript.json`) with each server's quirks."""

import json
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.fake_llm import FakeLLM, last_user_text
from tests.support import Server

CORPUS = Path(__file__).with_name("model_replies")
TRANSCRIPT = Path(__file__).parents[2] / "shared/reference/memgpt-0.3.4/transcript.json"
CASES = [
    pytest.param(case, id=f"{path.stem}: {case['name']}")
    for path in sorted(CORPUS.glob("*.json"))
    for case in json.loads(path.read_text())["cases"]
]


def _agent(client: httpx.Client, **config: Any) -> str:
    r = client.post("/api/agents", json={"config": config})
    assert r.status_code == 200, r.text
    return r.json()["agent_state"]["id"]


def _turn(client: httpx.Client, agent_id: str, text: str, stream: bool = False) -> list[dict[str, Any]]:
    body = {"agent_id": agent_id, "message": text, "stream": stream, "role": "user"}
    r = client.post("/api/agents/message", json=body)
    assert r.status_code == 200, r.text
    if stream:
        return [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    return r.json()["messages"]


def _undated(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in f.items() if k != "date"} for f in frames]


def _event_types(dsn: str, agent_id: str, after: int) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT topic FROM memgpt_events WHERE originator_id = %s AND notification_id > %s ORDER BY notification_id",
            (agent_id, after),
        ).fetchall()
    return [topic.rsplit(".", 1)[-1] for (topic,) in rows]


def _last_position(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM memgpt_events").fetchone()
    return row[0] if row else 0


@pytest.mark.parametrize("case", CASES)
def test_each_reply_gives_the_frames_and_events_the_original_rules_call_for(
    case: dict[str, Any], chat_server: Server, fresh_llm: FakeLLM, dsn: str
) -> None:
    with chat_server.client() as c:
        aid = _agent(c)
        before = _last_position(dsn)
        fresh_llm.script(case["body"])
        frames = _turn(c, aid, "hello")
        assert _undated(frames) == case["frames"]
        assert _event_types(dsn, aid, before) == ["TurnQueued", *case["events"]]
        # the agent goes on answering after whatever the reply was
        assert _undated(_turn(c, aid, "still there?"))[-2] == {"assistant_message": "echo: still there?"}


def _wire(dialect: str, thoughts: str | None, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The transcript's scripted replies as each server family writes them, quirks included:
    `request_heartbeat: false` added to send_message, objects for arguments, thoughts in
    reasoning_content, near-JSON, the legacy function_call form."""
    if name == "send_message":
        args = {**args, "request_heartbeat": False}
    text = json.dumps(args)
    if dialect == "openai-legacy":
        message: dict[str, Any] = {"content": thoughts, "function_call": {"name": name, "arguments": text}}
        return {"id": "chatcmpl-1", "choices": [{"index": 0, "message": message, "finish_reason": "function_call"}]}
    call: dict[str, Any] = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": text}}
    message = {"role": "assistant", "content": thoughts, "tool_calls": [call]}
    if dialect == "ollama":
        call["function"]["arguments"] = args
        message["content"] = thoughts or ""
    elif dialect == "vllm":
        call["function"]["arguments"] = text[:-1] + ",}"  # a trailing comma
    elif dialect == "llamacpp":
        message |= {"content": None, "reasoning_content": thoughts}
        call["function"]["arguments"] = f"```json\n{text}\n```"
    return {"id": "chatcmpl-1", "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}


def _seed_model(dialect: str) -> Any:
    """The transcript's scripted model: echo, save what to remember (with a heartbeat), answer heartbeats."""

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        kind, text = last_user_text(body["messages"])
        if kind == "heartbeat":
            return _wire(dialect, "Heartbeat.", "send_message", {"message": "heartbeat seen"})
        if text.startswith("remember "):
            fact = {"name": "human", "content": text.removeprefix("remember "), "request_heartbeat": True}
            return _wire(dialect, "I should save this.", "core_memory_append", fact)
        return _wire(dialect, "The user said something.", "send_message", {"message": f"echo: {text}"})

    return answer


def _seed_requests() -> list[dict[str, Any]]:
    return [
        e
        for e in json.loads(TRANSCRIPT.read_text())
        if e["request"] in ("POST /api/agents/message", "POST /api/agents/memory") and e["auth"] == "user key"
    ]


@pytest.mark.skipif(not TRANSCRIPT.exists(), reason="the original's transcript is not beside this checkout")
@pytest.mark.parametrize("dialect", ["openai", "openai-legacy", "vllm", "ollama", "llamacpp"])
def test_the_seed_conversation_answers_as_the_original_did_with_every_server(
    dialect: str, chat_server: Server, fresh_llm: FakeLLM
) -> None:
    seed = _seed_requests()
    assert len(seed) == 4  # two messages, a memory edit, a streamed message
    with chat_server.client() as c:
        aid = _agent(c, name=f"Seed-{dialect}", preset="memgpt_chat", human="cs_phd", persona="sam_pov")
        for entry in seed:
            fresh_llm.script(*[_seed_model(dialect)] * 3)
            body = entry["body"]
            if entry["request"] == "POST /api/agents/memory":
                r = c.post("/api/agents/memory", json={**body, "agent_id": aid})
                assert r.status_code == 200, r.text
                assert r.json()["new_core_memory"]["persona"] == body["persona"]
                continue
            frames = _turn(c, aid, body["message"], stream=body["stream"])
            expected = entry.get("sse_data_lines") or entry["response"]["messages"]
            assert _undated(frames) == _undated(expected)
        memory = c.get("/api/agents/memory", params={"agent_id": aid}).json()["core_memory"]
    assert memory["human"].endswith("\nLikes tea")
