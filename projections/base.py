"""What every view shares, so that a view module only says what each event does to its rows.

A view module declares a `View` (its name, the tables a rebuild empties) and one rule per event it
cares about: `@view.on(Event)` on a function of the event and its log position that returns the
SQL statements the event becomes. The rest is here, once: one projection applies every view's statements
for an event in one transaction, each view with its tracking row, so each event is applied exactly
once per view, and sends `NOTIFY memgpt_projected, '*:<position>'`, delivered when the transaction
commits (`projections.watch` listens, so a request can wait for its own write to show); an event
a view cannot apply is retried and then set aside instead of stopping the views.
"""

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
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
Apply = Callable[["View", list[Statement], bool], None]  # (view, its statements, alone in a savepoint)

# The database went away: not the event's fault. The runner stops and starts again from its
# tracking position once the database is back (projections.runner), so nothing is set aside.
DATABASE_AWAY = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)

ATTEMPTS = 3  # tries of one event before it is set aside
BACKOFF = 0.2  # seconds before the second try; doubles after each failure

APPLICATION = "memgpt"  # the tracking rows' application_name (the event store's name)
EVERY_VIEW = "*"  # announced in place of a view's name: every view has reached the position
_POSITION = sql.SQL("SELECT notification_id FROM {} WHERE application_name = %s")
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


class ViewsRecorder(PostgresTrackingRecorder):
    """Where the views are written: one transaction per event for all of them, each view's rows
    committed with its own tracking row (`<view>_tracking`), so each view applies each event once.
    A subclass names the views (`projections.runner`)."""

    views: ClassVar[tuple[View, ...]] = ()

    def positions(self) -> dict[str, int]:
        """The log position each view has applied everything up to (0: nothing yet)."""
        reached = {}
        with self.datastore.transaction(commit=False) as curs:
            for view in self.views:
                curs.execute(_POSITION.format(tracking_table(view.name)), (APPLICATION,))
                row = curs.fetchone()
                reached[view.name] = int(row["notification_id"] or 0) if row else 0
        return reached

    def max_tracking_id(self, application_name: str) -> int | None:
        """Where the views' one subscription starts: after what the view furthest behind applied
        (views ahead of it skip what they have, `ViewsProjection`); what `runner.wait` polls."""
        return min(self.positions().values(), default=0) or None

    @contextmanager
    def event(self, tracking: Tracking, views: list[View]) -> Iterator[Apply]:
        """One transaction for one event: yields `apply(view, statements, alone)`, which writes a
        view's rows (`alone`: in a savepoint, so that rows the database refuses roll back without
        the other views' and the error is raised); then `views`' positions, in one statement, and
        `NOTIFY memgpt_projected, '*:<position>'`, delivered on commit: every view is there."""
        with self.datastore.transaction(commit=True) as curs:

            def apply(view: View, statements: list[Statement], alone: bool) -> None:
                with curs.connection.transaction() if alone else nullcontext():
                    for query, params in statements:
                        curs.execute(query, params)

            yield apply
            if views:
                curs.execute(
                    _tracks(tuple(v.name for v in views)), (APPLICATION, tracking.notification_id) * len(views)
                )
            curs.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{EVERY_VIEW}:{tracking.notification_id}"))


@functools.cache
def _tracks(views: tuple[str, ...]) -> sql.Composed:
    """One statement that moves each of `views` to a position: a data-modifying CTE per view."""
    parts = [
        sql.SQL("{} AS ({})").format(sql.Identifier(f"t{i}"), _TRACK.format(tracking_table(name)))
        for i, name in enumerate(views)
    ]
    return sql.SQL("WITH {} SELECT 1").format(sql.SQL(", ").join(parts))


class ViewsProjection(Projection[ViewsRecorder]):
    """The library's projection of every `View` at once: one subscription and one transaction per
    event, whatever the number of views (a runner per view cost a pull and a commit per view per
    event, a third of a turn's CPU).

    An event a view cannot apply (its rows refused by PostgreSQL, or a rule that raises) is tried
    again with back-off, then set aside in `view_set_aside` with its error, in place of its rows,
    and the views go on: one bad event must not stop a view, and with it every write that waits.
    """

    name = "views"

    def __init__(self, view: ViewsRecorder) -> None:
        super().__init__(view)
        self._reached: dict[str, int] | None = None  # this runner is the only writer of the views

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if self._reached is None:
            self._reached = self.view.positions()
        due = [v for v in self.view.views if self._reached[v.name] < tracking.notification_id]
        try:  # the usual case, in as few round trips as it takes
            with self.view.event(tracking, due) as apply:
                for view in due:
                    apply(view, view.statements(domain_event, tracking.notification_id), False)
        except DATABASE_AWAY:
            raise
        except Exception:  # noqa: BLE001 - a view refused the event: again, each view on its own
            with self.view.event(tracking, due) as apply:
                for view in due:
                    self._apply(apply, view, domain_event, tracking)
        for view in due:
            self._reached[view.name] = tracking.notification_id

    def _apply(self, apply: Apply, view: View, event: Any, tracking: Tracking) -> None:
        delay = BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
            try:
                apply(view, view.statements(event, tracking.notification_id), True)
                return
            except DATABASE_AWAY:
                raise
            except Exception as e:  # noqa: BLE001 - whatever this event makes the view raise is the event's
                if attempt == ATTEMPTS:
                    apply(view, [self._set_aside(view, event, tracking, e, attempt)], True)
                    return
                log.warning("projection.retrying", view=view.name, position=tracking.notification_id, attempt=attempt)
                time.sleep(delay)
                delay *= 2

    def _set_aside(self, view: View, event: Any, tracking: Tracking, error: Exception, attempts: int) -> Statement:
        topic, why = get_topic(type(event)), describe(error)
        log.error(
            "projection.set_aside",
            view=view.name,
            position=tracking.notification_id,
            topic=topic,
            error=why,
            attempts=attempts,
        )
        return _SET_ASIDE_SQL, (view.name, tracking.notification_id, topic, why, attempts)
