"""Turns: queued messages, and the events of each step a runner records."""

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from domain import messages, step
from domain.agents import Agent
from domain.errors import AgentNotFound, TurnRefused
from domain.messages import Message
from domain.services.base import CommandGroup, retrying, utc_now

RESUME = "resume"  # a queued turn that opens with no message: the rest of a forked turn (its text: a heartbeat or "")
WAKE_TEXTS = {"heartbeat": step.HEARTBEAT_REQUESTED, "memory_warning": step.MEMORY_WARNING}


def _opening(role: str, text: str, now: datetime) -> Message:
    """The message a queued turn opens with, packaged as MemGPT packages it."""
    if role == "user":
        return Message(uuid4(), "user", messages.user_text(text, now), now)
    if role == "system":
        return Message(uuid4(), "user", messages.system_text(text, now), now)
    return Message(uuid4(), "user", messages.heartbeat_text(WAKE_TEXTS[role], now), now)


class TurnCommands(CommandGroup):
    @retrying
    def queue_turn(self, user_id: UUID, agent_id: UUID, role: str, text: str) -> UUID:
        """Append a message for the agent; a turn runner answers it in order."""
        agent = self._queued(user_id, agent_id, role, text)
        self.save(agent)
        return agent.queued[-1]["turn_id"]

    @retrying
    def queue_and_open_turn(self, user_id: UUID, agent_id: UUID, role: str, text: str) -> tuple[UUID, Agent | None]:
        """`queue_turn`, for a runner that holds the agent's lease and waits for work: when no turn
        runs or waits before this one, it is opened in the same save (one save fewer per turn).
        Returns the turn, and the agent with it open (None if it only queued)."""
        agent = self._queued(user_id, agent_id, role, text)
        turn_id = agent.queued[-1]["turn_id"]
        opened = agent.current_turn is None and len(agent.queued) == 1
        if opened:
            self._open(agent, agent.queued[0])
        self.save(agent)
        return turn_id, agent if opened else None

    def _queued(self, user_id: UUID, agent_id: UUID, role: str, text: str) -> Agent:
        if role not in ("user", "system", *WAKE_TEXTS):
            raise TurnRefused(f"Unknown message role {role!r}: use 'user' or 'system'.")
        agent = self._agent(user_id, agent_id, changing=True)
        agent.queue_turn(uuid4(), role, text)
        return agent

    def agent(self, agent_id: UUID) -> Agent:
        """The agent as the runner sees it (no owner check: the runner acts for the agent)."""
        return self.repository.get(agent_id)

    def _running(self, agent_id: UUID) -> Agent:
        """The agent a turn acts on, to record a step of it (`_changing`). A deleted agent (its
        user's deletion included) takes no more events: a step that lost the race to the deletion
        finds it deleted when retried."""
        agent: Agent = self._changing(agent_id)
        if agent.deleted:
            raise AgentNotFound(f"Agent agent_id={agent_id} was deleted during its turn")
        return agent

    @retrying
    def start_next_turn(self, agent_id: UUID) -> Agent | None:
        """Close a turn a crash interrupted, then open the oldest queued turn, if any."""
        agent: Agent = self.repository.get(agent_id)
        if agent.deleted:
            return None
        if agent.current_turn is not None:
            agent.fail_turn(agent.current_turn, "The server stopped during this turn; it was not finished.")
        if not agent.queued:
            self.save(agent)
            return None
        self._open(agent, agent.queued[0])
        self.save(agent)
        return agent

    @staticmethod
    def _open(agent: Agent, turn: dict[str, Any]) -> None:
        now = utc_now()
        if turn["role"] == RESUME:  # a fork carrying on with the turn its source was in
            agent.start_turn(turn["turn_id"], None)
            if turn["text"]:
                agent.heartbeat(
                    turn["turn_id"], Message(uuid4(), "user", messages.heartbeat_text(turn["text"], now), now)
                )
        else:
            agent.start_turn(turn["turn_id"], _opening(turn["role"], turn["text"], now))

    @retrying
    def record_step(
        self,
        agent_id: UUID,
        turn_id: UUID,
        reply: step.Reply,
        outcome: step.Outcome | None,
        thoughts: str | None = None,
        timing: dict[str, float] | None = None,
        finishes: Callable[[Agent], bool] | None = None,
    ) -> Agent:
        """One step's events, saved together: what the model said, the calls it made that did not
        run, what its function returned, and the core-memory edit it made, so memory never
        disagrees with the messages. If `finishes(agent)` says the turn ends with this step, its
        end is saved with it (one save fewer per turn; the turn's last event is still its end)."""
        agent = self._running(agent_id)
        assistant, result = step.step_messages(reply, outcome, (uuid4(), uuid4()), utc_now(), thoughts)
        agent.speak(turn_id, assistant, reply.usage, timing)
        if reply.skipped:
            agent.skip_calls(turn_id, [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in reply.skipped])
        if result is not None and outcome is not None:
            agent.function_returned(turn_id, result, outcome.status, outcome.shown)
            if outcome.core_memory is not None:
                agent.edit_memory_by_function(turn_id, outcome.core_memory)
            if outcome.passages:
                agent.insert_passages([{"id": uuid4(), "text": text} for text in outcome.passages])
        if finishes is not None and finishes(agent):
            agent.complete_turn(turn_id)
        self.save(agent)
        return agent

    @retrying
    def heartbeat(self, agent_id: UUID, turn_id: UUID, reason: str) -> Agent:
        agent = self._running(agent_id)
        now = utc_now()
        agent.heartbeat(turn_id, Message(uuid4(), "user", messages.heartbeat_text(reason, now), now))
        self.save(agent)
        return agent

    @retrying
    def warn_memory(self, agent_id: UUID, turn_id: UUID) -> Agent:
        agent = self._running(agent_id)
        now = utc_now()
        agent.warn_memory(turn_id, Message(uuid4(), "user", messages.system_text(step.MEMORY_WARNING, now), now))
        self.save(agent)
        return agent

    @retrying
    def summarize(self, agent_id: UUID, turn_id: UUID, hidden: list[UUID], summary: str) -> Agent:
        agent = self._running(agent_id)
        now = utc_now()
        note = messages.SUMMARY_NOTE.format(hidden=len(hidden), total=agent.recall_count, summary=summary)
        agent.summarize(turn_id, Message(uuid4(), "user", messages.system_text(note, now), now), hidden)
        self.save(agent)
        return agent

    @retrying
    def end_turn(self, agent_id: UUID, turn_id: UUID, failure: str | None = None) -> None:
        agent: Agent = self.repository.get(agent_id)
        if agent.deleted:
            return  # the deletion ended the turn: nothing more is recorded for it
        if failure is None:
            agent.complete_turn(turn_id)
        else:
            agent.fail_turn(turn_id, failure)
        self.save(agent)
