"""Test helpers: a PostgreSQL to test against, `memgpt server` run as a real process, and what a
client does with it (create agents, send messages, read SSE), shared by the black-box tests."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

if TYPE_CHECKING:
    from tests.fake_llm import FakeLLM

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


# Talking to a server as a client would (shared by the black-box tests).

OPERATOR_KEY = "sk-test-secret"
TENANT_KEY = "sk-tenant-own-key-7f3a9c"


def create_agent(client: httpx.Client, **config: Any) -> str:
    r = client.post("/api/agents", json={"config": config})
    assert r.status_code == 200, r.text
    return r.json()["agent_state"]["id"]


def say(client: httpx.Client, agent_id: str, text: str, **extra: Any) -> list[dict[str, str]]:
    r = client.post(
        "/api/agents/message", json={"agent_id": agent_id, "message": text, "stream": False, "role": "user", **extra}
    )
    assert r.status_code == 200, r.text
    return r.json()["messages"]


def kinds(messages: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [next((k, v) for k, v in m.items() if k not in ("date", "status")) for m in messages]


def sse_events(response: httpx.Response) -> list[tuple[str | None, dict[str, str]]]:
    """(id, data) per event of a text/event-stream body."""
    events, current_id = [], None
    for block in response.text.split("\n\n"):
        data = None
        for line in block.splitlines():
            if line.startswith("id: "):
                current_id = line[4:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if data is not None:
            events.append((current_id, data))
    return events


def tenant_env(llm: "FakeLLM", **extra: str) -> dict[str, str]:
    return {
        "MEMGPT_MODEL_ENDPOINT_TYPE": "openai",
        "MEMGPT_MODEL_ENDPOINT": llm.url,
        "MEMGPT_MODEL": "gpt-4",
        "MEMGPT_LLM_BACKOFF": "0.01",
        "MEMGPT_LLM_ATTEMPTS": "2",
        "OPENAI_API_KEY": OPERATOR_KEY,
    } | extra


def start_ready(admin_dsn: str, home: Path, env: dict[str, str], dsn: str | None = None) -> Server:
    """A server whose views run (a fresh one may answer before they catch up with the log)."""
    server = Server(home, dsn or fresh_database(admin_dsn), env=env).start()
    with server.client(None) as c:
        assert waits_for(lambda: c.get("/ready").status_code == 200, 60.0)
    return server


def new_user(server: Server) -> httpx.Client:
    with server.client() as admin:
        key = admin.post("/admin/users", json={}).json()["api_key"]
    return server.client(key)


def create_agent_raw(c: httpx.Client, **config: Any) -> httpx.Response:
    return c.post("/api/agents", json={"config": config})


def own_llm(tenant: "FakeLLM", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4", "model_endpoint_type": "openai", "model_endpoint": tenant.url} | extra


def own_embedding(tenant: "FakeLLM", **extra: Any) -> dict[str, Any]:
    return {
        "embedding_endpoint_type": "openai",
        "embedding_endpoint": tenant.url,
        "embedding_model": "tenant-embed",
        "embedding_dim": 8,
    } | extra


def waits_for(predicate: Any, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
