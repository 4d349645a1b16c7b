"""The one mechanism every view goes through (projections.base), without a database: rules found
by event type, and an event a view cannot apply retried, then set aside, whichever view it is."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from domain.agents import Agent
from domain.users import User
from projections import base
from projections.base import Statement, View
from projections.runner import VIEW_NAMES, VIEWS


class _Store:
    """Stands in for the views' store: a batch keeps what was applied only if it got to the end;
    `refuse` names a view whose rows the database refuses."""

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
    def batch(self, position: int, views: list[View], careful: bool) -> Iterator[Any]:
        applied = []

        def apply(view: View, statements: list[Statement]) -> None:
            if view.name == self.refuse and all(query is not base._SET_ASIDE_SQL for query, _ in statements):
                self.tries += 1
                raise ValueError("refused")
            applied.append((view.name, statements))

        yield apply
        self.committed.extend(applied)
        self.tracked.append((position, [view.name for view in views]))


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
    assert tables["view_agents"] == ("view_agents", "view_agent_context")
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
    before, bad = _deleted(), _deleted()
    store = _Store(refuse=view.name)
    writer = base.ViewWriter(store)
    writer.apply([(before, 41), (bad, 42)])
    assert store.tries == 1 + 2 * base.ATTEMPTS  # the batch, then each event on its own, retried
    [(query, row)] = store.committed[-len(VIEWS) :][VIEWS.index(view)][1]
    assert query is base._SET_ASIDE_SQL
    assert row[:3] == (view.name, 42, "memgpt.Agent.Deleted") and row[3] == "ValueError: refused"
    assert store.committed[-len(VIEWS) :] == [
        (v.name, v.statements(bad, 42)) if v is not view else (v.name, [(query, row)]) for v in VIEWS
    ]
    assert store.tracked == [(41, list(VIEW_NAMES)), (42, list(VIEW_NAMES))]
    assert writer.position == 42


def test_a_batch_is_applied_once_by_each_view_not_yet_past_each_event() -> None:
    from projections.messages import view

    store = _Store(reached={view.name: 9})
    writer = base.ViewWriter(store)
    assert writer.position == 0
    first, second = _deleted(), _deleted()
    writer.apply([(first, 7), (second, 10)])
    assert store.committed == [
        *[(v.name, v.statements(first, 7)) for v in VIEWS if v is not view],
        *[(v.name, v.statements(second, 10)) for v in VIEWS],
    ]
    assert store.tracked == [(10, list(VIEW_NAMES))]
    assert writer.position == 10
    writer.apply([(second, 10)])  # delivered again: nothing applies it twice
    assert store.tracked[-1] == (10, [])
