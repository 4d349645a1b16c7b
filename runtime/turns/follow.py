"""Following a turn on the log: the frames of its events, in order, until it ends.

Used by the message routes (JSON and SSE) and by `memgpt run`; it reads the log tail only, never
the runner, so it works the same whichever process runs the turn.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from domain import frames
from runtime.commands import Commands
from runtime.tail import LogTail
from runtime.turns.runner import TurnRunner

KEEPALIVE_SECONDS = 15.0


class TurnTimedOut(Exception):
    """The turn did not end within the server's turn timeout (it goes on; 504 at the HTTP edge)."""


class UnknownEventId(ValueError):
    """A `Last-Event-ID` that names no event of the agent's turns (400 at the HTTP edge)."""


class TurnFollower:
    """Queues turns and follows them on the log."""

    def __init__(
        self, commands: Commands, tail: LogTail, turn_timeout: float, runner: TurnRunner | None = None
    ) -> None:
        self._run = commands
        self._tail = tail
        self._timeout = turn_timeout
        self._runner = runner  # this process's turn runner, if it runs turns

    async def queue(
        self, command: Any, user_id: UUID, agent_id: UUID, *args: Any, opening: Any = None
    ) -> tuple[UUID, int]:
        """Run a command that queues a turn (`command(user_id, agent_id, *args)` returns its id);
        returns the turn and the log position to follow from. With `opening`, a command that
        also opens the turn when it can (`TurnCommands.queue_and_open_turn`), used instead when
        this process's runner holds the agent and waits for work: it takes the agent at once."""
        if self._runner is None:
            return await self._run.positioned(command, user_id, agent_id, *args)
        if opening is None or not self._runner.take_over(agent_id):
            turn_id, position = await self._run.positioned(command, user_id, agent_id, *args)
            self._runner.wake(agent_id, turn_id)
            return turn_id, position
        turn_id, agent = None, None
        try:
            (turn_id, agent), position = await self._run.positioned(opening, user_id, agent_id, *args)
        finally:
            self._runner.hand_over(agent_id, turn_id, agent)
        return turn_id, position

    async def events(
        self, agent_id: UUID, turn_id: UUID, after: int
    ) -> AsyncIterator[tuple[int, list[dict[str, str]]] | None]:
        """(position, frames) for each event of the turn, None as a keep-alive tick."""
        async for item in self._tail.events(agent_id, after, KEEPALIVE_SECONDS):
            if item is None:
                yield None
                continue
            position, event = item
            if frames.turn_of(event) == turn_id or frames.ends_turn(event, turn_id):
                yield position, [f.to_json() for f in frames.frames(event)]
                if frames.ends_turn(event, turn_id):
                    return

    async def collect(self, agent_id: UUID, turn_id: UUID, after: int) -> list[dict[str, str]]:
        """The turn's frames once it ended; the views have caught up with it by then, so the
        caller's next read (memory, history) already shows what the turn did."""
        collected: list[dict[str, str]] = []
        last = after

        async def gather() -> None:
            nonlocal last
            async for item in self.events(agent_id, turn_id, after):
                if item is not None:
                    last = item[0]
                    collected.extend(item[1])

        try:
            async with asyncio.timeout(self._timeout):
                await gather()
        except TimeoutError:
            raise TurnTimedOut("The turn did not finish in time; it goes on, see the history.") from None
        await self._run.caught_up(last)
        return collected

    async def turn_at(self, agent_id: UUID, position: int) -> UUID:
        """The turn an earlier event (a `Last-Event-ID`) belongs to."""
        event = await self._tail.event_at(agent_id, position)
        turn = frames.turn_of(event) if event is not None else None
        if turn is not None:
            return turn
        raise UnknownEventId("Last-Event-ID does not name an event of this agent's turns.")
