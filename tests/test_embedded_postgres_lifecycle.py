"""The embedded PostgreSQL lives and dies with the servers that use it: a normal stop stops it,
the start after a kill -9 adopts it and stops it on exit, and a failed start stops what it started."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

from tests.support import MEMGPT, PASSWORD, Server


def _postgres_of(pgdata: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            if p.info["name"] == "postgres" and str(pgdata) in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _gone(pgdata: Path, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _postgres_of(pgdata):
            return True
        time.sleep(0.2)
    return False


def test_kill_9_then_start_then_sigterm_leaves_no_postgres(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pgdata = home / "pgdata"
    first = Server(home, None).start(timeout=120)
    try:
        assert _postgres_of(pgdata)
        first.stop(signal.SIGKILL)
        time.sleep(1)
        assert _postgres_of(pgdata)  # kill -9: nobody stopped it
        second = Server(home, None).start(timeout=120)
        with second.client() as admin:  # the adopted postgres serves
            assert admin.post("/admin/users", json={}).status_code == 200
        assert second.stop()
        assert _gone(pgdata), [p.cmdline() for p in _postgres_of(pgdata)]
    finally:
        for p in _postgres_of(pgdata):
            p.kill()


def test_a_server_that_cannot_bind_its_port_stops_its_postgres(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pgdata = home / "pgdata"
    home.mkdir()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMGPT_")}
    env |= {"MEMGPT_HOME": str(home), "MEMGPT_SERVER_PASS": PASSWORD}
    try:
        done = subprocess.run(
            [MEMGPT, "server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode != 0
        assert pgdata.exists()  # it did start its postgres before trying the port
        assert _gone(pgdata), [p.cmdline() for p in _postgres_of(pgdata)]
    finally:
        taken.close()
        for p in _postgres_of(pgdata):
            p.kill()
