"""What every view shares, so that a view module only says what each event does to its rows.

A view module declares a `View` (its name, the tables a rebuild empties) and one rule per event it
cares about: `@view.on(Event)` on a function of the event and its log position that returns the
SQL statements the event becomes. The rest is here, once: one writer applies every view's statements for
a batch of events in one transaction, each view with its tracking row, so each event is applied
exactly once per view, and sends `NOTIFY memgpt_projected, '*:<position>'`, delivered when it
commits (`projections.watch` listens, so a request can wait for its own write to show); an event
a view cannot apply is retried and then set aside instead of stopping the views.
"""

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.utils import get_topic
from psycopg import sql
from psycopg.abc import Params, Query

from domain.messages import clean

log = structlog.get_logger(__name__)

CHANNEL = "memgpt_projected"
SET_ASIDE = "view_set_aside"

Statement = tuple[Query, Params]
Rule = Callable[[Any, int], list[Statement]]  # (event, its log position) -> what it does to the rows
Apply = Callable[["View", list[Statement]], None]  # writes a view's statements in a batch

# The database went away: not the event's fault. The runner stops and starts again from its
# tracking position once the database is back (projections.runner), so nothing is set aside.
DATABASE_AWAY = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)

ATTEMPTS = 3  # tries of one event before it is set aside
BACKOFF = 0.2  # seconds before the second try; doubles after each failure

APPLICATION = "memgpt"  # the tracking rows' application_name (the event store's name)
EVERY_VIEW = "*"  # announced in place of a view's name: every view has reached the position
_TRACK = sql.SQL(
    "INSERT INTO {} (application_name, notification_id) VALUES (%s, %s)"
    " ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id"
)
_SET_ASIDE_SQL = sql.SQL(
    "INSERT INTO {0} (view_name, notification_id, topic, error, attempts) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (view_name, notification_id)"
    " DO UPDATE SET error = EXCLUDED.error, attempts = {0}.attempts + EXCLUDED.attempts, set_aside_at = now()"
).format(sql.Identifier(SET_ASIDE))


def describe(error: BaseException) -> str:
    """An error as kept beside its event: storable, and short (a view's error may quote the row)."""
    return clean(f"{type(error).__name__}: {error}"[:2000]) or type(error).__name__


def tracking_table(view: str) -> sql.Identifier:
    """Where the library keeps a view's position: it names the table after the projection."""
    return sql.Identifier(f"{view}_tracking")


def position_of(view: str) -> sql.Composed:
    """SQL for the log position a view has applied everything up to (0: nothing yet)."""
    return sql.SQL("coalesce((SELECT notification_id FROM {} WHERE application_name = {}), 0)").format(
        tracking_table(view), sql.Literal(APPLICATION)
    )


def delete(table: str, column: str, value: Any) -> Statement:
    """`DELETE FROM <table> WHERE <column> = value`, for rules that empty several tables."""
    return sql.SQL("DELETE FROM {} WHERE {} = %s").format(sql.Identifier(table), sql.Identifier(column)), (value,)


class View:
    """One view: its name (its tracking table is `<name>_tracking`), the tables a rebuild empties,
    and the rule of each event it changes rows for.

    Every view follows every event, even those it has no rule for, so that every view's position
    reaches every write: that is what lets a request wait for "all views have seen position N".
    """

    def __init__(self, name: str, tables: tuple[str, ...] = ()) -> None:
        self.name = name
        self.tables = tables or (name,)
        self._rules: dict[type, Rule] = {}

    def on(self, *events: type) -> Callable[[Rule], Rule]:
        """Makes the decorated function the rule of each of `events` (and of their subclasses)."""

        def register(rule: Rule) -> Rule:
            for event in events:
                if event in self._rules:
                    raise ValueError(f"{self.name} already has a rule for {event.__qualname__}")
                self._rules[event] = rule
            return rule

        return register

    def statements(self, event: Any, position: int) -> list[Statement]:
        """What `event`, at log `position`, does to this view's rows: nothing if it has no rule."""
        for cls in type(event).__mro__:
            if (rule := self._rules.get(cls)) is not None:
                return rule(event, position)
        return []


