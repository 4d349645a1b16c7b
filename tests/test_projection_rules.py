"""The one mechanism every view goes through (projections.base), without a database: rules found
by event type, and an event a view cannot apply retried, then set aside, whichever view it is."""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking

from domain.agents import Agent
from domain.users import User
from projections import base
from projections.base import Statement, View, ViewProjection
from projections.runner import VIEW_NAMES, VIEWS


class _Recorder:
    """Stands in for the tracking recorder: refuses a view's rows if told to, keeps what it commits."""

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse
        self.tries = 0
        self.committed: list[tuple[str, int, list[Statement]]] = []

    def record(self, view: str, tracking: Tracking, statements: Any) -> None:
        statements = list(statements)
        if self.refuse and all(query is not base._SET_ASIDE_SQL for query, _ in statements):
            self.tries += 1
            raise ValueError("refused")
        self.committed.append((view, tracking.notification_id, statements))


def _deleted() -> Agent.Deleted:
    return Agent.Deleted(originator_id=uuid4(), originator_version=2, timestamp=datetime.now(UTC))


def test_the_views_keep_their_names_order_and_tables() -> None:
    assert VIEW_NAMES == (
        "view_users",
        "view_keys",
        "view_agents",
        "view_messages",
        "view_passages",
        "view_catalogue",
        "view_assistants",
        "view_sources",
        "view_turns",
        "view_event_index",
    )
    for view in VIEWS:
        assert issubclass(view.projection, ViewProjection) and view.projection.name == view.name
        assert view.projection.declared is view
    tables = {view.name: view.tables for view in VIEWS}
    assert tables["view_assistants"] == ("view_assistants", "view_threads", "view_thread_messages", "view_runs")
    assert tables["view_keys"] == ("view_keys",)
    assert tables["view_passages"] == ("view_passages", "view_passage_history")
    assert tables["view_event_index"] == ("view_event_index", "view_event_owners")


def test_rules_are_found_by_event_type_and_an_event_without_one_changes_nothing() -> None:
    view = View("view_test")

    @view.on(Agent.Deleted, User.Deleted)
    def _(e: Any, position: int) -> list[Statement]:
        return [("DELETE FROM view_test WHERE id = %s AND position < %s", (e.originator_id, position))]

    event = _deleted()
    assert view.statements(event, 9) == [
        ("DELETE FROM view_test WHERE id = %s AND position < %s", (event.originator_id, 9))
    ]
    assert view.statements(object(), 9) == []
    with pytest.raises(ValueError, match="already has a rule"):
        view.on(User.Deleted)(_)


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.name)
def test_an_event_a_view_refuses_is_retried_then_set_aside(view: View, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "BACKOFF", 0.0)
    monkeypatch.setattr(view, "statements", lambda event, position: [("SELECT 1/0", ())])
    recorder = _Recorder(refuse=True)
    view.projection(view=recorder).process_event(_deleted(), Tracking("memgpt", 42))  # type: ignore[arg-type]
    assert recorder.tries == base.ATTEMPTS
    [(name, position, [(query, row)])] = recorder.committed
    assert (name, position, query) == (view.name, 42, base._SET_ASIDE_SQL)
    assert row[:3] == (view.name, 42, "memgpt.Agent.Deleted") and row[3] == "ValueError: refused"


def test_an_applied_event_is_committed_once_with_its_position() -> None:
    from projections.messages import view

    recorder = _Recorder(refuse=False)
    event = _deleted()
    view.projection(view=recorder).process_event(event, Tracking("memgpt", 7))  # type: ignore[arg-type]
    assert recorder.committed == [("view_messages", 7, view.statements(event, 7))]
