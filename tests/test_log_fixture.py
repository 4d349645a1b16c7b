"""The log stays readable: events recorded from an earlier version of the server (tests/log_fixture)
still decode, still rebuild their aggregates, and still project into exactly the views that
version made. Event topics and stored shapes are a contract with every database in the field;
a change of an event's shape needs an upcaster, and this is the test that exercises it.
"""

import dataclasses
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from domain.services.app import MemGPT
from tests.log_fixture import differences, domain_topics, fixture_paths, read_fixture, replay, stored_state
from tests.support import fresh_database

RECORD = "python -m tests.log_fixture.record"


@pytest.fixture(scope="module", params=fixture_paths(), ids=lambda path: path.name)
def log(request: pytest.FixtureRequest) -> dict[str, Any]:
    return read_fixture(request.param)


@pytest.fixture(scope="module")
def replayed(log: dict[str, Any], admin_dsn: str) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """A fresh database holding only the recorded events, and its views as rebuilt from them."""
    dsn = fresh_database(admin_dsn)
    return dsn, replay(dsn, log["events"])


def test_there_is_a_recorded_log() -> None:
    assert fixture_paths(), f"no log fixture in {Path(__file__).parent / 'log_fixture'}: run `{RECORD}`"


def test_every_event_type_of_the_domain_is_in_a_recorded_log() -> None:
    recorded = {e["topic"] for path in fixture_paths() for e in read_fixture(path)["events"]}
    missing = sorted(domain_topics() - recorded)
    assert not missing, (
        f"event types without a recorded event: {missing}. Extend the script in tests/log_fixture/record.py to"
        f" produce them and record a new fixture beside the old one (`{RECORD} --name log-2`); re-record `log`"
        " itself only if no upcaster depends on its old event shapes (see tests/log_fixture/README.md)."
    )


def test_every_recorded_event_decodes_with_todays_event_classes(log: dict[str, Any]) -> None:
    """Through the application's own mapper, so that upcasters of changed events run here; each
    event must then have every field its class declares (the mapper itself does not check)."""
    app = MemGPT(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    failures = []
    for e in log["events"]:
        stored = StoredEvent(UUID(e["originator_id"]), e["originator_version"], e["topic"], stored_state(e))
        try:
            event = app.mapper.to_domain_event(stored)
        except Exception as error:  # noqa: BLE001 - every failing event is reported, not only the first
            failures.append(f"{e['topic']} #{e['notification_id']}: {type(error).__name__}: {error}")
            continue
        lacking = [f.name for f in dataclasses.fields(event) if f.name not in vars(event)]
        if lacking:
            failures.append(f"{e['topic']} #{e['notification_id']} lacks {lacking}")
    assert not failures, (
        "recorded events no longer decode; an event whose shape changed needs an upcaster (never edit the"
        " fixture):\n" + "\n".join(failures[:20])
    )


def test_every_recorded_aggregate_loads_from_its_events(
    log: dict[str, Any], replayed: tuple[str, dict[str, list[dict[str, Any]]]]
) -> None:
    from runtime.database import eventsourcing_env

    dsn, _ = replayed
    app = MemGPT(env=eventsourcing_env(dsn))
    try:
        for originator_id in dict.fromkeys(e["originator_id"] for e in log["events"]):
            last = max(e["originator_version"] for e in log["events"] if e["originator_id"] == originator_id)
            assert app.repository.get(UUID(originator_id)).version == last
    finally:
        app.close()


def test_replaying_the_log_yields_the_recorded_views(
    log: dict[str, Any], replayed: tuple[str, dict[str, list[dict[str, Any]]]]
) -> None:
    _, views = replayed
    found = differences(log["views"], views)
    assert not found, (
        "the views rebuilt from the recorded log differ from the ones recorded with it:\n"
        + "\n".join(found[:40])
        + (f"\n... and {len(found) - 40} more" if len(found) > 40 else "")
        + f"\nAn intended change of a view: `{RECORD} --refresh-views NAME`, and review the diff."
    )