class ViewStore:
    """Where the views are written, on the views' runner's own connection: each view's rows are
    committed with its tracking row (`<view>_tracking`), so each view applies each event once."""

    def __init__(self, conn: psycopg.Connection[Any], views: tuple[View, ...]) -> None:
        self.conn = conn
        self.views = views

    def positions(self) -> dict[str, int]:
        """The log position each view has applied everything up to (0: nothing yet)."""
        query = sql.SQL("SELECT {}").format(sql.SQL(", ").join(position_of(view.name) for view in self.views))
        row = self.conn.execute(query).fetchone()
        assert row is not None  # a SELECT of subqueries always has its one row
        return {view.name: int(position) for view, position in zip(self.views, row, strict=True)}

    @contextmanager
    def batch(self, position: int, views: list[View], careful: bool) -> Iterator[Apply]:
        """One transaction: yields `apply(view, statements)`, which writes a view's rows; then moves
        `views` to `position`, in one statement, and sends `NOTIFY memgpt_projected, '*:<position>'`,
        delivered on commit: every view is there. Not `careful`: the statements are pipelined
        (sent without waiting for each answer; any error fails the whole batch). `careful`: each
        `apply` is a savepoint, so rows the database refuses roll back alone and raise."""
        with self.conn.transaction(), nullcontext() if careful else self.conn.pipeline():
            cur = self.conn.cursor()

            def apply(view: View, statements: list[Statement]) -> None:
                with self.conn.transaction() if careful else nullcontext():
                    for query, params in statements:
                        cur.execute(query, params)

            yield apply
            if views:
                cur.execute(_tracks(tuple(v.name for v in views)), (APPLICATION, position) * len(views))
            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{EVERY_VIEW}:{position}"))


@functools.cache
def _tracks(views: tuple[str, ...]) -> sql.Composed:
    """One statement that moves each of `views` to a position: a data-modifying CTE per view."""
    parts = [
        sql.SQL("{} AS ({})").format(sql.Identifier(f"t{i}"), _TRACK.format(tracking_table(name)))
        for i, name in enumerate(views)
    ]
    return sql.SQL("WITH {} SELECT 1").format(sql.SQL(", ").join(parts))


class ViewWriter:
    """Applies the log to every view at once: a batch of events in one transaction, whatever the
    number of views and events (a runner per view cost a pull and a commit per view per event, a
    third of a turn's CPU, and fell behind under load).

    An event a view cannot apply (its rows refused by PostgreSQL, or a rule that raises) fails its
    batch; the batch is then applied again one event at a time, each view in a savepoint, and the
    refused event is tried again with back-off, then set aside in `view_set_aside` with its error,
    in place of its rows, and the views go on: one bad event must not stop a view, and with it
    every write that waits for it.
    """

    def __init__(self, store: Any) -> None:  # a ViewStore, or a test's stand-in
        self.store = store
        self.reached: dict[str, int] = store.positions()  # its runner is the only writer of the views

    @property
    def position(self) -> int:
        """Where the log is to be read from: after what the view furthest behind applied."""
        return min(self.reached.values(), default=0)

    def apply(self, batch: list[tuple[Any, int]]) -> None:
        """Apply `(event, log position)` pairs, in log order, to each view not yet past them."""
        if not batch:
            return
        last = batch[-1][1]
        behind = [v for v in self.store.views if self.reached[v.name] < last]
        try:  # the usual case, in as few round trips as it takes
            with self.store.batch(last, behind, careful=False) as apply:
                for event, position in batch:
                    for view in behind:
                        if self.reached[view.name] < position:
                            apply(view, view.statements(event, position))
        except DATABASE_AWAY:
            raise
        except Exception:  # noqa: BLE001 - a view refused an event: again, one event and one view at a time
            for event, position in batch:
                self._apply_carefully(event, position)
            return
        for view in behind:
            self.reached[view.name] = last

    def _apply_carefully(self, event: Any, position: int) -> None:
        due = [v for v in self.store.views if self.reached[v.name] < position]
        with self.store.batch(position, due, careful=True) as apply:
            for view in due:
                self._retried(apply, view, event, position)
        for view in due:
            self.reached[view.name] = position

    def _retried(self, apply: Apply, view: View, event: Any, position: int) -> None:
        delay = BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
            try:
                apply(view, view.statements(event, position))
                return
            except DATABASE_AWAY:
                raise
            except Exception as e:  # noqa: BLE001 - whatever this event makes the view raise is the event's
                if attempt == ATTEMPTS:
                    apply(view, [_set_aside(view, event, position, e, attempt)])
                    return
                log.warning("projection.retrying", view=view.name, position=position, attempt=attempt)
                time.sleep(delay)
                delay *= 2


def _set_aside(view: View, event: Any, position: int, error: Exception, attempts: int) -> Statement:
    topic, why = get_topic(type(event)), describe(error)
    log.error("projection.set_aside", view=view.name, position=position, topic=topic, error=why, attempts=attempts)
    return _SET_ASIDE_SQL, (view.name, position, topic, why, attempts)
