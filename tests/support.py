"""Test helpers: a PostgreSQL to test against, and `memgpt server` run as a real process."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

PASSWORD = "ilovellms"
MEMGPT = str(Path(sys.executable).with_name("memgpt"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(admin_dsn: str) -> str:
    """A new, empty database on the test server; returns its DSN."""
    name = f"memgpt_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(admin_dsn, dbname=name)


def event_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM memgpt_events").fetchone()
        return row[0] if row else 0


class Server:
    """`memgpt server` in a child process, bound to a free loopback port."""

    def __init__(
        self, home: Path, dsn: str | None, env: Mapping[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.home = home
        self.dsn = dsn
        self.port = free_port()
        self.extra_env = dict(env or {})
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.log = home / f"server-{self.port}.log"
        self.scheme = "https" if "--use-ssl" in args else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "Server":
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMGPT_")}
        env |= {"MEMGPT_HOME": str(self.home), "MEMGPT_SERVER_PASS": PASSWORD} | self.extra_env
        if self.dsn:
            env["MEMGPT_PG_URI"] = self.dsn
        self.home.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [MEMGPT, "server", "--host", "127.0.0.1", "--port", str(self.port), *self.args],
            cwd=self.home,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                httpx.get(self.url + "/api/presets", verify=False, timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> bool:
        """Signal the server; True if it shut down gracefully (uvicorn re-raises the signal
        after its shutdown, so the exit status alone cannot tell)."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return False
        return "Application shutdown complete." in self.output()

    def client(self, token: str | None = PASSWORD) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, verify=False)


def dbname(dsn: str) -> Any:
    return conninfo_to_dict(dsn).get("dbname")


def pdf_file(objects: list[bytes]) -> bytes:
    """A minimal PDF of the given numbered objects (1 is the catalog), with its cross-reference table."""
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


def scripted_model_env(url: str) -> dict[str, str]:
    """Settings that make the scripted model on `url` the operator's default provider."""
    return {
        "MEMGPT_MODEL_ENDPOINT_TYPE": "openai",
        "MEMGPT_MODEL_ENDPOINT": url,
        "MEMGPT_MODEL": "gpt-4",
        "MEMGPT_CONTEXT_WINDOW": "8192",
        "MEMGPT_LLM_BACKOFF": "0.01",
    }
