"""Turns across processes: a separate `memgpt worker`, and a server killed with SIGKILL."""

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from tests.fake_llm import FakeLLM
from tests.support import MEMGPT, PASSWORD, Server, create_agent, fresh_database, kinds, say


def _env(llm: FakeLLM) -> dict[str, str]:
    return {
        "MEMGPT_MODEL_ENDPOINT_TYPE": "openai",
        "MEMGPT_MODEL_ENDPOINT": llm.url,
        "MEMGPT_MODEL": "gpt-4",
        "MEMGPT_LLM_BACKOFF": "0.01",
    }


def test_a_worker_process_runs_the_turns_of_a_server_that_does_not(
    admin_dsn: str, fresh_llm: FakeLLM, tmp_path: Path
) -> None:
    dsn = fresh_database(admin_dsn)
    server = Server(tmp_path, dsn, env=_env(fresh_llm) | {"MEMGPT_RUN_TURNS": "0"}).start()
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("MEMGPT_")} | _env(fresh_llm) | {"MEMGPT_PG_URI": dsn}
    )
    worker = subprocess.Popen([MEMGPT, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with server.client() as c:
            aid = create_agent(c, name="Delegated")
            assert ("assistant_message", "echo: via worker") in kinds(say(c, aid, "via worker"))
    finally:
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=30)
        server.stop()
    assert worker.returncode == 0, out
    assert "Worker running turns and projections" in out


def test_sigkill_under_load_loses_nothing_acknowledged(admin_dsn: str, fresh_llm: FakeLLM, tmp_path: Path) -> None:
    dsn = fresh_database(admin_dsn)
    server = Server(tmp_path, dsn, env=_env(fresh_llm)).start()
    with server.client() as c:
        agents = [create_agent(c, name=f"Load{i}") for i in range(3)]
    fresh_llm.delay = 0.2
    acknowledged: list[tuple[str, str]] = []
    edits: list[tuple[str, str]] = []
    stop = threading.Event()

    def chatter(aid: str) -> None:
        n = 0
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {PASSWORD}"}, timeout=30) as c:
            while not stop.is_set():
                n += 1
                text = f"{aid[:8]} message {n}"
                try:
                    r = c.post("/api/agents/message", json={"agent_id": aid, "message": text})
                    if r.status_code == 200 and any(
                        m.get("assistant_message") == f"echo: {text}" for m in r.json()["messages"]
                    ):
                        acknowledged.append((aid, text))
                    r = c.post(f"/api/agents/{aid}/memory", json={"human": f"edit {n}"})
                    if r.status_code == 200:
                        edits.append((aid, f"edit {n}"))
                except httpx.HTTPError:
                    return

    threads = [threading.Thread(target=chatter, args=(aid,)) for aid in agents]
    for t in threads:
        t.start()
    time.sleep(2.0)
    while fresh_llm.in_flight == 0:  # kill mid-turn: while the model is answering
        time.sleep(0.005)
    server.stop(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    assert acknowledged, "nothing was acknowledged before the kill"

    fresh_llm.delay = 0
    server = Server(tmp_path, dsn, env=_env(fresh_llm)).start()
    try:
        with server.client() as c:
            for aid in agents:
                history = c.get(f"/api/agents/{aid}/messages", params={"count": 1000}).text
                for owner, text in acknowledged:
                    if owner == aid:
                        assert text in history and f"echo: {text}" in history
                last_edit = [e for owner, e in edits if owner == aid][-1:]
                if last_edit:
                    human = c.get(f"/api/agents/{aid}/memory").json()["core_memory"]["human"]
                    assert human.startswith("edit ") and int(human.split()[1]) >= int(last_edit[0].split()[1])
                assert ("assistant_message", "echo: after the crash") in kinds(say(c, aid, "after the crash"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with psycopg.connect(dsn) as conn:
                busy = conn.execute("SELECT count(*) FROM view_agents WHERE queued_turns > 0 OR turn_open").fetchone()[
                    0
                ]
            if busy == 0:
                break
            time.sleep(0.2)
        assert busy == 0  # interrupted turns were closed and queued ones answered
        with psycopg.connect(dsn) as conn:
            closed = conn.execute(
                "SELECT count(*) FROM memgpt_events WHERE topic = 'memgpt.Agent.TurnFailed'"
                " AND convert_from(state, 'UTF8') LIKE '%%server stopped%%'"
            ).fetchone()[0]
        assert closed >= 1
    finally:
        server.stop()


def _views_children(server: Server) -> list[psutil.Process]:
    assert server.proc is not None
    children = psutil.Process(server.proc.pid).children()
    return [p for p in children if "runtime.views_process" in " ".join(p.cmdline())]


def _edit_shows(c: httpx.Client, aid: str, human: str) -> bool:
    """A memory edit answered without X-Views-Lag, and read back at once."""
    r = c.post(f"/api/agents/{aid}/memory", json={"human": human})
    return (
        r.status_code == 200
        and "X-Views-Lag" not in r.headers
        and c.get(f"/api/agents/{aid}/memory").json()["core_memory"]["human"] == human
    )


def _logged(server: Server, event: str) -> dict[str, Any]:
    """The server's first JSON log line of `event`."""
    for line in server.output().splitlines():
        if line.startswith("{") and (entry := json.loads(line)).get("event") == event:
            return entry  # type: ignore[no-any-return]
    raise AssertionError(f"no {event} in the server's log")


def test_the_views_run_in_a_child_that_dies_with_the_server_and_that_the_server_outlives(
    admin_dsn: str, fresh_llm: FakeLLM, tmp_path: Path
) -> None:
    """The views' own process applies every write. The server killed with SIGKILL takes the child
    with it, so no orphan keeps the views' lock from the next server. That server's child killed,
    its standby thread takes the views over and writes still show at once."""
    dsn = fresh_database(admin_dsn)
    first = Server(tmp_path / "first", dsn, env=_env(fresh_llm)).start()
    try:
        [child] = _views_children(first)
        with first.client() as c:
            aid = create_agent(c, name="Viewed")
            assert ("assistant_message", "echo: one") in kinds(say(c, aid, "one"))
            assert _edit_shows(c, aid, "first")
    finally:
        first.stop(signal.SIGKILL)
    child.wait(10)  # psutil.TimeoutExpired if it outlived its server
    second = Server(tmp_path / "second", dsn, env=_env(fresh_llm)).start()
    try:
        [child] = _views_children(second)
        assert _logged(second, "projection.process_started")["held"]  # the child, not the thread, took the views
        with second.client() as c:
            assert _edit_shows(c, aid, "second")
            child.kill()
            child.wait(10)
            assert _edit_shows(c, aid, "after the views' process died")
            assert ("assistant_message", "echo: two") in kinds(say(c, aid, "two"))
    finally:
        second.stop()
