"""The turn runner: answers queued messages, one turn at a time per agent, across processes.

It follows the log tail for queued turns and sweeps the agents view for agents with work (at
start, and every few seconds, which also picks up agents whose runner died). A lease per agent
(`runtime.turns.leases`) makes one process at most run an agent's turns without holding a database
connection while a model answers; a turn a crash interrupted is closed as failed by the next
runner, once the dead runner's lease expired, before it opens the next one.
"""

import asyncio
import contextvars
import time
from dataclasses import replace
from typing import Any
from uuid import UUID

import structlog

from domain import chunks, prompt, step
from domain.agents import Agent
from domain.configs import EmbeddingConfig, LLMConfig
from domain.errors import DomainError
from domain.services.turns import TurnCommands
from projections.views import Views
from runtime.adapters.embeddings import EmbedderSource
from runtime.adapters.llm import ChatModel, LLMUnavailable, ModelSource
from runtime.database import UNAVAILABLE
from runtime.metrics import Metrics
from runtime.tail import LogTail
from runtime.turns.leases import Leases
from runtime.turns.memories import Memories

log = structlog.get_logger(__name__)

Prompt = tuple[list[dict[str, Any]], list[dict[str, Any]]]  # (messages, tools), as sent to the model


def _prompt(agent: Agent) -> Prompt:
    return prompt.chat_messages(agent), prompt.tools(agent)


SWEEP_SECONDS = 3.0
RENEWALS_PER_TERM = 3  # leases are renewed this many times per lease term
_WOKEN_KEPT = 10_000
# How long an idle drive keeps its agent's lease, waiting for the next message. Longer than a
# conversation's pause under load: at 2 s, a third of 64 busy agents' drives had let go before
# their next message came, and each such turn cost a lease claim, a release and a save more.
LINGER_SECONDS = 10.0


