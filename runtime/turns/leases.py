"""Leases: one runner per agent across processes, with no connection held while a turn runs.

A lease is a row (migrations/0010_turn_leases.sql) that names its owner and when it expires. A
runner claims an agent's lease, or takes it over once it expired; renews every lease it holds in
one statement, a few times per lease term; and deletes it when the agent has no more work. A
runner killed with -9 stops renewing, so its leases expire and another runner takes over. Each
statement borrows a pooled connection for milliseconds only.
"""

from uuid import UUID, uuid4

from psycopg_pool import AsyncConnectionPool


class Leases:
    def __init__(self, pool: AsyncConnectionPool, seconds: float) -> None:
        self._pool = pool
        self.seconds = seconds
        self.owner = uuid4()  # this runner; a restarted process is a new owner

    async def claim(self, agent_id: UUID) -> bool:
        """True if this runner now holds the agent's lease (new, expired, or already its own)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO turn_leases AS l (agent_id, owner, expires_at)"
                " VALUES (%s, %s, now() + make_interval(secs => %s))"
                " ON CONFLICT (agent_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at"
                " WHERE l.expires_at < now() OR l.owner = excluded.owner RETURNING agent_id",
                (agent_id, self.owner, self.seconds),
            )
            return await cur.fetchone() is not None

    async def renew(self, agent_ids: list[UUID]) -> set[UUID]:
        """Extends the given leases; returns those this runner still holds."""
        if not agent_ids:
            return set()
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE turn_leases SET expires_at = now() + make_interval(secs => %s)"
                " WHERE owner = %s AND agent_id = ANY(%s) RETURNING agent_id",
                (self.seconds, self.owner, agent_ids),
            )
            return {row[0] for row in await cur.fetchall()}

    async def release(self, agent_id: UUID) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM turn_leases WHERE agent_id = %s AND owner = %s", (agent_id, self.owner))
