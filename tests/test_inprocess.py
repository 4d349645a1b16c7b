"""The runtime in one process: `bootstrap` given fake model and embedding adapters, the Falcon
app driven by `falcon.testing` (lifespan included, so the turn runner, the views and the
embedding filler run as in a server). The scripted model over HTTP stays the contract test of
the HTTP adapter; here the runner's logic is tested without it."""

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import psycopg
from falcon import testing

from api.app import create_app
from domain.messages import ToolCall
from domain.step import Reply
from runtime.bootstrap import bootstrap
from runtime.config import Config

PASSWORD = "in-process-password"
AUTH = {"Authorization": f"Bearer {PASSWORD}"}


class FakeModel:
    """A chat model answering from a list of replies; records every prompt it was sent."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.prompts: list[list[dict[str, Any]]] = []

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Reply:
        self.prompts.append(messages)
        return self.replies.pop(0)

    async def summarize(self, messages: list[dict[str, Any]]) -> str:
        return "A summary."

    def count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        return 100


class FakeModels:
    def __init__(self, model: FakeModel) -> None:
        self.model = model

    def for_agent(self, llm_config: dict[str, Any]) -> FakeModel:
        return self.model


class FakeEmbedder:
    """Deterministic vectors: the same text, the same vector."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return [
            [b / 255 for b in hashlib.sha512(t.encode()).digest()[: self.dim].ljust(self.dim, b"\1")] for t in texts
        ]

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class FakeEmbedders:
    def for_config(self, config: dict[str, Any]) -> FakeEmbedder:
        return FakeEmbedder(int(config.get("embedding_dim") or 384))


def _call(name: str, thoughts: str, **arguments: Any) -> Reply:
    return Reply(thoughts, (ToolCall(f"call_{name}", name, json.dumps(arguments)),))


def _config(dsn: str, home: Path) -> Config:
    return Config.from_env({"MEMGPT_PG_URI": dsn, "MEMGPT_HOME": str(home), "MEMGPT_SERVER_PASS": PASSWORD})


def test_a_turn_runs_in_process_against_fake_adapters(dsn: str, tmp_path: Path) -> None:
    model = FakeModel(
        _call("archival_memory_insert", "Worth keeping.", content="Ada sails in Lisbon.", request_heartbeat=True),
        _call("send_message", "Now answer.", message="Noted: you sail in Lisbon."),
        _call("archival_memory_search", "Let me look.", query="Where does Ada sail?", request_heartbeat=True),
        _call("send_message", "Found it.", message="In Lisbon."),
    )
    cfg = _config(dsn, tmp_path)

    async def scenario() -> None:
        app = create_app(cfg, bootstrap(cfg, models=FakeModels(model), embedders=FakeEmbedders()))
        async with testing.ASGIConductor(app) as c:
            r = await c.post("/api/agents", json={"config": {"name": "inproc"}}, headers=AUTH)
            agent = r.json["agent_state"]["id"]

            async def say(text: str) -> list[str]:
                """What the agent told the user."""
                body = {"agent_id": agent, "message": text, "stream": False}
                r = await c.post("/api/agents/message", json=body, headers=AUTH)
                assert r.status_code == 200, r.text
                return [f["assistant_message"] for f in r.json["messages"] if "assistant_message" in f]

            assert await say("I sail in Lisbon.") == ["Noted: you sail in Lisbon."]
            assert "I sail in Lisbon." in model.prompts[0][-1]["content"], "the newest message comes last"
            await _embedded(dsn, agent)  # the filler embeds the passage off the request path
            assert await say("Where do I sail?") == ["In Lisbon."]
            result = model.prompts[-1][-2]["content"]  # the search's result, before the heartbeat
            assert "Ada sails in Lisbon." in result, result

    asyncio.run(scenario())
    assert not model.replies, "each turn took exactly the steps scripted"


async def _embedded(dsn: str, agent: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for _ in range(200):
            row = await (
                await conn.execute(
                    "SELECT count(*) FROM view_passages WHERE agent_id = %s AND embedding IS NOT NULL", (agent,)
                )
            ).fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the passage was never embedded")
