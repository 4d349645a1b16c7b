"""Where a turn's CPU goes, by process: this server under a closed loop of turns.

    python ops/bench/cpu_per_turn.py [--agents 16] [--seconds 10] [--workers 0] [--spy FILE]

Starts the scripted model (`scripted_model.py`), an embedded PostgreSQL and `memgpt server` from
this checkout (as `turns.py` does), makes --agents agents and gives each a turn, then runs one
closed loop per agent for --seconds and prints turns/s and each process's CPU time per turn (the
server, each `memgpt worker`, PostgreSQL with its backends, the model, this client), read from
`/proc` before and after. With --workers N the server runs no turns (`MEMGPT_RUN_TURNS=0`) and N
`memgpt worker` processes do. With --spy FILE, `py-spy record --gil` samples the server meanwhile
(raw folded stacks: whichever thread holds the GIL). Also prints how many turns a waiting drive
was handed (opened in the save that queued them) out of all. One run is noisy on a shared
machine (±10 %): compare runs interleaved.
"""

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg
import turns as bench  # type: ignore[import-not-found]  # beside this script


def cpu_seconds(pid: int, children: bool = True) -> float:
    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *(root.children(recursive=True) if children else [])]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def handed_over(dsn: str) -> tuple[int, int]:
    """Turns opened by the request that queued them (their TurnStarted carries its cause) / all."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE convert_from(state, 'UTF8') LIKE '%caused_by%'), count(*)"
            " FROM memgpt_events WHERE topic = 'memgpt.Agent.TurnStarted'"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


async def run(args: argparse.Namespace, home: Path) -> None:
    model, model_url = bench.start_model(home)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with bench.database(None, home) as (dsn, pgdata):
            assert pgdata is not None
            server = bench.ThisServer(home / "this", dsn, model_url)
            base_env = server.env
            if args.workers:
                server.env = lambda: base_env() | {"MEMGPT_RUN_TURNS": "0"}  # type: ignore[method-assign]
            server.start()
            for i in range(args.workers):
                log = (home / f"worker{i}.log").open("wb")
                cmd = [sys.executable, "-m", "api.cli.main", "worker"]
                workers.append(subprocess.Popen(cmd, cwd=server.home, env=base_env(), stdout=log, stderr=log))
            time.sleep(8 if workers else 0)  # the workers' start
            postgres = int((pgdata / "postmaster.pid").read_text().split()[0])
            assert server.proc is not None
            processes = {"server": server.proc.pid, **{f"worker {i}": w.pid for i, w in enumerate(workers)}}
            views = [
                c.pid for c in psutil.Process(server.proc.pid).children() if "views_process" in " ".join(c.cmdline())
            ]
            processes |= {"  of which its views' process": views[0]} if views else {}
            processes |= {"PostgreSQL": postgres, "model": model.pid}
            async with bench.client(server.url, await bench.new_user_key(server.url, bench.PASSWORD)) as c:
                agents = [(await bench.create_agent(c, f"Cpu{i}"))[1] for i in range(args.agents)]
                await bench.gather_limited([lambda a=a: bench.turn(c, a) for a in agents], 8)
                await bench.throughput(c, agents, 3.0)  # warm
                spy = None
                if args.spy:
                    py_spy = shutil.which("py-spy") or "py-spy"
                    cmd = [py_spy, "record", "--gil", "--threads", "-r", "100", "-f", "raw", "-o", args.spy]
                    cmd += ["-d", str(int(args.seconds)), "-p", str(server.proc.pid)]
                    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1)
                before = {k: cpu_seconds(p) for k, p in processes.items()} | {"client": cpu_seconds(os.getpid(), False)}
                window = await bench.throughput(c, agents, args.seconds)
                after = {k: cpu_seconds(p) for k, p in processes.items()} | {"client": cpu_seconds(os.getpid(), False)}
                if spy:
                    spy.wait()
            done = max(window.done, 1)
            print(f"{window.done / args.seconds:.1f} turns/s with {args.agents} agents, {window.failed} failed")
            for name in after:
                used = after[name] - before[name]
                print(f"  {name}: {1000 * used / done:.2f} ms CPU a turn ({100 * used / args.seconds:.0f} % of a core)")
            handed, started = handed_over(dsn)
            print(f"  turns handed to a waiting drive: {handed} of {started}")
            server.stop()
    finally:
        for proc in [*workers, model]:
            bench.stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=0, help="turns in this many `memgpt worker`s")
    parser.add_argument("--spy", help="py-spy's raw samples of the server to this file")
    asyncio.run(run(parser.parse_args(), Path(tempfile.mkdtemp(prefix="memgpt-bench-cpu-"))))


if __name__ == "__main__":
    main()
