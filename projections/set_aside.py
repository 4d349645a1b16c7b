"""Events a view set aside (projections.base): counted, and applied again after a fix.

Applying a set-aside event runs the view's own rule for it and removes its row in one
transaction, so an event is applied once, by whichever retry takes its row first. It comes later
than the events after it: the views' rules are upserts and deletes of the rows they name, so a late
event still lands where it belongs.
"""

from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg import sql

from domain.services.app import MemGPT
from projections.base import DATABASE_AWAY, SET_ASIDE, View, describe
from projections.runner import VIEWS

log = structlog.get_logger(__name__)

_TABLE = sql.Identifier(SET_ASIDE)


@dataclass(frozen=True)
class Retried:
    applied: int  # set-aside events now in their views
    remaining: int  # set-aside events their views still refuse


def counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """How many events each view has set aside (every view named, with 0 if none)."""
    rows = conn.execute(sql.SQL("SELECT view_name, count(*) FROM {} GROUP BY view_name").format(_TABLE)).fetchall()
    return {view.name: 0 for view in VIEWS} | {name: n for name, n in rows}


def retry(app: MemGPT, dsn: str) -> Retried:
    """Apply every set-aside event to its view again; those that still fail stay, with their new error."""
    views = {view.name: view for view in VIEWS}
    applied = remaining = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        pending = conn.execute(
            sql.SQL("SELECT view_name, notification_id FROM {} ORDER BY notification_id, view_name").format(_TABLE)
        ).fetchall()
        for view_name, position in pending:
            view = views.get(view_name)
            if view is None:  # a view this version no longer has: nothing to apply it to
                continue
            try:
                if _apply(app, conn, view, position):
                    applied += 1
                    log.info("projection.set_aside_applied", view=view_name, position=position)
            except DATABASE_AWAY:
                raise
            except Exception as e:  # noqa: BLE001 - the view still refuses the event: it stays set aside
                remaining += 1
                conn.execute(
                    sql.SQL(
                        "UPDATE {} SET error = %s, attempts = attempts + 1 WHERE view_name = %s AND notification_id = %s"
                    ).format(_TABLE),
                    (describe(e), view_name, position),
                )
                log.warning("projection.set_aside_still_failing", view=view_name, position=position, error=describe(e))
    return Retried(applied, remaining)


def _apply(app: MemGPT, conn: psycopg.Connection[Any], view: View, position: int) -> bool:
    """True if this call applied the event (False: another retry took it first)."""
    with conn.transaction():
        taken = conn.execute(
            sql.SQL("DELETE FROM {} WHERE view_name = %s AND notification_id = %s RETURNING 1").format(_TABLE),
            (view.name, position),
        ).fetchone()
        if taken is None:
            return False
        notifications = app.recorder.select_notifications(start=position, limit=1, stop=position)
        if notifications:
            event = app.mapper.to_domain_event(notifications[0])
            for query, params in view.statements(event, position):
                conn.execute(query, params)
    return True
