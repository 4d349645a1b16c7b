"""The embedded model's child process, supervised: started on first use, watched, restarted.

llama.cpp runs native code that can fault (a CPU it was not built for, a bad GGUF, the OOM
killer); in the server's own process that would end every request and stream at once. So it runs
in `runtime.adapters.embedded_child`, a child of this process that serves llama.cpp's HTTP API on a Unix
socket in `$MEMGPT_HOME/run` (a directory only the server's user may enter). Nothing is started
until an agent of the embedded model takes a turn, so servers that never use it never load it.

When the child dies, the request it was answering fails with `LLMUnavailable` (the turn ends with
a clear `internal_error`), the death is logged with the child's log file, and a new child is
started at once, so the next message is answered. Generations go one at a time (a lock here, and
one slot in llama.cpp): a conversation's cached prompt stays in the slot between its steps, and a
crash fails only the request in flight; the queued ones wait for the restart.
"""

import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import structlog

from runtime.adapters.llm import LLMUnavailable

log = structlog.get_logger(__name__)

START_TIMEOUT = 600.0  # loading 1.1 GB from a cold disk on a slow, busy machine
ANSWER_TIMEOUT = 1800.0  # one step: a safety net for a wedged child, far beyond a busy machine's slowest step
QUICK_DEATH = 10.0  # a child that dies this soon after loading is not restarted until next used
MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 107 bytes
STOPPED = "The embedded model stopped while answering; it is being restarted."


