"""Where one non-streamed turn's time goes, stage by stage (issue 14's breakdown).

    python ops/bench/turn_stages.py [--turns 100] [--agents 1] [--pg-uri DSN]

The whole server in one process (`bootstrap` + the Falcon app driven by falcon.testing; real
PostgreSQL, the real turn runner, log tail and views; a model that answers at once). The turn
commands, the model and the wait for the views are wrapped in timers, so each turn splits into:
queueing (the message's save), pick-up (from that commit to the runner starting the turn: log
tail, lease), start (loading the agent and saving TurnStarted), model, step save, end save (0 where
the last step saved the turn's end), reply read (from the end's commit until the request saw it on the tail), view wait, and the rest of
the request. With --agents N, N clients each send turns to their own agent at once. Run it under
`py-spy record --threads --idle -- python ops/bench/turn_stages.py` for the profile.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import fresh_database, print_table  # type: ignore[import-not-found]  # beside this script
from falcon import testing
from time_travel import InstantModel  # type: ignore[import-not-found]  # beside this script

from api.app import create_app
from runtime.bootstrap import bootstrap
from runtime.config import Config
from runtime.database import Database

PASSWORD = "bench-password"
AUTH = {"Authorization": f"Bearer {PASSWORD}"}

Stamps = dict[str, float]


class Timed:
    """A proxy recording when each wrapped method of `target` started and returned, per agent."""

    def __init__(self, target: Any, stamps: dict[str, Stamps], names: tuple[str, ...]) -> None:
        self._target = target
        self._stamps = stamps
        self._names = names

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._target, name)
        if name not in self._names:
            return method

        def timed(*args: Any) -> Any:
            agent = str(next(a for a in args if hasattr(a, "hex") and str(a) in self._stamps))
            stamps = self._stamps[agent]
            started = time.perf_counter()
            result = method(*args)
            if f"{name}<" not in stamps:  # the first call of a turn (the runner asks for more after it)
                stamps[f"{name}<"], stamps[f"{name}>"] = started, time.perf_counter()
            return result

        return timed


def stages(s: Stamps) -> dict[str, float]:
    ended = s.get("end_turn>", s["record_step>"])  # a turn's last step saves its end too
    if "queue_and_open_turn<" in s:  # handed to the drive waiting for it: queued and opened in one save
        queued, opened = s["queue_and_open_turn<"], s["queue_and_open_turn>"]
        picked = {"queue save": opened - queued, "pick-up": s["model<"] - opened, "start (load + save)": 0.0}
    else:
        picked = {
            "queue save": s["queue_turn>"] - s["queue_turn<"],
            "pick-up": s["start_next_turn<"] - s["queue_turn>"],
            "start (load + save)": s["start_next_turn>"] - s["start_next_turn<"],
        }
    return {
        **picked,
        "model": s["model>"] - s["model<"],
        "step save": s["record_step>"] - s["record_step<"],
        "end save": s["end_turn>"] - s["end_turn<"] if "end_turn<" in s else 0.0,
        "reply read (tail)": s["wait<"] - ended,
        "view wait": s["wait>"] - s["wait<"],
        "whole request": s["request>"] - s["request<"],
    }


async def run(dsn: str, home: Path, turns: int, agents: int, threads: int | None) -> list[dict[str, Any]]:
    if threads:  # the commands' worker threads (asyncio's default: the CPUs + 4)
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(threads))
    cfg = Config.from_env({"MEMGPT_PG_URI": dsn, "MEMGPT_HOME": str(home), "MEMGPT_SERVER_PASS": PASSWORD})
    model = InstantModel()
    services = bootstrap(cfg, models=model)
    current: dict[str, Stamps] = {}
    names = ("queue_turn", "queue_and_open_turn", "start_next_turn", "record_step", "end_turn")
    timed = Timed(services.commands.turns, current, names)
    services.commands = replace(services.commands, turns=timed)
    assert services.turns is not None
    services.turns._turns = timed  # type: ignore[assignment]  # the bench's own wiring
    complete, wait_for = model.complete, services.watch.wait_for
    asking: ContextVar[str] = ContextVar("asking", default="")  # the agent a request asks

    async def timed_complete(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
        task = asyncio.current_task()
        agent = task.get_name().removeprefix("turns-") if task else ""  # the runner names its drives so
        current[agent]["model<"] = time.perf_counter()
        reply = await complete(messages, tools)
        current[agent]["model>"] = time.perf_counter()
        return reply

    async def timed_wait(position: int, timeout: float) -> bool:
        agent = asking.get()
        if agent:
            current[agent]["wait<"] = time.perf_counter()
        done = await wait_for(position, timeout)
        if agent:
            current[agent]["wait>"] = time.perf_counter()
        return done

    model.complete = timed_complete  # type: ignore[method-assign]
    services.watch.wait_for = timed_wait  # type: ignore[method-assign]
    per_stage: dict[str, list[float]] = defaultdict(list)
    async with testing.ASGIConductor(create_app(cfg, services)) as c:
        ids = []
        for i in range(agents):
            r = await c.post("/api/agents", json={"config": {"name": f"bench-{i}"}}, headers=AUTH)
            ids.append(r.json["agent_state"]["id"])

        async def client(agent: str) -> None:
            for n in range(turns):
                current[agent] = {"request<": time.perf_counter()}
                asking.set(agent)
                body = {"agent_id": agent, "message": f"Turn {n}.", "stream": False}
                r = await c.post("/api/agents/message", json=body, headers=AUTH)
                assert r.status_code == 200, r.text
                current[agent]["request>"] = time.perf_counter()
                while "record_step>" not in current[agent]:  # the reply can come before the save returns
                    await asyncio.sleep(0.001)
                if n >= 3:  # the first turns warm caches and connections
                    for name, took in stages(current[agent]).items():
                        per_stage[name].append(took * 1000)

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client(a) for a in ids))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    rows = [
        {"stage": name, "median ms": round(statistics.median(v), 2), "mean ms": round(statistics.fmean(v), 2)}
        for name, v in per_stage.items()
    ]
    rows.append({"stage": "turns/s", "median ms": round(agents * turns / elapsed, 1), "mean ms": ""})
    rows.append({"stage": "server CPU per turn", "median ms": "", "mean ms": round(cpu * 1000 / (agents * turns), 2)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--agents", type=int, default=1)
    parser.add_argument("--pg-uri", default=None)
    parser.add_argument("--threads", type=int, default=None, help="worker threads for commands")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="memgpt-bench-"))
    database = Database(args.pg_uri, home / "db")
    try:
        dsn = fresh_database(database.start())
        rows = asyncio.run(run(dsn, home, args.turns, args.agents, args.threads))
    finally:
        database.stop()
    print_table(rows)


if __name__ == "__main__":
    main()
