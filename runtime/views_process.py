"""The views in a process of their own, beside the server's.

Applying the log to the views took a fifth of the server's GIL time, in a thread that took turns
at the GIL with the requests and the turn runner. In a child process it runs on another core:
at 16 agents on two cores, 96–114 → 129–133 turns/s (`ops/bench/cpu_per_turn.py`).

`ViewsProcess.start` runs `python -m runtime.views_process --parent PID` (the DSN in
`MEMGPT_VIEWS_DSN`: a password in it would show in `ps`) and waits until the child says `held`:
it holds the views' lock (`projections.runner.ProjectionHost`). The server's own projection thread
is started after it and stays a standby: if the child dies, the thread takes the lock within a
retry. The child ends with the server (`runtime.children`).
"""

import argparse
import asyncio
import os
import signal
import sys
import threading

import structlog

DSN_VARIABLE = "MEMGPT_VIEWS_DSN"
HELD_TIMEOUT = 15.0  # seconds for the child to start and take the views' lock

log = structlog.get_logger(__name__)


class ViewsProcess:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> bool:
        """Start the child; True once it holds the views. False if it did not within
        `HELD_TIMEOUT`: another server holds them (the child stays as a standby) or it failed
        (then the server's own thread applies them)."""
        # Spawned from the event loop's thread, which lives as long as the server: the child's
        # PR_SET_PDEATHSIG fires when the thread that forked it ends.
        self._proc = proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runtime.views_process",
            "--parent",
            str(os.getpid()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=os.environ | {DSN_VARIABLE: self._dsn},
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), HELD_TIMEOUT)
        except TimeoutError:
            line = b""
        held = line.strip() == b"held"
        log.info("projection.process_started", pid=proc.pid, held=held, exit=proc.returncode)
        return held

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()  # the child exits on EOF
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def main(argv: list[str] | None = None) -> None:
    from domain.services.app import MemGPT
    from projections.runner import ProjectionHost
    from runtime import logs
    from runtime.children import die_with_parent
    from runtime.database import eventsourcing_env

    parser = argparse.ArgumentParser(prog="python -m runtime.views_process")
    parser.add_argument("--parent", type=int, required=True, help="the server's pid")
    args = parser.parse_args(argv)
    die_with_parent(args.parent)
    logs.configure(os.environ.get("MEMGPT_LOG_LEVEL", "info"))
    dsn = os.environ.pop(DSN_VARIABLE)
    store = MemGPT(env=eventsourcing_env(dsn))  # for its mapper: how events are read back
    told = threading.Event()

    def held() -> None:  # said once: nobody reads a second line, and a full pipe would block
        if not told.is_set():
            told.set()
            sys.stdout.write("held\n")
            sys.stdout.flush()

    host = ProjectionHost(dsn, store.mapper, on_held=held)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    host.start()
    while not stopping.wait(1.0):
        pass
    host.stop()
    store.close()


if __name__ == "__main__":
    main()
