"""Event history benchmark: one page of events with 1,000,000 events in the log.

    python ops/bench/events_page.py [--events 1000000] [--pg-uri DSN]

Fills a fresh database by bulk COPY: users, their keys and agents, and the agents' turns (the
shapes the server writes: TurnQueued with its cause, TurnStarted, AssistantSpoke with a
send_message call, FunctionReturned, TurnCompleted, now and then a CoreMemoryReplaced by a
function), cloned from events the real application saved first; and their rows in
`view_event_index`, the values `projections.events` gives them. One agent takes a tenth of all
turns (a long-lived agent), the rest spread over 5,000 agents of 1,000 users. Then it times the
pages the routes read, in-process and end to end but for HTTP: the index query joined with the
log, each event decoded through the application's mapper and shaped (`api.payloads`), as JSON.
Without --pg-uri an embedded PostgreSQL starts in a temporary directory. Prints a Markdown table.
"""

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import msgspec
import orjson
import psycopg
from common import fresh_database, pct, print_table  # type: ignore[import-not-found]  # beside this script
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

import migrations
from api.payloads import Shaper
from domain.services.app import CommandGroups, MemGPT
from projections.event_history import EventFilter, EventHistory
from runtime.database import Database, eventsourcing_env
from runtime.endpoints import Endpoints, Sealer

USERS, AGENTS = 1_000, 5_000
_IDS = ("hot", "quiet", "user", "other_user")
WORDS = "harbour lighthouse tide anchor sail rope keel gull storm calm reef ferry pier river bridge tea".split()


def _id(value: UUID) -> dict[str, str]:
    return {"_type_": "uuid_hex", "_data_": value.hex}


def _time(moment: datetime) -> dict[str, str]:
    return {"_type_": "datetime_iso", "_data_": moment.isoformat()}


def _message(role: str, text: str, moment: datetime, **extra: Any) -> dict[str, Any]:
    data = {"id": _id(uuid4()), "role": role, "text": text, "created_at": _time(moment), "name": None}
    return {"_type_": "memgpt_message", "_data_": data | {"tool_call": None, "tool_call_id": None} | extra}


