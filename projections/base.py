"""What every view shares, so that a view module only says what each event does to its rows.

A view module declares a `View` (its name, the tables a rebuild empties) and one rule per event it
cares about: `@view.on(Event)` on a function of the event and its log position that returns the
SQL statements the event becomes. The rest is here, once: one tracking recorder commits those
statements together with the view's tracking row, so each event is applied exactly once, and
sends `NOTIFY memgpt_projected, '<view>:<position>'`, delivered when the transaction commits
(`projections.watch` listens, so a request can wait for its own write to show); one projection
retries an event the view cannot apply and then sets it aside instead of stopping the view.
"""

import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import psycopg
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic
from psycopg import sql
from psycopg.abc import Params, Query

from domain.messages import clean

log = structlog.get_logger(__name__)

CHANNEL = "memgpt_projected"
SET_ASIDE = "view_set_aside"

Statement = tuple[Query, Params]
Rule = Callable[[Any, int], list[Statement]]  # (event, its log position) -> what it does to the rows

# The database went away: not the event's fault. The runner stops and starts again from its
# tracking position once the database is back (projections.runner), so nothing is set aside.
DATABASE_AWAY = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)

ATTEMPTS = 3  # tries of one event before it is set aside
BACKOFF = 0.2  # seconds before the second try; doubles after each failure

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


def delete(table: str, column: str, value: Any) -> Statement:
    """`DELETE FROM <table> WHERE <column> = value`, for rules that empty several tables."""
    return sql.SQL("DELETE FROM {} WHERE {} = %s").format(sql.Identifier(table), sql.Identifier(column)), (value,)


class View:
    """One view: its name (its tracking table is `<name>_tracking`, its lock and announcements
    carry the name), the tables a rebuild empties, and the rule of each event it changes rows for.

    Every view follows every event, even those it has no rule for, so that every view's position
    reaches every write: that is what lets a request wait for "all views have seen position N".
    """

    def __init__(self, name: str, tables: tuple[str, ...] = ()) -> None:
        self.name = name
        self.tables = tables or (name,)
        self._rules: dict[type, Rule] = {}
        self.projection: type[ViewProjection] = type(name, (ViewProjection,), {"name": name, "declared": self})

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


class ViewRecorder(PostgresTrackingRecorder):
    """The tracking recorder of every view: a view's rows are written in its tracking transaction."""

    def record(self, view: str, tracking: Tracking, statements: Iterable[Statement]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for query, params in statements:
                curs.execute(query, params)
            self._insert_tracking(curs, tracking)
            curs.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{view}:{tracking.notification_id}"))


class ViewProjection(Projection[ViewRecorder]):
    """The library's projection of one `View` (`View.projection` is its own subclass of this).

    An event the view cannot apply (its rows refused by PostgreSQL, or a rule that raises) is
    tried again with back-off, then set aside in `view_set_aside` with its error, in place of its
    rows, and the view goes on: one bad event must not stop a view, and with it every write that
    waits for it.
    """

    declared: ClassVar[View]

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        delay = BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self.view.record(self.name, tracking, self.declared.statements(domain_event, tracking.notification_id))
                return
            except DATABASE_AWAY:
                raise
            except Exception as e:  # noqa: BLE001 - whatever this event makes the view raise is the event's
                if attempt == ATTEMPTS:
                    self._set_aside(domain_event, tracking, e, attempt)
                    return
                log.warning("projection.retrying", view=self.name, position=tracking.notification_id, attempt=attempt)
                time.sleep(delay)
                delay *= 2

    def _set_aside(self, domain_event: Any, tracking: Tracking, error: Exception, attempts: int) -> None:
        topic, why = get_topic(type(domain_event)), describe(error)
        log.error(
            "projection.set_aside",
            view=self.name,
            position=tracking.notification_id,
            topic=topic,
            error=why,
            attempts=attempts,
        )
        row = (self.name, tracking.notification_id, topic, why, attempts)
        self.view.record(self.name, tracking, [(_SET_ASIDE_SQL, row)])
