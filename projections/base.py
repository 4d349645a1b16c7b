"""What every view shares: writes committed together with their tracking row and announced, and
events a view cannot apply set aside instead of stopping it.

After each commit a view sends `NOTIFY memgpt_projected, '<view>:<position>'`, delivered when the
transaction commits; `projections.watch` listens so a request can wait for its own write to show.
"""

import time
from collections.abc import Iterable
from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.messages import clean

log = structlog.get_logger(__name__)

CHANNEL = "memgpt_projected"
SET_ASIDE = "view_set_aside"

Statement = tuple[str, dict[str, Any] | tuple[Any, ...]]

# The database went away: not the event's fault. The runner stops and starts again from its
# tracking position once the database is back (projections.runner), so nothing is set aside.
DATABASE_AWAY = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)

ATTEMPTS = 3  # tries of one event before it is set aside
BACKOFF = 0.2  # seconds before the second try; doubles after each failure

_SET_ASIDE_SQL = (
    f"INSERT INTO {SET_ASIDE} (view_name, notification_id, topic, error, attempts)"  # noqa: S608 - our name
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (view_name, notification_id)"
    " DO UPDATE SET error = EXCLUDED.error, attempts = {0}.attempts + EXCLUDED.attempts, set_aside_at = now()"
).replace("{0}", SET_ASIDE)


def describe(error: BaseException) -> str:
    """An error as kept beside its event: storable, and short (a view's error may quote the row)."""
    return clean(f"{type(error).__name__}: {error}"[:2000]) or type(error).__name__


class ViewRecorder(PostgresTrackingRecorder):
    """A tracking recorder that can write view rows in the tracking transaction."""

    view_name: str = ""

    def record(self, tracking: Tracking, statements: Iterable[Statement]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for sql, params in statements:
                curs.execute(sql, params)
            self._insert_tracking(curs, tracking)
            curs.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.view_name}:{tracking.notification_id}"))

    def set_aside(self, tracking: Tracking, topic: str, error: str, attempts: int) -> None:
        """Keep the event's position and error instead of its rows, and move the view past it."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(_SET_ASIDE_SQL, (self.view_name, tracking.notification_id, topic, error, attempts))
            self._insert_tracking(curs, tracking)
            curs.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.view_name}:{tracking.notification_id}"))


class View(Projection[ViewRecorder]):
    """A projection of every event: events it has no rule for still advance its position.

    Views subscribe to all topics so that every view's position reaches every write, which is
    what lets a request wait for "all views have seen position N". Subclasses say which rows an
    event changes by registering handlers on their own `statements` dispatcher.

    An event the view cannot apply (its rows refused by PostgreSQL, or a rule that raises) is
    tried again with back-off, then set aside in `view_set_aside` with its error, and the view
    goes on: one bad event must not stop a view, and with it every write that waits for it.
    """

    tables: tuple[str, ...] = ()  # what a rebuild empties before replaying the log

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        delay = BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self.view.record(tracking, self.statements(domain_event))
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
        topic = get_topic(type(domain_event))
        log.error(
            "projection.set_aside",
            view=self.name,
            position=tracking.notification_id,
            topic=topic,
            error=describe(error),
            attempts=attempts,
        )
        self.view.set_aside(tracking, topic, describe(error), attempts)

    def statements(self, domain_event: Any) -> list[Statement]:
        return []
