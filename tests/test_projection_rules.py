"""The one mechanism every view goes through (projections.base), without a database: rules found
by event type, and an event a view cannot apply retried, then set aside, whichever view it is."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking

from domain.agents import Agent
from domain.users import User
from projections import base
from projections.base import Statement, View
from projections.runner import VIEW_NAMES, VIEWS


class _Recorder:
    """Stands in for the views' recorder: a transaction per event keeps what was applied only if it
    got to the end; `refuse` names a view whose rows the database refuses."""

    def __init__(self, refuse: str | None = None, reached: dict[str, int] | None = None) -> None:
        self.views = VIEWS
        self.refuse = refuse
        self.reached = reached or {}
        self.tries = 0
        self.committed: list[tuple[str, int, list[Statement]]] = []
        self.tracked: list[tuple[int, list[str]]] = []

    def positions(self) -> dict[str, int]:
        return {view.name: self.reached.get(view.name, 0) for view in self.views}

    @contextmanager
    def event(self, tracking: Tracking, views: list[View]) -> Iterator[Any]:
        applied = []

        def apply(view: View, statements: list[Statement], alone: bool) -> None:
            if view.name == self.refuse and all(query is not base._SET_ASIDE_SQL for query, _ in statements):
                self.tries += 1
                raise ValueError("refused")
            applied.append((view.name, tracking.notification_id, statements))

        yield apply
        self.committed.extend(applied)
        self.tracked.append((tracking.notification_id, [view.name for view in views]))


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
def test_an_event_a_view_refuses_is_retried_then_set_aside_while_the_others_apply_it(
    view: View, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "BACKOFF", 0.0)
    event = _deleted()
    recorder = _Recorder(refuse=view.name)
    base.ViewsProjection(view=recorder).process_event(event, Tracking("memgpt", 42))  # type: ignore[arg-type]
    assert recorder.tries == 1 + base.ATTEMPTS  # the one transaction of all views, then on its own
    [(query, row)] = next(statements for name, _, statements in recorder.committed if name == view.name)
    assert query is base._SET_ASIDE_SQL
    assert row[:3] == (view.name, 42, "memgpt.Agent.Deleted") and row[3] == "ValueError: refused"
    others = [(name, statements) for name, _, statements in recorder.committed if name != view.name]
    assert others == [(v.name, v.statements(event, 42)) for v in VIEWS if v is not view]
    assert recorder.tracked == [(42, list(VIEW_NAMES))]


def test_an_event_is_applied_once_by_each_view_not_yet_past_it() -> None:
    from projections.messages import view

    recorder = _Recorder(reached={view.name: 9})
    projection = base.ViewsProjection(view=recorder)  # type: ignore[arg-type]
    first, second = _deleted(), _deleted()
    projection.process_event(first, Tracking("memgpt", 7))
    projection.process_event(second, Tracking("memgpt", 10))
    behind = [v for v in VIEWS if v is not view]
    assert recorder.committed == [
        *[(v.name, 7, v.statements(first, 7)) for v in behind],
        *[(v.name, 10, v.statements(second, 10)) for v in VIEWS],
    ]
    assert recorder.tracked == [(7, [v.name for v in behind]), (10, list(VIEW_NAMES))]
    projection.process_event(second, Tracking("memgpt", 10))  # delivered again: nothing applies it twice
    assert recorder.tracked[-1] == (10, [])