class Filler:
    """Writes the log and its index rows, one COPY each, in batches."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.events: list[tuple[Any, ...]] = []
        self.index: list[tuple[Any, ...]] = []
        self.position = 0
        self.versions: dict[UUID, int] = {}
        self.clock = datetime(2026, 10, 1, tzinfo=UTC)

    def start(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM memgpt_events").fetchone()
        self.position = row[0] if row else 0

    def add(
        self,
        originator: UUID,
        topic: str,
        state: dict[str, Any],
        user_id: UUID,
        agent_id: UUID | None,
        turn_id: UUID | None,
        cause: dict[str, Any] | None,
        memory_before: int | None = None,
    ) -> int:
        self.clock += timedelta(milliseconds=self.rng.randint(1, 5000))
        version = self.versions.get(originator, 0) + 1
        self.versions[originator] = version
        self.position += 1
        state = {**state, "timestamp": _time(self.clock)}  # a cloned state keeps its own otherwise
        self.events.append((self.position, originator, version, topic, json.dumps(state).encode()))
        self.index.append(
            (
                self.position,
                originator,
                version,
                topic.removeprefix("memgpt."),
                user_id,
                agent_id,
                turn_id,
                Jsonb(cause) if cause else None,
                memory_before,
                self.clock,
            )
        )
        return self.position

    def flush(self, conn: psycopg.Connection[Any]) -> None:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY memgpt_events (notification_id, originator_id, originator_version, topic, state) FROM STDIN"
            ) as copy:
                for row in self.events:
                    copy.write_row(row)
            with cur.copy(
                "COPY view_event_index (position, originator_id, version, type, user_id, agent_id, turn_id,"
                " caused_by, memory_before, time) FROM STDIN"
            ) as copy:
                for row in self.index:
                    copy.write_row(row)
        conn.commit()
        self.events.clear()
        self.index.clear()


def templates(dsn: str) -> dict[str, dict[str, Any]]:
    """The stored state of one real User.Created, KeyIssued, Agent.Created, AgentName.Created and
    User.Owned, saved by the application itself."""
    store = MemGPT(env=eventsourcing_env(dsn))
    app = CommandGroups.on(store)
    user_id, _ = app.accounts.create_user(None, "laptop")
    app.agents.create_agent(user_id, "Template", "memgpt_chat", "sam_pov", "basic", {}, {})
    store.close()
    found: dict[str, dict[str, Any]] = {}
    with psycopg.connect(dsn) as conn:
        for topic, state in conn.execute("SELECT topic, state FROM memgpt_events ORDER BY notification_id"):
            found[topic] = json.loads(bytes(state))
    return found


def fill(dsn: str, total: int) -> dict[str, Any]:
    """The log, `total` events long; returns what the timed queries look for."""
    rng = random.Random(13)
    shapes = templates(dsn)
    filler = Filler(rng)
    users = [uuid4() for _ in range(USERS)]
    keys = {u: uuid4() for u in users}
    agents = [(uuid4(), users[i % USERS]) for i in range(AGENTS)]
    memory: dict[UUID, int] = {}
    requests: list[str] = []
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        filler.start(conn)
        for user in users:
            filler.add(user, "memgpt.User.Created", {"originator_topic": "memgpt.User"}, user, None, None, None)
            key = shapes["memgpt.User.KeyIssued"] | {"key_id": _id(keys[user])}
            filler.add(user, "memgpt.User.KeyIssued", key, user, None, None, None)
        for agent, user in agents:
            cause = {"request_id": uuid4().hex, "user_id": str(user), "key_id": str(keys[user]), "key_name": "laptop"}
            created = shapes["memgpt.Agent.Created"] | {"user_id": _id(user), "caused_by": cause}
            memory[agent] = filler.add(agent, "memgpt.Agent.Created", created, user, agent, None, cause)
            claim = shapes["memgpt.AgentName.Created"] | {"agent_id": _id(agent), "caused_by": cause}
            filler.add(uuid4(), "memgpt.AgentName.Created", claim, user, agent, None, cause)
            owned = {"kind": "agent", "item_id": _id(agent), "caused_by": cause}
            filler.add(user, "memgpt.User.Owned", owned, user, agent, None, cause)
        filler.flush(conn)
        hot = agents[0]
        while filler.position < total:
            agent, user = hot if rng.random() < 0.1 else rng.choice(agents)
            turn = uuid4()
            said = " ".join(rng.choices(WORDS, k=rng.randint(4, 20)))
            cause = {
                "request_id": uuid4().hex,
                "client_request_id": f"client-{rng.randint(1, 10**9)}",
                "user_id": str(user),
                "key_id": str(keys[user]),
                "key_name": "laptop",
            }
            requests.append(cause["request_id"])
            moment = filler.clock
            packed = json.dumps({"type": "user_message", "message": said, "time": moment.isoformat()})
            queued = {"turn_id": _id(turn), "role": "user", "text": said, "caused_by": cause}
            filler.add(agent, "memgpt.Agent.TurnQueued", queued, user, agent, turn, cause)
            started_ = {"turn_id": _id(turn), "message": _message("user", packed, moment)}
            filler.add(agent, "memgpt.Agent.TurnStarted", started_, user, agent, turn, cause)
            call = {"id": f"call_{rng.randint(1, 10**12)}", "name": "send_message"}
            call["arguments"] = json.dumps({"message": f"echo: {said}"})
            spoke = {"turn_id": _id(turn), "message": _message("assistant", "The user said something.", moment)}
            spoke["message"]["_data_"]["tool_call"] = call
            filler.add(agent, "memgpt.Agent.AssistantSpoke", spoke, user, agent, turn, cause)
            result = json.dumps({"status": "OK", "message": "None", "time": moment.isoformat()})
            returned = {
                "turn_id": _id(turn),
                "message": _message("function", result, moment, name="send_message", tool_call_id=call["id"]),
                "status": "success",
                "shown": f"echo: {said}",
            }
            filler.add(agent, "memgpt.Agent.FunctionReturned", returned, user, agent, turn, cause)
            if rng.random() < 0.05:  # a function edits core memory, without a cause of its own
                edit = {"core_memory": {"persona": "I am a harbour librarian.", "human": f"Likes {said[:60]}."}}
                memory[agent] = filler.add(
                    agent, "memgpt.Agent.CoreMemoryReplaced", edit, user, agent, turn, cause, memory[agent]
                )
            filler.add(agent, "memgpt.Agent.TurnCompleted", {"turn_id": _id(turn)}, user, agent, turn, cause)
            if len(filler.events) >= 20_000:
                filler.flush(conn)
                print(f"  {filler.position} events, {time.perf_counter() - started:.0f} s", flush=True)
        filler.flush(conn)
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('memgpt_events', 'notification_id'), %s)", (filler.position,)
        )
        conn.execute(
            "INSERT INTO view_event_index_tracking VALUES ('memgpt', %s)"
            " ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id",
            (filler.position,),
        )
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE memgpt_events")
        conn.execute("VACUUM ANALYZE view_event_index")
    print(f"filled {filler.position} events in {time.perf_counter() - started:.0f} s", flush=True)
    return {
        "head": filler.position,
        "hot": hot[0],
        "quiet": agents[-1][0],
        "user": hot[1],
        "other_user": users[len(users) // 2],
        "request": requests[len(requests) // 2],
        "middle": datetime(2026, 10, 1, tzinfo=UTC) + (filler.clock - datetime(2026, 10, 1, tzinfo=UTC)) / 2,
    }


async def timed(read: Callable[[], Awaitable[int]], times: int = 100) -> tuple[list[float], int]:
    await read()  # warm: plans cached, pages in shared buffers as they would be on a live server
    took: list[float] = []
    count = 0
    for _ in range(times):
        t = time.perf_counter()
        count = await read()
        took.append((time.perf_counter() - t) * 1000)
    return took, count


async def measure(dsn: str, at: dict[str, Any]) -> list[dict[str, object]]:
    store = MemGPT(env=eventsourcing_env(dsn))
    endpoints = Endpoints((), False, False, Sealer(None, Path(tempfile.mkdtemp(prefix="memgpt-bench-"))))
    head = at["head"]
    cases: list[tuple[str, EventFilter, int, int, bool]] = [
        ("agent page, long-lived agent, first 100", EventFilter(agent_id=at["hot"], user_id=at["user"]), 0, 100, False),
        (
            "agent page, long-lived agent, mid-log 100",
            EventFilter(agent_id=at["hot"], user_id=at["user"]),
            head // 2,
            100,
            False,
        ),
        (
            "agent page, long-lived agent, 1000",
            EventFilter(agent_id=at["hot"], user_id=at["user"]),
            head // 2,
            1000,
            False,
        ),
        ("agent page, a quiet agent, first 100", EventFilter(agent_id=at["quiet"]), 0, 100, False),
        (
            "agent page, type=Agent.CoreMemoryReplaced",
            EventFilter(agent_id=at["hot"], types=("Agent.CoreMemoryReplaced",)),
            0,
            100,
            False,
        ),
        ("user page (/api/events), mid-log 100", EventFilter(user_id=at["other_user"]), head // 2, 100, False),
        ("user page, since mid-log time", EventFilter(user_id=at["other_user"], since=at["middle"]), 0, 100, False),
        ("admin page, unfiltered, mid-log 100", EventFilter(), head // 2, 100, True),
        ("admin page, request_id", EventFilter(request_id=at["request"]), 0, 100, True),
        (
            "admin page, user_id + type=Agent.TurnQueued",
            EventFilter(user_id=at["other_user"], types=("Agent.TurnQueued",)),
            0,
            100,
            True,
        ),
        (
            "admin page, type=Agent.CoreMemoryReplaced, mid-log",
            EventFilter(types=("Agent.CoreMemoryReplaced",)),
            head // 2,
            100,
            True,
        ),
    ]
    results = []
    async with AsyncConnectionPool(dsn, min_size=2, max_size=4, kwargs={"autocommit": True}) as pool:
        history = EventHistory(pool, store.mapper)
        for name, where, after, limit, admin in cases:

            async def read(
                where: EventFilter = where, after: int = after, limit: int = limit, admin: bool = admin
            ) -> int:
                page = await history.page(where, after, limit)
                models = await history.models({r.agent_id for r in page if r.agent_id is not None})
                shaper = Shaper(endpoints, admin, models)
                body = orjson.dumps(msgspec.to_builtins([shaper.item(r) for r in page]))
                return len(page) if body else 0

            took, count = await timed(read)
            results.append(
                {
                    "page": name,
                    "events": count,
                    "ms p50": f"{statistics.median(took):.1f}",
                    "ms p95": f"{pct(took, 0.95):.1f}",
                    "ms p99": f"{pct(took, 0.99):.1f}",
                }
            )
            print(results[-1], flush=True)
    store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--pg-uri")
    parser.add_argument("--keep", metavar="FILE", help="keep the database running; write its DSN and targets here")
    parser.add_argument("--again", metavar="FILE", help="only time the pages again, on a database kept with --keep")
    args = parser.parse_args()
    if args.again:
        kept = json.loads(Path(args.again).read_text())
        at = {k: UUID(v) if k in _IDS else v for k, v in kept["at"].items()}
        at["middle"] = datetime.fromisoformat(kept["at"]["middle"])
        results = asyncio.run(measure(kept["dsn"], at))
    else:
        database = Database(args.pg_uri, Path(tempfile.mkdtemp(prefix="memgpt-bench-")))
        try:
            dsn = fresh_database(database.start())
            migrations.apply(dsn)
            at = fill(dsn, args.events)
            if args.keep:
                Path(args.keep).write_text(json.dumps({"dsn": dsn, "at": at}, default=str))
            results = asyncio.run(measure(dsn, at))
        finally:
            if not args.keep:
                database.stop()
    print_table(results)


if __name__ == "__main__":
    main()
