"""Runs the views: one loop for all of them, in whichever process holds their lock.

Every server and worker process starts a `ProjectionHost`; a PostgreSQL advisory lock makes sure
exactly one of them writes the views (a second writer would die on the tracking-row conflicts).
When the holder exits, its lock goes with its connection and another process takes over on its
next try. The holder reads the log in batches after the views' position and applies each batch
to every view in one transaction (`projections.base.ViewWriter`), then waits for the log's next
notification. One loop, not eventsourcing's runner per view: those cost a notification pull and a
commit per view per event, a third of a turn's CPU, and fell behind with 16 agents at work
(issue 14's profile).
"""

import threading
import zlib
from collections.abc import Callable
from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import InterfaceError, Mapper, OperationalError, PersistenceError, StoredEvent
from psycopg import sql

from projections import agents, assistants, catalogue, events, keys, messages, passages, sources, turns, users
from projections.base import SET_ASIDE, View, ViewStore, ViewWriter, tracking_table
from projections.log_reads import BATCH
from projections.log_reads import after as events_after

log = structlog.get_logger(__name__)

VIEWS: tuple[View, ...] = tuple(
    module.view for module in (users, keys, agents, messages, passages, catalogue, assistants, sources, turns, events)
)
VIEW_NAMES = tuple(view.name for view in VIEWS)

# A database error (psycopg's own, or the library's wrapping of it) ends this round of the host:
# the next round takes the lock and starts again from the views' tracking positions, so nothing is
# applied twice or skipped. A lost database is expected (a warning); any other database error is
# logged with its traceback.
_DATABASE_ERRORS = (psycopg.Error, PersistenceError)
_DATABASE_AWAY = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)

EVENTS_CHANNEL = "memgpt_events"  # where the event store announces new events
_LOCK_KEY = zlib.crc32(b"memgpt.projection.views")
# The views' commits do not wait for their WAL to reach the disk: a quarter of a millisecond a
# commit here, inside every non-streamed reply's wait for the views. A database crash can lose the
# last of them, but only with their tracking rows, so the views apply those events again from the
# log (whose saves are always flushed); the watch forgets the positions it heard of when it loses
# the database, and re-reads them when it is back (`projections.watch`).
_NOT_FLUSHED = "SET synchronous_commit = off"
# An event whose notification was missed (the database restarting between its commit and its
# notification, say) is read on the next tick at the latest.
_TICK_SECONDS = 1.0


def catch_up(conn: psycopg.Connection[Any], mapper: Mapper[Any], writer: ViewWriter) -> int:
    """Apply to the views what the log holds after their position; returns the position reached."""
    while True:
        rows = events_after(conn, writer.position)  # applied in one transaction
        writer.apply([(mapper.to_domain_event(StoredEvent(r[1], r[2], r[3], bytes(r[4]))), r[0]) for r in rows])
        if len(rows) < BATCH:
            return writer.position


class ProjectionHost:
    """Keeps this process's bid for the views alive until `stop()`, and runs them while it holds them."""

    def __init__(
        self, dsn: str, mapper: Mapper[Any], retry_seconds: float = 2.0, on_held: Callable[[], None] | None = None
    ) -> None:
        self._dsn = dsn
        self._mapper = mapper
        self._retry = retry_seconds
        self._on_held = on_held  # told each time this host takes the views' lock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="projection-host", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._hold_and_run()
            except _DATABASE_AWAY as e:  # the database went away: start over when it is back
                log.warning("projection.host_disconnected", error=type(e).__name__, retry_in=self._retry)
            except _DATABASE_ERRORS:  # never let the host thread die: report it, start over
                log.exception("projection.host_failed", retry_in=self._retry)
            self._stopping.wait(self._retry)

    def _hold_and_run(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            while not _try_lock(conn):
                if self._stopping.wait(self._retry):
                    return
                conn.execute("SELECT 1")  # notices a lost connection
            conn.execute(_NOT_FLUSHED)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_CHANNEL)))
            writer = ViewWriter(ViewStore(conn, VIEWS))
            log.info("projection.started", views=len(VIEWS), position=writer.position)
            if self._on_held is not None:
                self._on_held()
            while not self._stopping.is_set():
                catch_up(conn, self._mapper, writer)
                for _ in conn.notifies(timeout=_TICK_SECONDS, stop_after=1):
                    pass  # woken by a new event, or by the tick
                for _ in conn.notifies(timeout=0, stop_after=BATCH):
                    pass  # the notifications of events the next read takes anyway


def _try_lock(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
    return bool(row and row[0])


class ProjectionsBusy(RuntimeError):
    """A running server or worker holds the views; a rebuild would race with it."""


def rebuild(dsn: str, mapper: Mapper[Any]) -> dict[str, int]:
    """Empty every view and replay the whole log into it; returns the position each reached.
    Set-aside events are replayed with the rest (after a fix, they apply; else they are set aside again)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not _try_lock(conn):
            raise ProjectionsBusy("A server or worker is running the projections: stop it before rebuilding.")
        with conn.transaction():
            for view in VIEWS:
                for table in view.tables:
                    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
                tracking = tracking_table(view.name)
                conn.execute(sql.SQL("DELETE FROM {} WHERE application_name <> '__migration__'").format(tracking))
            # replayed below: what still fails is set aside again
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(SET_ASIDE)))
        reached = catch_up(conn, mapper, ViewWriter(ViewStore(conn, VIEWS)))
    return dict.fromkeys(VIEW_NAMES, reached)
