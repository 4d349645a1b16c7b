"""What every view shares: writes committed together with their tracking row and announced.

After each commit a view sends `NOTIFY memgpt_projected, '<view>:<position>'`, delivered when the
transaction commits; `projections.watch` listens so a request can wait for its own write to show.
"""

from collections.abc import Iterable
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection

CHANNEL = "memgpt_projected"

Statement = tuple[str, dict[str, Any] | tuple[Any, ...]]


class ViewRecorder(PostgresTrackingRecorder):
    """A tracking recorder that can write view rows in the tracking transaction."""

    view_name: str = ""

    def record(self, tracking: Tracking, statements: Iterable[Statement]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for sql, params in statements:
                curs.execute(sql, params)
            self._insert_tracking(curs, tracking)
            curs.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.view_name}:{tracking.notification_id}"))


class View(Projection[ViewRecorder]):
    """A projection of every event: events it has no rule for still advance its position.

    Views subscribe to all topics so that every view's position reaches every write, which is
    what lets a request wait for "all views have seen position N". Subclasses say which rows an
    event changes by registering handlers on their own `statements` dispatcher.
    """

    tables: tuple[str, ...] = ()  # what a rebuild empties before replaying the log

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.record(tracking, self.statements(domain_event))

    def statements(self, domain_event: Any) -> list[Statement]:
        return []
