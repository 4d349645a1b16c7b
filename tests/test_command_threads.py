"""The commands' worker threads (`runtime.threads`): what `asyncio.to_thread` gave the server,
kept: off the event loop, in the caller's context, errors to the caller, a bounded number at once,
and a caller that gives up does not stop the command or the threads."""

import asyncio
import threading
import time
from contextvars import ContextVar

import pytest

from runtime.threads import CommandThreads

WHO: ContextVar[str] = ContextVar("WHO", default="nobody")


def test_a_call_runs_off_the_event_loop_in_the_callers_context() -> None:
    threads = CommandThreads(2)

    def command(n: int) -> tuple[int, str, bool]:
        seen = WHO.get()
        WHO.set("changed by the command")
        return n * 2, seen, threading.current_thread() is threading.main_thread()

    async def scenario() -> None:
        WHO.set("the request")
        assert await threads.run(command, 21) == (42, "the request", False)
        assert WHO.get() == "the request"  # the command's own changes stay in its copy

    asyncio.run(scenario())
    threads.stop()


def test_an_error_reaches_the_caller_and_the_thread_goes_on() -> None:
    threads = CommandThreads(1)

    def fails() -> None:
        raise LookupError("no such agent")

    async def scenario() -> None:
        with pytest.raises(LookupError, match="no such agent"):
            await threads.run(fails)
        assert await threads.run(lambda: "still working") == "still working"

    asyncio.run(scenario())
    threads.stop()


def test_no_more_than_its_size_run_at_once_and_the_rest_wait_their_turn() -> None:
    threads = CommandThreads(2)
    running, most = 0, 0
    lock = threading.Lock()

    def command(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return n

    async def scenario() -> list[int]:
        return await asyncio.gather(*(threads.run(command, n) for n in range(6)))

    assert asyncio.run(scenario()) == list(range(6))
    assert most == 2
    threads.stop()


def test_a_caller_that_gives_up_leaves_the_command_to_finish() -> None:
    """A request cancelled (a client gone) while its save runs: the save still completes, as it
    did under `asyncio.to_thread`, and the thread takes the next call."""
    threads = CommandThreads(1)
    finished = threading.Event()

    def slow_save() -> None:
        time.sleep(0.1)
        finished.set()

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await threads.run(slow_save)
        assert await threads.run(lambda: "next") == "next"

    asyncio.run(scenario())
    assert finished.is_set()
    threads.stop()


def test_a_call_whose_caller_gave_up_before_it_started_never_runs() -> None:
    """As under `asyncio.to_thread`: a command still waiting for a thread when its caller is
    cancelled (a client gone, a server stopping its drives) is dropped, not run later."""
    threads = CommandThreads(1)
    release, ran = threading.Event(), []

    async def scenario() -> None:
        busy = threads.run(release.wait)
        waiting = threads.run(ran.append, "late write")
        waiting.cancel()
        release.set()
        await busy
        assert await threads.run(lambda: "next") == "next"

    asyncio.run(scenario())
    assert ran == []
    threads.stop()


def test_calls_after_stop_are_refused_not_left_waiting() -> None:
    threads = CommandThreads(1)

    async def scenario() -> None:
        assert await threads.run(lambda: 1) == 1
        threads.stop()
        with pytest.raises(RuntimeError, match="stopped"):
            threads.run(lambda: 2)

    asyncio.run(scenario())
