"""Runs the views: one ProjectionRunner for all of them, in whichever process holds their lock.

Every server and worker process starts a `ProjectionHost`; a PostgreSQL advisory lock makes sure
exactly one runner exists across them (a second would die on the tracking-row conflicts). When
the holder exits, its lock goes with its connection and another process takes over on its next
try. One runner, not one per view: a turn's few events then cost one notification pull and one
transaction each, not one per view (issue 14's profile: that was a third of a turn's CPU).
"""

import threading
import zlib
from collections.abc import Mapping
from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError
from eventsourcing.projection import ProjectionRunner
from psycopg import sql

from domain.services.app import MemGPT
from projections import agents, assistants, catalogue, events, keys, messages, passages, sources, turns, users
from projections.base import SET_ASIDE, View, ViewsProjection, ViewsRecorder, tracking_table

log = structlog.get_logger(__name__)

VIEWS: tuple[View, ...] = tuple(
    module.view for module in (users, keys, agents, messages, passages, catalogue, assistants, sources, turns, events)
)
VIEW_NAMES = tuple(view.name for view in VIEWS)


class AllViews(ViewsRecorder):
    views = VIEWS


# A database error (psycopg's own, or the library's wrapping of it) ends this round of the host:
# its runners stop, and the next round takes the locks and starts them again from their tracking
# positions, so nothing is applied twice or skipped. A lost database is expected (a warning); any
# other database error is logged with its traceback.
_DATABASE_ERRORS = (psycopg.Error, PersistenceError)
_DATABASE_AWAY = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)

# The runner only reads the log and writes the views: a small pool is plenty.
_RUNNER_POOL = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "3", "POSTGRES_PRE_PING": "n"}


_LOCK_KEY = zlib.crc32(b"memgpt.projection.views")


def _start_runner(env: Mapping[str, str]) -> ProjectionRunner[Any, Any]:
    runner: ProjectionRunner[Any, Any] = ProjectionRunner(
        application_class=MemGPT, projection_class=ViewsProjection, view_class=AllViews, env={**env, **_RUNNER_POOL}
    )
    runner.__enter__()
    return runner


def _stop_runner(runner: ProjectionRunner[Any, Any]) -> None:
    try:
        runner.__exit__(None, None, None)
    except _DATABASE_AWAY as e:  # the database went away under it: expected, and started again
        log.warning("projection.interrupted", error=type(e).__name__)
    except Exception:  # the runner's own failure, re-raised on exit: report it, carry on
        log.exception("projection.failed")


EVENTS_CHANNEL = "memgpt_events"  # where the event store announces new events


class ProjectionHost:
    """Keeps this process's share of the view runners alive until `stop()`."""

    def __init__(self, dsn: str, env: Mapping[str, str], retry_seconds: float = 2.0) -> None:
        self._dsn = dsn
        self._env = dict(env)
        self._retry = retry_seconds
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
        runner: ProjectionRunner[Any, Any] | None = None
        held = False  # session-level advisory locks stack: take it once
        with psycopg.connect(self._dsn, autocommit=True) as locks:
            try:
                while not self._stopping.is_set():
                    # The runner reads what the log holds, then listens for more on another thread
                    # (eventsourcing's subscription): an event written between the two, or whose
                    # notification is lost, would wait for the next event to be noticed, and that
                    # may never come. A notification every tick bounds the lag by the tick; only
                    # the process that runs the views sends it, so workers do not multiply wake-ups.
                    if held:
                        locks.execute("SELECT pg_notify(%s, '')", (EVENTS_CHANNEL,))
                    if runner is not None and runner.is_interrupted.is_set():
                        _stop_runner(runner)  # started again below, from the views' tracking
                        runner = None
                    if not held:
                        held = _try_lock(locks)
                    if runner is None and held:
                        runner = _start_runner(self._env)
                        log.info("projection.started", views=len(VIEWS))
                    locks.execute("SELECT 1")  # notices a lost connection, and with it the lock
                    self._stopping.wait(self._retry)
            finally:
                if runner is not None:
                    _stop_runner(runner)


def _try_lock(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
    return bool(row and row[0])


class ProjectionsBusy(RuntimeError):
    """A running server or worker holds the views; a rebuild would race with it."""


def rebuild(dsn: str, env: Mapping[str, str], timeout: float = 600.0) -> dict[str, int]:
    """Empty every view and replay the whole log into it; returns the position each reached.
    Set-aside events are replayed with the rest (after a fix, they apply; else they are set aside again)."""
    with psycopg.connect(dsn, autocommit=True) as locks:
        if not _try_lock(locks):
            raise ProjectionsBusy("A server or worker is running the projections: stop it before rebuilding.")
        with locks.transaction():
            for view in VIEWS:
                for table in view.tables:
                    locks.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
                tracking = tracking_table(view.name)
                locks.execute(sql.SQL("DELETE FROM {} WHERE application_name <> '__migration__'").format(tracking))
            # replayed below: what still fails is set aside again
            locks.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(SET_ASIDE)))
        row = locks.execute("SELECT max(notification_id) FROM memgpt_events").fetchone()
        head = row[0] if row and row[0] is not None else 0
        runner = _start_runner(env)
        try:
            if head:
                runner.wait(head, timeout=timeout)
        finally:
            _stop_runner(runner)
    return dict.fromkeys(VIEW_NAMES, head)
