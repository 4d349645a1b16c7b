"""The counts a message is checked against before it is queued (a user's running and queued
turns) read only that user's busy agents: a tenant with thousands of idle agents must not make
each of its messages read every one of them. A key's read brings them along (one read a message)."""

import asyncio
import uuid
from typing import Any

import orjson
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

import migrations
from projections.views import TURNS_OF, Views
from tests.support import fresh_database

IDLE = 3_000


def _agents(
    conn: psycopg.Connection[Any], user_id: uuid.UUID, count: int, queued: int = 0, open_: bool = False
) -> None:
    conn.execute(
        "INSERT INTO view_agents (id, user_id, name, preset, persona_name, human_name, system, functions,"
        " core_memory, llm_config, embedding_config, created_at, queued_turns, turn_open)"
        " SELECT gen_random_uuid(), %s, 'agent' || g, 'p', 'x', 'y', 's', '[]', '{}', '{}', '{}', now(), %s, %s"
        " FROM generate_series(1, %s) g",
        (user_id, queued, open_, count),
    )


def _rows_read(plan: dict[str, Any]) -> int:
    """Rows the scans in an `EXPLAIN (ANALYZE, FORMAT JSON)` plan read, kept or filtered out: what
    each innermost scan found (a bitmap heap scan's rows are its index scan's, counted once), and
    what any scan filtered out."""
    inner = plan.get("Plans", [])
    scan = "Scan" in plan["Node Type"]
    own = (plan.get("Actual Rows", 0) if scan and not inner else 0) + (
        plan.get("Rows Removed by Filter", 0) if scan else 0
    )
    return own + sum(_rows_read(p) for p in inner)


DIGEST = "d" * 64


@pytest.fixture
def counted(admin_dsn: str) -> tuple[str, uuid.UUID]:
    """A user with many idle agents, one running and one with three queued turns; and another
    user with a busy agent of their own."""
    dsn = fresh_database(admin_dsn)
    migrations.apply(dsn)
    user, other = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        _agents(conn, user, IDLE)
        _agents(conn, user, 1, open_=True)
        _agents(conn, user, 1, queued=3)
        _agents(conn, other, 1, queued=2, open_=True)
        conn.execute(
            "INSERT INTO view_keys (key_digest, key_id, user_id, name, masked, created_at)"
            " VALUES (%s, gen_random_uuid(), %s, 'k', 'sk-...', now())",
            (DIGEST, user),
        )
        conn.execute("ANALYZE view_agents")
    return dsn, user


def test_a_users_turn_counts_read_only_their_busy_agents(counted: tuple[str, uuid.UUID]) -> None:
    dsn, user = counted

    async def counts() -> tuple[tuple[int, int], tuple[int, int] | None]:
        async with AsyncConnectionPool(dsn, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
            views = Views(pool)
            key = await views.key(DIGEST)
            return await views.turns_of(user), key.turns if key else None

    assert asyncio.run(counts()) == ((1, 3), (1, 3))
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {TURNS_OF.replace('%s', '%(user)s')}", {"user": user})
        plan = row.fetchone()
    assert plan is not None
    found = plan[0] if isinstance(plan[0], list) else orjson.loads(plan[0])
    assert _rows_read(found[0]["Plan"]) <= 2  # the user's two busy agents, none of the idle ones
