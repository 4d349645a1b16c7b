"""Time travel benchmark: reading an agent's past (`at=`) on an agent with 10,000 events.

    python ops/bench/time_travel.py [--events 10000] [--reads 200] [--pg-uri DSN]

The whole server in one process (`bootstrap` + the Falcon app, driven by falcon.testing: real
routing, real PostgreSQL, no network): an agent gets `--events` events — core-memory edits and
archival inserts saved as commands, and turns run by the runner against a model that answers at
once — then `GET /api/agents/{id}?at=`, `/memory?at=`, `/context?at=` and `/archival?at=` are
timed at random positions of its history. Without --pg-uri an embedded PostgreSQL starts in a
temporary directory. Prints a Markdown table (milliseconds).
"""

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from archival import sentence  # type: ignore[import-not-found]  # beside this script
from common import fresh_database, pct, print_table  # type: ignore[import-not-found]  # beside this script
from falcon import testing

from api.app import create_app
from domain.messages import ToolCall
from domain.step import Reply
from runtime.bootstrap import bootstrap
from runtime.config import Config
from runtime.database import Database

PASSWORD = "bench-password"
AUTH = {"Authorization": f"Bearer {PASSWORD}"}


class InstantModel:
    """Answers every step with one send_message at once: the bench measures the server."""

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Reply:
        return Reply("Answering.", (ToolCall("call_bench", "send_message", '{"message": "Noted."}'),))

    async def summarize(self, messages: list[dict[str, Any]]) -> str:
        return "A summary."

    def count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        return 100

    def for_agent(self, llm_config: dict[str, Any]) -> "InstantModel":
        return self


def event_count(dsn: str, agent_id: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT notification_id FROM memgpt_events WHERE originator_id = %s ORDER BY notification_id", (agent_id,)
        ).fetchall()
    return [r[0] for r in rows]


async def run(dsn: str, home: Path, events: int, reads: int) -> list[dict[str, Any]]:
    cfg = Config.from_env(
        {
            "MEMGPT_PG_URI": dsn,
            "MEMGPT_HOME": str(home),
            "MEMGPT_SERVER_PASS": PASSWORD,
            "MEMGPT_RATE_PER_SECOND": "100000",  # the bench reads as fast as it can
        }
    )
    services = bootstrap(cfg, models=InstantModel())
    rng = random.Random(7)
    async with testing.ASGIConductor(create_app(cfg, services)) as c:
        r = await c.post("/api/agents", json={"config": {"name": "bench"}}, headers=AUTH)
        agent = r.json["agent_state"]["id"]
        user = UUID(r.json["agent_state"]["user_id"])
        commands = services.commands.agents
        started = time.perf_counter()
        n = 0
        while len(positions := event_count(dsn, agent)) < events:
            n += 1
            if n % 20 == 0:
                body = {"agent_id": agent, "message": sentence(rng), "stream": False}
                assert (await c.post("/api/agents/message", json=body, headers=AUTH)).status_code == 200
            for _ in range(min(100, events - len(positions))):
                if rng.random() < 0.8:
                    human = f"First name: Bench\n{sentence(rng)}"
                    await asyncio.to_thread(commands.edit_core_memory, user, UUID(agent), None, human)
                else:
                    await asyncio.to_thread(commands.insert_passages, user, UUID(agent), [sentence(rng)])
        filled = time.perf_counter() - started
        positions = event_count(dsn, agent)
        rows = []
        for route in ("", "/memory", "/context", "/archival"):
            took = []
            for at in rng.sample(positions, min(reads, len(positions))):
                t = time.perf_counter()
                r = await c.get(f"/api/agents/{agent}{route}", params={"at": str(at)}, headers=AUTH)
                took.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
            rows.append(
                {
                    "route": f"GET /api/agents/{{id}}{route}?at=",
                    "agent events": len(positions),
                    "reads": len(took),
                    "median ms": round(statistics.median(took), 1),
                    "p95 ms": round(pct(took, 0.95), 1),
                    "max ms": round(max(took), 1),
                    "fill s": round(filled),
                }
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--pg-uri", default=None)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="memgpt-bench-"))
    database = Database(args.pg_uri, home / "db")
    try:
        dsn = fresh_database(database.start())
        rows = asyncio.run(run(dsn, home, args.events, args.reads))
    finally:
        database.stop()
    print_table(rows)


if __name__ == "__main__":
    main()
