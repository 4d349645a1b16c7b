"""Idle agents for benchmarks: through the API, or in bulk with the server stopped.

Through the API an agent costs a request, its save, and every view applying its three events (a
user's `Owned`, the agent's `Created`, its name claim) in a transaction each, before the next
write of that user: ~20 agents/s on two shared cores. In bulk the same events are saved by the
application's own `create_agent`, in this process, and then applied by the views' own rules
(`View.statements`) a thousand log positions to a transaction, each view's tracking row moved to
the head in the same transaction: what the server's runners would have written, without a
commit per event per view. It needs the server stopped (its runners own the views while it
runs): ~130 agents/s, most of it `create_agent` loading the owning user.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg import sql

from domain.services.app import CommandGroups, MemGPT
from projections.base import tracking_table
from projections.runner import VIEWS
from runtime.database import eventsourcing_env

PER_USER = 10  # agents of one user: creating one loads its user, whose log grows with each
APPLICATION = "memgpt"  # the application name the runners track their positions under
BATCH = 1000  # log positions applied to the views in one transaction


async def through_api(
    url: str, password: str, count: int, create: Callable[[httpx.AsyncClient, str], Awaitable[Any]], width: int = 16
) -> float:
    """`count` agents, PER_USER to a new user, `width` users at a time (one user's creations
    are sequential: concurrent ones would conflict on the user and retry). Returns seconds."""
    began = time.perf_counter()
    gate = asyncio.Semaphore(width)
    auth = {"Authorization": f"Bearer {password}"}
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=300.0) as admin:

        async def one_user(first: int) -> None:
            async with gate:
                r = await admin.post("/admin/users", json={})
                r.raise_for_status()
                headers = {"Authorization": f"Bearer {r.json()['api_key']}"}
                async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300.0) as c:
                    for i in range(first, min(first + PER_USER, count)):
                        await create(c, f"Idle{i}")

        await asyncio.gather(*(one_user(first) for first in range(0, count, PER_USER)))
    return time.perf_counter() - began


def in_bulk(dsn: str, count: int, like: UUID) -> float:
    """`count` agents with the configuration of agent `like`, saved and projected in this
    process; the server must be stopped. Returns seconds."""
    began = time.perf_counter()
    store = MemGPT(env=eventsourcing_env(dsn))
    try:
        app = CommandGroups.on(store)
        model = store.repository.get(like)
        for first in range(0, count, PER_USER):
            user, _ = app.accounts.create_user(None, "bench")
            for i in range(first, min(first + PER_USER, count)):
                app.agents.create_agent(
                    user, f"Bulk{i}", "memgpt_chat", "sam_pov", "basic", model.llm_config, model.embedding_config
                )
        project(dsn, store)
    finally:
        store.close()
    return time.perf_counter() - began


def project(dsn: str, store: MemGPT) -> None:
    """Bring every view to the head of the log with its own rules, in batches; each event is
    decoded once for all the views."""
    with psycopg.connect(dsn) as conn:
        positions = {view: tracked(conn, view.name) for view in VIEWS}
        after = min(positions.values())
        while batch := store.recorder.select_notifications(after + 1, BATCH):
            events = [(n.id, store.mapper.to_domain_event(n)) for n in batch]
            with conn.transaction(), conn.pipeline(), conn.cursor() as cur:
                for view, position in positions.items():
                    for at, event in events:
                        if at > position:
                            for query, params in view.statements(event, at):
                                cur.execute(query, params)
                    track(cur, view.name, batch[-1].id)
            after = batch[-1].id
            positions = dict.fromkeys(positions, after)


def tracked(conn: psycopg.Connection[Any], view: str) -> int:
    query = sql.SQL("SELECT notification_id FROM {} WHERE application_name = %s").format(tracking_table(view))
    row = conn.execute(query, (APPLICATION,)).fetchone()
    return int(row[0]) if row else 0


def track(cur: psycopg.Cursor[Any], view: str, position: int) -> None:
    query = sql.SQL(
        "INSERT INTO {} VALUES (%s, %s) ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id"
    ).format(tracking_table(view))
    cur.execute(query, (APPLICATION, position))
