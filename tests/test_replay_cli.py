"""`memgpt replay`: a turn printed step by step from the log; `--with-model` re-runs it in a
throwaway fork against another model and prints both side by side, the agent left unchanged."""

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_llm import FakeLLM, tool_reply
from tests.support import MEMGPT, Server, create_agent, say, scripted_model_env, waits_for


def _env(server: Server, llm: FakeLLM, home: Path) -> dict[str, str]:
    """The chat server's own settings, so that either process may run a queued turn."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MEMGPT_")} | {
        **scripted_model_env(llm.url),
        "OPENAI_API_KEY": "sk-test-secret",
        "MEMGPT_PROVIDERS": "dead",
        "MEMGPT_PROVIDER_DEAD_ENDPOINT": "http://127.0.0.1:9/v1",
        "MEMGPT_HOME": str(home),
        "MEMGPT_PG_URI": str(server.dsn),
    }


def _replay(server: Server, llm: FakeLLM, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MEMGPT, "replay", *args],
        env=_env(server, llm, home),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )


def _ended_turns(c: httpx.Client, agent_id: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def ended() -> bool:
        found[:] = c.get(f"/api/agents/{agent_id}/turns").json()["turns"]
        return len(found) == count and all(t["status"] == "completed" for t in found)

    assert waits_for(ended, 30.0), found
    return found


def test_replay_prints_a_turn_step_by_step(chat_server: Server, fresh_llm: FakeLLM, tmp_path: Path) -> None:
    fresh_llm.script(
        tool_reply(
            "core_memory_append",
            {"name": "human", "content": "Likes tea", "request_heartbeat": True},
            "I should save this.",
        )
    )
    with chat_server.client() as c:
        aid = create_agent(c, name="Replayed")
        say(c, aid, "remember that I like tea")
        (turn,) = _ended_turns(c, aid, 1)
        events_before = c.get(f"/api/agents/{aid}/messages", params={"count": 1000}).json()
    done = _replay(chat_server, fresh_llm, tmp_path, "--agent", "Replayed", "--turn", turn["id"])
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"Turn {turn['id']}: completed, 2 steps" in out
    assert "user: remember that I like tea" in out
    assert "#1 step · gpt-4 (openai)" in out and "#2 step · gpt-4 (openai)" in out
    assert "  + user: [user_message] remember that I like tea" in out
    assert "  thinks: I should save this." in out
    assert 'calls: core_memory_append({"name": "human", "content": "Likes tea", "request_heartbeat": true})' in out
    assert "  success: [OK] None" in out
    assert "  + user: [heartbeat] " in out  # the second step's new message
    assert "says: heartbeat seen" in out
    assert "tokens not reported" in out and " s" in out
    with chat_server.client() as c:  # reading changes nothing
        assert c.get(f"/api/agents/{aid}/messages", params={"count": 1000}).json() == events_before

    unknown = _replay(
        chat_server, fresh_llm, tmp_path, "--agent", "Replayed", "--turn", "00000000-0000-4000-8000-000000000000"
    )
    assert unknown.returncode == 1 and "No turn 00000000-0000-4000-8000-000000000000" in unknown.stderr
    nobody = _replay(chat_server, fresh_llm, tmp_path, "--agent", "Nobody", "--turn", turn["id"])
    assert nobody.returncode == 1 and "No agent named 'Nobody'" in nobody.stderr


def test_replay_with_another_model_runs_the_turn_again_in_a_fork(
    chat_server: Server, fresh_llm: FakeLLM, tmp_path: Path
) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Forked")
        if c.post(f"/api/agents/{aid}/fork", json={}).status_code in (404, 405):
            pytest.skip("needs the fork route")
        say(c, aid, "first message")
        say(c, aid, "second message")
        first, second = _ended_turns(c, aid, 2)
        state = c.get(f"/api/agents/{aid}").json()["agent_state"]
        agents = {a["id"] for a in c.get("/api/agents").json()["agents"]}
    fresh_llm.reset()
    done = _replay(
        chat_server,
        fresh_llm,
        tmp_path,
        "--agent",
        "Forked",
        "--turn",
        second["id"],
        "--with-model",
        json.dumps({"model": "gpt-3.5-turbo"}),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "ORIGINAL (Forked)" in lines[0] and "RE-RUN (gpt-3.5-turbo)" in lines[0]
    assert any("gpt-4 (openai)" in line and "gpt-3.5-turbo (openai)" in line for line in lines)
    asked = [r for r in fresh_llm.requests if r["path"].endswith("/chat/completions")]
    assert [r["model"] for r in asked] == ["gpt-3.5-turbo"]
    prompt = json.dumps(asked[0]["messages"])
    assert "second message" in prompt and "first message" in prompt  # the state right before the turn
    with chat_server.client() as c:  # the agent is unchanged, the fork gone
        assert c.get(f"/api/agents/{aid}").json()["agent_state"] == state
        assert waits_for(lambda: {a["id"] for a in c.get("/api/agents").json()["agents"]} == agents, 30.0)
        assert [t["id"] for t in c.get(f"/api/agents/{aid}/turns").json()["turns"]] == [first["id"], second["id"]]


def _contract_run(role: str, fork_status: int = 200) -> list[tuple[str, str, Any]]:
    """`rerun` against a stand-in for the server that answers as the fork contract says; the
    requests it made, in order."""
    from api.cli.replay import rerun

    fork_id = "f0000000-0000-4000-8000-000000000000"
    again = {"turn": {"id": "t2"}, "message": {"role": role, "text": "hello"}, "requests": []}
    seen: list[tuple[str, str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        seen.append((request.method, path, json.loads(request.content) if request.content else None))
        if path.endswith("/fork"):
            return httpx.Response(fork_status, json={"agent_state": {"id": fork_id}, "detail": "Not Found"})
        if path == f"/api/agents/{fork_id}/turns":
            return httpx.Response(200, json={"turns": [{"id": "t2", "status": "completed"}]})
        if path == f"/api/agents/{fork_id}/turns/t2":
            return httpx.Response(200, json=again)
        return httpx.Response(200, json={})

    async def run() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://memgpt.local") as http:
            detail = {
                "turn": {"id": "t1-turn", "positions": {"queued": 42}},
                "message": {"role": role, "text": "hello"},
            }
            return await rerun(http, {"id": "a1-agent"}, detail, {"model": "other"})

    assert asyncio.run(run()) == again
    return seen


def test_a_rerun_forks_right_before_the_turn_sends_it_again_and_deletes_the_fork() -> None:
    fork = "f0000000-0000-4000-8000-000000000000"
    seen = _contract_run("user")
    method, path, body = seen[0]
    assert (method, path) == ("POST", "/api/agents/a1-agent/fork")
    assert body["at"] == 41 and body["llm_config"] == {"model": "other"} and body["name"].startswith("replay-t1-turn-")
    assert seen[1:] == [
        ("POST", "/api/agents/message", {"agent_id": fork, "message": "hello", "role": "user", "stream": False}),
        ("GET", f"/api/agents/{fork}/turns", None),
        ("GET", f"/api/agents/{fork}/turns/t2", None),
        ("DELETE", f"/api/agents/{fork}", None),
    ]
    woken = _contract_run("heartbeat")
    assert woken[1] == ("POST", f"/api/agents/{fork}/command", {"command": "/heartbeat"})


def test_a_rerun_says_so_when_the_server_cannot_fork() -> None:
    from api.cli.replay import ReplayFailed

    with pytest.raises(ReplayFailed, match="cannot fork"):
        _contract_run("user", fork_status=405)


def test_a_failed_turns_unanswered_request_is_printed_after_its_answered_ones() -> None:
    from api.cli.replay import render

    turn = {
        "id": "t1",
        "status": "failed",
        "steps": 0,
        "tokens": {"prompt": 0, "completion": 0, "total": 0},
        "positions": {"queued": 1, "started": 2, "ended": 3},
        "queued_at": "q",
        "started_at": "s",
        "ended_at": "e",
        "failure": "The model endpoint is unavailable after 4 attempts (HTTP 500).",
    }
    pending = {"kind": "complete", "model": "gpt-4", "layout": "openai", "messages": [{}, {}]}
    lines = render({"turn": turn, "message": {"role": "user", "text": "hi"}, "requests": [], "unanswered": pending})
    assert lines[3] == "failed: The model endpoint is unavailable after 4 attempts (HTTP 500)."
    assert lines[-2:] == [
        "#1 step · gpt-4 (openai) · 2 messages · no answer recorded",
        "  failed: The model endpoint is unavailable after 4 attempts (HTTP 500).",
    ]