def _threads() -> int:
    """All the cores this process may use, up to 8 (a 1.5B model gains nothing from more)."""
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ModelProcess:
    """One child running llama.cpp's server for this process; `post` sends it a request."""

    def __init__(self, gguf: Callable[[], Path], run_dir: Path, n_ctx: int, threads: int | None = None) -> None:
        self._gguf = gguf  # finds (or assembles) the model file; blocking, so run in a thread
        self._run_dir = run_dir
        self._n_ctx = n_ctx
        self._threads = threads or _threads()
        self._proc: asyncio.subprocess.Process | None = None
        self._client: httpx.AsyncClient | None = None
        self._ready_at = 0.0
        self._starting: asyncio.Task[httpx.AsyncClient] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._socket_path: Path | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The running child's pid (None before first use or while restarting)."""
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    @property
    def log_path(self) -> Path:
        return self._run_dir / f"embedded-{os.getpid()}.log"

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request to the model, after those queued before it; `LLMUnavailable` if the child
        cannot start, dies while answering or does not answer in time."""
        async with self._lock:
            client = await self._ready()
            proc = self._proc
            try:
                response = await client.post(path, content=orjson.dumps(body), timeout=ANSWER_TIMEOUT)
            except httpx.TimeoutException:
                log.error("embedded.timeout", seconds=ANSWER_TIMEOUT, pid=self.pid)
                await self._reap(proc, kill=True)  # wedged: a fresh one is started
                raise LLMUnavailable(
                    f"The embedded model did not answer within {ANSWER_TIMEOUT:.0f} s; it is being restarted."
                ) from None
            except httpx.TransportError:
                # Seen dead before the lock goes to the next request, which then waits for the restart.
                await self._reap(proc, kill=False)
                raise LLMUnavailable(STOPPED) from None
        if response.status_code != 200:
            raise LLMUnavailable(
                f"The embedded model refused the request: HTTP {response.status_code} {response.text[:300]}"
            )
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise LLMUnavailable("The embedded model answered with something that is not JSON.") from None
        if isinstance(answer, dict) and isinstance(timings := answer.get("timings"), dict):
            # where a step's time goes: what was evaluated of the prompt (the rest came from the
            # cache) and what was generated, each with its pace
            log.info(
                "embedded.timings",
                prompt_tokens=timings.get("prompt_n"),
                prompt_ms=round(timings.get("prompt_ms") or 0),
                cached_tokens=timings.get("cache_n"),
                generated_tokens=timings.get("predicted_n"),
                generated_ms=round(timings.get("predicted_ms") or 0),
            )
        return answer

    async def close(self) -> None:
        """Stop the child (it has nothing to save) and remove its socket."""
        self._closed = True
        for task in (self._starting, self._watch):
            if task and not task.done():
                task.cancel()
        proc, client = self._proc, self._client
        self._proc = self._client = None
        if proc and proc.returncode is None:
            proc.kill()
            await proc.wait()
        if client:
            await client.aclose()
        if self._socket_path:
            self._socket_path.unlink(missing_ok=True)
            if self._socket_path.parent != self._run_dir:
                shutil.rmtree(self._socket_path.parent, ignore_errors=True)

    async def _ready(self) -> httpx.AsyncClient:
        if self._closed:
            raise LLMUnavailable("The embedded model is shut down with the server.")
        if self._client is not None:
            return self._client
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self._start(), name="embedded-start")
            self._starting.add_done_callback(_quiet)
        # shielded: a turn given up while the model loads does not abort the load for the next one
        return await asyncio.shield(self._starting)

    def _socket(self) -> Path:
        """`run/embedded-<pid>.sock` in a directory only this user may enter, or a private
        temporary directory when the data directory's path is too long for a Unix socket."""
        self._run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self._run_dir, 0o700)
        for stale in self._run_dir.glob("embedded-*"):  # left by servers that were killed
            pid = stale.name.removeprefix("embedded-").split(".")[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                stale.unlink(missing_ok=True)
        if self._socket_path is None:
            wanted = self._run_dir / f"embedded-{os.getpid()}.sock"
            if len(str(wanted)) <= MAX_SOCKET_PATH:
                self._socket_path = wanted
            else:
                self._socket_path = Path(tempfile.mkdtemp(prefix="memgpt-")) / "embedded.sock"
        self._socket_path.unlink(missing_ok=True)
        return self._socket_path

    async def _start(self) -> httpx.AsyncClient:
        gguf = await asyncio.to_thread(self._gguf)
        socket = self._socket()
        began = time.monotonic()
        with self.log_path.open("ab") as child_log:
            # Spawned from the event loop's thread, which lives as long as the server: the
            # child's PR_SET_PDEATHSIG fires when the thread that forked it ends.
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "runtime.adapters.embedded_child",
                "--model",
                str(gguf),
                "--socket",
                str(socket),
                "--parent",
                str(os.getpid()),
                "--ctx",
                str(self._n_ctx),
                "--threads",
                str(self._threads),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=child_log,
            )
        log.info("embedded.starting", pid=proc.pid, model=str(gguf), threads=self._threads)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            line = b""
            log.error("embedded.load_timeout", pid=proc.pid, seconds=START_TIMEOUT)
        except BaseException:  # the server stopping meanwhile: no half-started child left behind
            proc.kill()
            raise
        if not line.startswith(b"ready"):
            proc.kill()
            code = await proc.wait()
            log.error("embedded.failed_to_start", pid=proc.pid, exit=code, log=str(self.log_path))
            raise LLMUnavailable(f"The embedded model could not start (exit status {code}); see {self.log_path}.")
        self._proc, self._ready_at = proc, time.monotonic()
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(socket)),
            base_url="http://embedded",
            headers={"Content-Type": "application/json"},
        )
        self._watch = asyncio.create_task(self._watch_child(proc), name="embedded-watch")
        log.info("embedded.ready", pid=proc.pid, seconds=round(self._ready_at - began, 1))
        return self._client

    async def _watch_child(self, proc: asyncio.subprocess.Process) -> None:
        await proc.wait()
        self._lost(proc)

    async def _reap(self, proc: asyncio.subprocess.Process | None, kill: bool) -> None:
        """Wait for a child whose connection broke to be gone (ending it if it lingers)."""
        if proc is None:
            return
        if kill:
            proc.kill()
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), 5.0)
        except TimeoutError:  # alive, yet its connection broke: not to be trusted with the next turn
            proc.kill()
            await proc.wait()
        self._lost(proc)

    def _lost(self, proc: asyncio.subprocess.Process) -> None:
        """The child is gone: forget it and start a new one (once; idempotent)."""
        if self._closed or proc is not self._proc:
            return
        client, self._proc, self._client = self._client, None, None
        if client:
            asyncio.create_task(client.aclose())
        # exit < 0: the signal that ended it
        log.error("embedded.died", pid=proc.pid, exit=proc.returncode, log=str(self.log_path))
        if time.monotonic() - self._ready_at < QUICK_DEATH:
            return  # dies as soon as it runs: start it again only when it is next needed
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self._start(), name="embedded-restart")
            self._starting.add_done_callback(_quiet)


def _quiet(task: asyncio.Task[Any]) -> None:
    """A start nobody waits for any more may fail; the next request tries again and reports it."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("embedded.start_failed", error=str(task.exception()))
