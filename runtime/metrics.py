"""The server's Prometheus metrics: defined here, recorded by the parts that see them happen.

`bootstrap` makes one `Metrics` per server, with a registry of its own rather than the process's
default one, so that several servers in one process (the in-process tests) do not clash; it hands
them to the collaborators that record them. What is cheaper to read than to track (how far the
views and the log tail trail the log, queued turns, running drives, open streams) is read when
the metrics are scraped. Every label value comes from the code (a stage, a command's name, a route
template), never from a request, so no tenant can add series.
"""

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from domain.step import Reply
from projections.backlog import Backlog
from projections.runner import VIEW_NAMES
from runtime.adapters.llm import ChatModel, ModelSource
from runtime.threads import CommandThreads

R = TypeVar("R")

# Seconds, from a quick save to a turn of a slow model (the embedded one's first reply takes ~30 s).
_SLOW = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# The turn stage each of the runner's commands is (its other saves are counted as saves only).
_STAGES = {"start_next_turn": "start", "record_step": "step_save", "end_turn": "end"}
# Queued turns remembered until they start; those another process starts are never seen starting.
_QUEUED_KEPT = 10_000


class Metrics:
    """The metrics of one server, in its own registry, and the few helpers that record them."""

    def __init__(self, threads: CommandThreads | None = None) -> None:
        self.threads = threads or CommandThreads()  # where `save` runs commands
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_*: CPU, memory, open files
        self.turn_stages = Histogram(
            "memgpt_turn_stage_seconds",
            "Turns by stage: queued (TurnQueued to TurnStarted), start, model (each call), step_save, end, turn",
            ["stage"],
            buckets=_SLOW,
            registry=r,
        )
        self.model_calls = Histogram(
            "memgpt_model_call_seconds",
            "Model calls of the turn runner, retries and back-off included",
            ["call", "outcome"],
            buckets=_SLOW,
            registry=r,
        )
        self.model_retries = Counter(
            "memgpt_model_retries", "Model requests retried, by what failed", ["reason"], registry=r
        )
        self.saves = Histogram(
            "memgpt_command_save_seconds",
            "Application commands (load, decide, save; in a worker thread), by command",
            ["command", "outcome"],
            registry=r,
        )
        self.http_requests = Counter(
            "memgpt_http_requests",
            "HTTP responses by method, route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.view_lag = Gauge(
            "memgpt_view_lag_events", "Events of the log a view has not applied", ["view"], registry=r
        )
        self.tail_lag = Gauge(
            "memgpt_log_tail_lag_events", "Events of the log the log tail has not delivered", registry=r
        )
        self.turns_queued = Gauge(
            "memgpt_turns_queued", "Turns waiting to run (agents view, every process)", registry=r
        )
        self.turns_running = Gauge("memgpt_turns_running", "Agents this process's turn runner is driving", registry=r)
        self.open_streams = Gauge("memgpt_open_streams", "Server-sent event streams open in this process", registry=r)
        self._queued_at: dict[UUID, datetime] = {}

    async def save(self, command: Callable[..., R], *args: Any, name: str | None = None) -> R:
        """`command(*args)` in a worker thread (the library is synchronous), observed as a save of
        `name` (the command's own by default) and, for the runner's commands, as their turn stage:
        one place, so that the API's saves and the runner's are timed alike. The time includes the
        wait for a worker thread, since a busy pool slows every save."""
        name = name or getattr(command, "__name__", "command")
        started, done, result = time.perf_counter(), False, None
        try:
            result = await self.threads.run(command, *args)
            done = True
            return result
        finally:
            seconds = time.perf_counter() - started
            self.saves.labels(name, "ok" if done else "error").observe(seconds)
            stage = _STAGES.get(name)
            if done and stage and not (stage == "start" and result is None):  # None: no queued turn to start
                self.turn_stages.labels(stage).observe(seconds)

    def turn_queued(self, turn_id: UUID, at: datetime) -> None:
        """A turn was queued at `at` (its TurnQueued event, as the log tail delivered it)."""
        if len(self._queued_at) >= _QUEUED_KEPT:
            del self._queued_at[next(iter(self._queued_at))]
        self._queued_at[turn_id] = at

    def turn_started(self, turn_id: UUID, at: datetime) -> None:
        """The turn started at `at` (its TurnStarted event): it waited since it was queued. A turn
        queued before this process followed the log (or while its tail was away) is not timed."""
        queued = self._queued_at.pop(turn_id, None)
        if queued is not None:
            self.turn_stages.labels("queued").observe(max(0.0, (at - queued).total_seconds()))

    def model_retried(self, reason: str) -> None:
        """For `Retry`: a model request is tried again after `reason` (an HTTP status or error class)."""
        self.model_retries.labels(reason).inc()

    @contextmanager
    def model_call(self, call: str) -> Iterator[None]:
        """Times the block as one model call (`error` if it raised) and as a turn's `model` stage."""
        started, outcome = time.perf_counter(), "error"
        try:
            yield
            outcome = "ok"
        finally:
            seconds = time.perf_counter() - started
            self.model_calls.labels(call, outcome).observe(seconds)
            self.turn_stages.labels("model").observe(seconds)

    def show_backlog(self, backlog: Backlog | None, tail_position: int) -> None:
        """Sets the gauges read at scrape time from `backlog`; NaN (unknown) without one, when the
        database could not be read: the rest of the metrics are served all the same."""
        unknown = math.nan
        for view in VIEW_NAMES:
            self.view_lag.labels(view).set(max(0, backlog.head - backlog.positions[view]) if backlog else unknown)
        self.tail_lag.set(max(0, backlog.head - tail_position) if backlog else unknown)
        self.turns_queued.set(backlog.queued_turns if backlog else unknown)


class TimedModels:
    """The runner's models, whose every call is observed as a model call and a turn's `model` stage."""

    def __init__(self, models: ModelSource, metrics: Metrics) -> None:
        self._models = models
        self._metrics = metrics

    def for_agent(self, llm_config: dict[str, Any]) -> ChatModel:
        return _TimedChat(self._models.for_agent(llm_config), self._metrics)


class _TimedChat:
    def __init__(self, model: ChatModel, metrics: Metrics) -> None:
        self._model = model
        self._metrics = metrics

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Reply:
        with self._metrics.model_call("complete"):
            return await self._model.complete(messages, tools)

    async def summarize(self, messages: list[dict[str, Any]]) -> str:
        with self._metrics.model_call("summarize"):
            return await self._model.summarize(messages)

    def body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        return self._model.body(messages, tools)

    def count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        return self._model.count_tokens(messages, tools)
