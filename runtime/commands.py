"""Runs application commands off the event loop and waits for the views to show their effect.

A command is acknowledged only after its events are committed (the library returns from `save`
after the commit). While the database is away a command is refused at once with `DatabaseAway`
(503): the library would otherwise retry each statement ten times before giving up.

A write waits for its views a bounded time (`MEMGPT_VIEW_WAIT`). If they have not applied it by
then, the write still stands (it is in the log, and the views will apply it): the response is
the usual success, and `views_lagging()` says so (the HTTP edge answers `X-Views-Lag: true`: a
read made at once may not show it yet).
"""

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from domain.services.app import LAST_POSITION
from projections.watch import ProjectionWatch
from runtime.database import DatabaseAway
from runtime.metrics import Metrics

R = TypeVar("R")

# Set when this request's write outlived its wait for the views; read by `views_lagging`.
_LAGGING: ContextVar[bool] = ContextVar("views_lagging", default=False)


class Commands:
    def __init__(self, watch: ProjectionWatch, wait_seconds: float, metrics: Metrics) -> None:
        self._watch = watch
        self._wait = wait_seconds
        self._metrics = metrics

    async def __call__(self, command: Callable[..., R], *args: Any) -> R:
        """Run `command(*args)`, then wait until every view has applied the events it saved, so
        the caller's next read sees them."""
        result, position = await self.positioned(command, *args)
        await self.caught_up(position)
        return result

    async def positioned(self, command: Callable[..., R], *args: Any) -> tuple[R, int]:
        """Run `command(*args)` in a worker thread (the library is synchronous), timed as a save;
        returns its result and the log position of what it saved."""
        if not self._watch.connected:
            raise DatabaseAway("The projection watch has lost its database connection.")

        def run() -> tuple[R, int]:
            return command(*args), LAST_POSITION.get()

        return await self._metrics.save(run, name=getattr(command, "__name__", "command"))

    async def caught_up(self, position: int) -> bool:
        """Wait (at most the configured time) until every view has applied the log up to
        `position`; False, and the response marked as lagging, if they had not by then."""
        if not position or await self._watch.wait_for(position, self._wait):
            return True
        _LAGGING.set(True)
        return False


def views_lagging() -> bool:
    """Whether a write of the current request (context) outlived its wait for the views."""
    return _LAGGING.get()
