"""Worker threads for the commands, cheaper to hand work to than `asyncio.to_thread`.

The event store is synchronous, so every save runs in a thread. `asyncio.to_thread` goes through
`ThreadPoolExecutor.submit`: two locks, a `concurrent.futures.Future` with its own condition, a
semaphore, and an asyncio future chained to that one. Here a call is one put on a queue that
idle threads wait on, and one `call_soon_threadsafe` back with the result. As with `to_thread`,
a call whose caller gave up before a thread took it never runs; one already running finishes.
"""

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

R = TypeVar("R")

# Python's default for `asyncio.to_thread`'s executor, which commands used, but at most 8: a saving
# command holds one of the event store's pooled connections (5, and 10 more under load, waited for
# a second at most), which the other threads' reads share.
COMMAND_THREADS = min(8, (os.cpu_count() or 1) + 4)

_Call = tuple[asyncio.Future[Any], contextvars.Context, Callable[..., Any], tuple[Any, ...]]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled meanwhile: the command ran all the same
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class CommandThreads:
    """`size` daemon threads, started on first use, running calls in the caller's context."""

    def __init__(self, size: int = COMMAND_THREADS) -> None:
        self._size = size
        self._calls: SimpleQueue[_Call | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = False

    def run(self, function: Callable[..., R], *args: Any) -> "asyncio.Future[R]":
        """`function(*args)` in a worker thread, in a copy of the caller's context (as
        `asyncio.to_thread`: its contextvars, the request's audit cause among them)."""
        if self._stopped:
            raise RuntimeError("The command threads have stopped.")
        if len(self._threads) < self._size:
            self._start()
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._calls.put((future, contextvars.copy_context(), function, args))
        return future

    def stop(self) -> None:
        """Let each thread finish what it runs and end; later calls are refused."""
        self._stopped = True
        for _ in self._threads:
            self._calls.put(None)

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self._size:
                thread = threading.Thread(target=self._work, name=f"command-{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            future, context, function, args = call
            if not future.cancelled():  # its caller gave up before it started: it never runs
                self._answer(future, context, function, args)
            del call, future, context, function, args  # nothing of it kept while this thread waits

    @staticmethod
    def _answer(
        future: asyncio.Future[Any], context: contextvars.Context, function: Callable[..., Any], args: tuple[Any, ...]
    ) -> None:
        result, error = None, None
        try:
            result = context.run(function, *args)
        except BaseException as e:  # noqa: BLE001 - handed to the caller, as to_thread does
            error = e
        try:
            future.get_loop().call_soon_threadsafe(_settle, future, result, error)
        except RuntimeError:  # the loop has closed: nobody waits for the result any more
            pass
