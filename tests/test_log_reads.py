"""Reads of the log after a position stay index reads once the log has grown: a plan made while
the log was small (a fresh database, before any ANALYZE) must not be kept for later reads."""

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any, Protocol

import psycopg
import pytest

import migrations
from projections import log_reads
from tests.support import fresh_database

AGENT = uuid.uuid4()
_SCANS = "SELECT pg_stat_get_xact_numscans('memgpt_events'::regclass)"  # in the open transaction


class Reader(Protocol):
    def read(self, position: int) -> int: ...
    def whole_log_scans(self) -> int: ...
    def close(self) -> None: ...


class ViewsReader:
    """The views' catch-up read, on a connection whose transaction stays open."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn)

    def read(self, position: int) -> int:
        return len(log_reads.after(self.conn, position))

    def whole_log_scans(self) -> int:
        row = self.conn.execute(_SCANS).fetchone()
        return int(row[0]) if row else -1

    def close(self) -> None:
        self.conn.close()


class TailReader:
    """The log tail's two reads (after a position; one agent's, in a range), the same way."""

    def __init__(self, dsn: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(psycopg.AsyncConnection.connect(dsn))

    def read(self, position: int) -> int:
        async def both() -> int:
            after = await log_reads.after_async(self.conn, position)
            return len(after) + len(await log_reads.of_agent(self.conn, AGENT, position, position + 10))

        return self.loop.run_until_complete(both())

    def whole_log_scans(self) -> int:
        async def scans() -> int:
            row = await (await self.conn.execute(_SCANS)).fetchone()
            return int(row[0]) if row else -1

        return self.loop.run_until_complete(scans())

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


@pytest.fixture
def log_dsn(admin_dsn: str) -> Iterator[str]:
    dsn = fresh_database(admin_dsn)
    migrations.apply(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:  # an ANALYZE mid-test would replan anyway
        conn.execute("ALTER TABLE memgpt_events SET (autovacuum_enabled = off)")
    yield dsn


def _append(conn: psycopg.Connection[Any], count: int) -> int:
    """`count` events of one agent; returns the log's head."""
    rows = conn.execute(
        "INSERT INTO memgpt_events (originator_id, originator_version, topic, state)"
        " SELECT %s, coalesce((SELECT max(originator_version) FROM memgpt_events), 0) + g, 'memgpt.Agent.Test', convert_to(repeat('x', 1500), 'UTF8')"
        " FROM generate_series(1, %s) g RETURNING notification_id",
        (AGENT, count),
    ).fetchall()
    return max(r[0] for r in rows)


@pytest.mark.parametrize("make", [ViewsReader, TailReader], ids=["views", "tail"])
def test_reads_after_a_position_scan_no_whole_log_once_it_has_grown(log_dsn: str, make: type[Reader]) -> None:
    reader = make(log_dsn)  # type: ignore[call-arg]
    try:
        with psycopg.connect(log_dsn, autocommit=True) as writer:
            _append(writer, 10)
            for _ in range(12):  # a small log: scanning it whole is its cheapest read, and a
                reader.read(0)  # prepared statement would keep that plan from its sixth run on
            head = _append(writer, 3_000)
        before = reader.whole_log_scans()
        for n in range(20):
            assert reader.read(head - 5 - n) >= 5  # the read sees the new events
        assert reader.whole_log_scans() == before
    finally:
        reader.close()