class TurnRunner:
    def __init__(
        self,
        turns: TurnCommands,
        tail: LogTail,
        views: Views,
        leases: Leases,
        models: ModelSource,
        memories: Memories,
        embedders: EmbedderSource,
        metrics: Metrics,
    ) -> None:
        self._turns = turns
        self._embedders = embedders
        self._tail = tail
        self._views = views
        self._leases = leases
        self._models = models
        self._memories = memories
        self._metrics = metrics
        self._active: dict[UUID, asyncio.Task[None]] = {}
        self._again: set[UUID] = set()
        self._held: set[UUID] = set()  # agents whose lease this runner holds
        self._woken: set[UUID] = set()  # turns queued by this process and taken up at once
        self._lingering: dict[UUID, asyncio.Event] = {}  # drives waiting a little for more work
        self._handed: dict[UUID, asyncio.Future[Agent | None]] = {}  # lingering drives taken over
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._follow(), name="turns-follow"),
            asyncio.create_task(self._sweep(), name="turns-sweep"),
            asyncio.create_task(self._renew(), name="turns-renew"),
        ]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._active.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._active.values(), return_exceptions=True)

    @property
    def drives(self) -> int:
        """Agents this runner is driving now: running their queued turns, or about to."""
        return len(self._active)

    def wake(self, agent_id: UUID, turn_id: UUID) -> None:
        """A turn this process has just queued: take it up now, rather than when the log tail
        brings its TurnQueued back a notification later (which is then passed over)."""
        self._pass_over(turn_id)
        self.schedule(agent_id)

    def take_over(self, agent_id: UUID) -> bool:
        """Reserve a drive that holds the agent's lease and waits for work, for a turn the caller
        queues and opens in one save (`TurnCommands.queue_and_open_turn`), instead of a save to
        queue it and another to open it. False if no drive waits: queue the usual way. The
        caller must then call `hand_over`, whatever happened."""
        lingering = self._lingering.get(agent_id)
        if lingering is None or lingering.is_set() or agent_id in self._handed:
            return False
        self._handed[agent_id] = asyncio.get_running_loop().create_future()
        lingering.set()
        return True

    def hand_over(self, agent_id: UUID, turn_id: UUID | None, agent: Agent | None) -> None:
        """Give the reserved drive `agent` with the turn open, or None (the turn was only queued,
        or not even that) for it to look at the queue. The turn's TurnQueued, when the log tail
        brings it back, is passed over."""
        if turn_id is not None:
            self._pass_over(turn_id)
        handed = self._handed.get(agent_id)
        if handed is not None and not handed.done():
            handed.set_result(agent)

    def _pass_over(self, turn_id: UUID) -> None:
        if len(self._woken) >= _WOKEN_KEPT:  # bounded, should the tail never bring some back
            self._woken.clear()
        self._woken.add(turn_id)

    def schedule(self, agent_id: UUID) -> None:
        if agent_id in self._active:
            self._again.add(agent_id)  # the running drive re-checks the queue before it stops
            if (lingering := self._lingering.get(agent_id)) is not None:
                lingering.set()
            return
        # A context of its own: a drive woken by a request must not carry that request's context
        # (its audit cause, log fields, positions) into the events and logs of the turns it runs.
        self._active[agent_id] = asyncio.create_task(
            self._drive(agent_id), name=f"turns-{agent_id}", context=contextvars.Context()
        )

    async def _follow(self) -> None:
        sub = self._tail.subscribe(None)
        try:
            while True:
                _, event = await sub.queue.get()
                if isinstance(event, Agent.TurnQueued):
                    self._metrics.turn_queued(event.turn_id, event.timestamp)
                    if event.turn_id in self._woken:
                        self._woken.discard(event.turn_id)  # already taken up (`wake`)
                    else:
                        self.schedule(event.originator_id)
        finally:
            self._tail.unsubscribe(sub)

    async def _sweep(self) -> None:
        """Schedules every agent with work; after a database outage this is what resumes the
        turns whose drives the outage ended (an interrupted turn is closed as failed first)."""
        while True:
            try:
                for agent_id in await self._views.agents_with_work():
                    self.schedule(agent_id)
            except UNAVAILABLE as e:  # the pool reconnects by itself; the next tick tries again
                log.warning("turns.sweep_database_unavailable", error=type(e).__name__)
            except Exception:  # a failed sweep is retried on the next tick; log and go on
                log.exception("turns.sweep_failed")
            await asyncio.sleep(SWEEP_SECONDS)

    async def _more_soon(self, agent_id: UUID) -> Agent | bool:
        """Whether more work came for the agent while its drive held on to the lease a little
        (`LINGER_SECONDS`): a conversation's next message usually follows its reply at once, and
        keeping the lease spares it a claim and a release, two round trips per turn. The work
        may come as an agent with its turn already open (`take_over`)."""
        if agent_id not in self._again:
            lingering = self._lingering[agent_id] = asyncio.Event()
            try:
                async with asyncio.timeout(LINGER_SECONDS):
                    await lingering.wait()
            except TimeoutError:
                if agent_id not in self._handed:  # taken over just as the wait ran out: not idle
                    return False
            finally:
                self._lingering.pop(agent_id, None)
        self._again.discard(agent_id)
        handed = self._handed.get(agent_id)
        if handed is None:
            return True
        try:
            return await handed or True
        finally:
            self._handed.pop(agent_id, None)

    async def _renew(self) -> None:
        """Renews the leases of every running drive; a drive whose lease was lost (this process
        stalled past the lease term and another runner took over) is stopped."""
        while True:
            await asyncio.sleep(self._leases.seconds / RENEWALS_PER_TERM)
            running = list(self._held)
            try:
                held = await self._leases.renew(running)
            except UNAVAILABLE as e:  # the drives meet the outage themselves; try again next tick
                log.warning("turns.renew_database_unavailable", error=type(e).__name__)
                continue
            except Exception:  # a failed renewal is retried on the next tick; log and go on
                log.exception("turns.renew_failed")
                continue
            for agent_id in running:
                task = self._active.get(agent_id)
                if agent_id not in held and agent_id in self._held and task is not None:
                    log.warning("turns.lease_lost", agent_id=str(agent_id))
                    task.cancel()

    async def _drive(self, agent_id: UUID) -> None:
        try:
            while True:
                self._again.discard(agent_id)
                if not await self._leases.claim(agent_id):
                    return  # another process runs this agent; its drive sees the new turn
                self._held.add(agent_id)
                try:
                    while True:
                        while (agent := await self._metrics.save(self._turns.start_next_turn, agent_id)) is not None:
                            await self._turn(agent)
                        more = await self._more_soon(agent_id)
                        while isinstance(more, Agent):  # handed over; its queue is looked at when
                            await self._turn(more)  # something was scheduled meanwhile (`_again`)
                            more = await self._more_soon(agent_id)
                        if more is False:
                            break
                finally:
                    self._held.discard(agent_id)
                    self._handed.pop(agent_id, None)
                    await self._leases.release(agent_id)
                if agent_id not in self._again:
                    return
        except UNAVAILABLE as e:  # the database went away: the sweep schedules the agent again
            log.warning("turns.drive_database_unavailable", agent_id=str(agent_id), error=type(e).__name__)
        except Exception:  # never let one agent's failure stop the runner
            log.exception("turns.drive_failed", agent_id=str(agent_id))
        finally:
            self._active.pop(agent_id, None)

    async def _turn(self, agent: Agent) -> None:
        turn_id = agent.current_turn
        assert turn_id is not None
        started = time.monotonic()
        self._metrics.turn_started(turn_id, agent.modified_on)
        log.info("turn.started", agent_id=str(agent.id), turn_id=str(turn_id))
        try:
            model = self._models.for_agent(agent.llm_config)
            for _ in range(step.MAX_STEPS):
                agent, fitted = await self._fit(agent, turn_id, model)
                asked = time.monotonic()
                reply = await model.complete(*fitted)
                timing = {"model_seconds": round(time.monotonic() - asked, 3)}
                agent, more = await self._step(agent, turn_id, reply, timing, model)
                if agent.current_turn != turn_id:
                    break  # the step ended the turn (saved with it)
                agent, warned = await self._warn_if_full(agent, turn_id, model)
                if more:
                    agent = await self._metrics.save(self._turns.heartbeat, agent.id, turn_id, step.HEARTBEATS[more])
                elif not warned:  # a warning wakes the model by itself, to save what matters
                    break
            else:
                raise step.TooManySteps(f"The agent took {step.MAX_STEPS} steps without finishing its turn; stopped.")
            failure = None
        except LLMUnavailable as e:
            failure = str(e)
        except DomainError as e:
            failure = f"{type(e).__name__}: {e}"
        except Exception:  # the turn must end visibly, whatever went wrong inside it
            log.exception("turn.crashed", agent_id=str(agent.id), turn_id=str(turn_id))
            failure = "The turn failed because of an internal error."
        if agent.current_turn == turn_id:  # not already ended by its last step
            await self._metrics.save(self._turns.end_turn, agent.id, turn_id, failure)
        self._metrics.turn_stages.labels("turn").observe(time.monotonic() - started)
        log.info("turn.ended", agent_id=str(agent.id), turn_id=str(turn_id), failure=failure)

    async def _step(
        self, agent: Agent, turn_id: UUID, reply: step.Reply, timing: dict[str, float], model: ChatModel
    ) -> tuple[Agent, str | None]:
        """Run the first function the model called and record the step; says why another step
        follows (`step.FAILED`, `REQUESTED`, `CUT`), or None. A step after which nothing follows
        (no reason, no memory warning due) ends the turn in the same save."""
        step.check_reply(reply)
        call, outcome = None, None
        if reply.call is not None:
            try:
                if reply.cut:
                    raise step.cut_off(reply.call)
                call = step.parse(reply.call, agent.functions)
                outcome = step.run_local(call, agent.core_memory) or await self._memories.run(
                    agent.id, agent.embedding_config, call
                )
                if outcome.passages:
                    outcome = replace(outcome, passages=tuple(self._chunked(agent, outcome.passages)))
            except step.CallError as e:
                outcome = step.failed(e)
        if reply.skipped:
            log.warning("turn.calls_skipped", agent_id=str(agent.id), turn_id=str(turn_id), count=len(reply.skipped))
        thoughts = call.inner_thoughts if call else None
        more = step.next_step(reply, call, outcome)
        finishes = None if more else (lambda after: not self._needs_warning(after, model))
        agent = await self._metrics.save(
            self._turns.record_step, agent.id, turn_id, reply, outcome, thoughts, timing, finishes
        )
        return agent, more

    def _chunked(self, agent: Agent, texts: tuple[str, ...]) -> list[str]:
        """Long inserts become several passages of at most `embedding_chunk_size` tokens."""
        embedder = self._embedders.for_config(agent.embedding_config)
        config = EmbeddingConfig.from_dict(agent.embedding_config)
        return [piece for text in texts for piece in chunks.by_config(text, config, embedder.count_tokens)]

    async def _fit(self, agent: Agent, turn_id: UUID, model: ChatModel) -> tuple[Agent, Prompt]:
        """Summarise the oldest messages while the prompt overflows the context window; returns
        the agent and its prompt, built once for the count and the call."""
        window = LLMConfig.from_dict(agent.llm_config).window
        fitted = _prompt(agent)
        while model.count_tokens(*fitted) > window:
            hidden = prompt.summarisable(agent.messages)
            if not hidden:
                raise LLMUnavailable("The prompt does not fit the model's context window even after summarising.")
            summary = await model.summarize(prompt.summary_request(hidden))
            agent = await self._metrics.save(self._turns.summarize, agent.id, turn_id, [m.id for m in hidden], summary)
            fitted = _prompt(agent)
        return agent, fitted

    @staticmethod
    def _needs_warning(agent: Agent, model: ChatModel) -> bool:
        """Whether the prompt has grown past the warning line since the last summary."""
        if agent.warned:
            return False
        window = LLMConfig.from_dict(agent.llm_config).window
        return model.count_tokens(*_prompt(agent)) > prompt.WARNING_FRACTION * window

    async def _warn_if_full(self, agent: Agent, turn_id: UUID, model: ChatModel) -> tuple[Agent, bool]:
        if not self._needs_warning(agent, model):
            return agent, False
        return await self._metrics.save(self._turns.warn_memory, agent.id, turn_id), True
