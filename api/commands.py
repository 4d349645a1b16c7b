"""Runs application commands off the event loop and waits for the views to show their effect."""

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from domain.app import LAST_POSITION
from projections.watch import ProjectionWatch

R = TypeVar("R")


class Commands:
    def __init__(self, watch: ProjectionWatch, wait_seconds: float) -> None:
        self._watch = watch
        self._wait = wait_seconds

    async def __call__(self, command: Callable[..., R], *args: Any) -> R:
        """Run `command(*args)` in a worker thread (the library is synchronous), then wait until
        every view has applied the events it saved, so the caller's next read sees them."""

        def run() -> tuple[R, int]:
            result = command(*args)
            return result, LAST_POSITION.get()

        result, position = await asyncio.to_thread(run)
        await self.caught_up(position)
        return result

    async def caught_up(self, position: int) -> None:
        """Wait until every view has applied the log up to `position`."""
        if position:
            await self._watch.wait_for(position, self._wait)
