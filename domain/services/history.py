"""An agent's past: reading it at a version, forking it, and reverting parts of it.

Positions are the caller's words (a log position); the store speaks versions. Callers turn one
into the other (`projections.positions`) and hand both in: the version to load, the position to
record. A past state is loaded from the nearest snapshot at or before that version, so any past
costs at most one snapshot interval of events to rebuild.
"""

from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4, uuid5

from domain import history, names
from domain.agents import Agent
from domain.errors import ForkTooLarge
from domain.history import Diff
from domain.messages import Message
from domain.services.base import CommandGroup, retrying
from domain.services.turns import RESUME

# One fork is one event carrying the source's whole recall history: bounded, like every input.
MAX_FORK_MESSAGES = 20_000
_TURN_EVENTS = 500  # the most events one turn can have (steps × events per step, and then some)


class HistoryCommands(CommandGroup):
    def agent_at(self, user_id: UUID, agent_id: UUID, version: int) -> Agent:
        """The caller's agent as it was at `version` (another user's or a deleted agent: not found)."""
        self._agent(user_id, agent_id)
        agent: Agent = self.repository.get(agent_id, version=version)
        return agent

    def _events(self, agent_id: UUID, version: int, topics: tuple[str, ...]) -> list[Any]:
        """The agent's events up to `version` of the given types only: the rest is never decoded."""
        stored = self.store.recorder.select_events(agent_id, lte=version)
        return [self.store.mapper.to_domain_event(e) for e in stored if e.topic in topics]

    def _decoded(self, agent_id: UUID, **select: Any) -> list[Any]:
        return [self.store.mapper.to_domain_event(e) for e in self.store.recorder.select_events(agent_id, **select)]

    def step_rest(self, user_id: UUID, agent_id: UUID, version: int) -> int:
        """How many events after `version` finish the step saved with it (`history.step_rest`)."""
        self._agent(user_id, agent_id)
        last = self._decoded(agent_id, lte=version, desc=True, limit=1)
        return history.step_rest(last[0], self._decoded(agent_id, gt=version, limit=4)) if last else 0

    def _open_turn(self, agent: Agent) -> list[Any]:
        """The events of the turn `agent` (a past state) is in the middle of, TurnStarted first."""
        recent = self._decoded(agent.id, lte=agent.version, desc=True, limit=_TURN_EVENTS)
        turn = [e for e in recent if getattr(e, "turn_id", None) == agent.current_turn]
        started = next((i for i, e in enumerate(turn) if isinstance(e, Agent.TurnStarted)), None)
        return list(reversed(turn[: started + 1])) if started is not None else []

    def diff(self, user_id: UUID, agent_id: UUID, earlier: int, later: int) -> Diff:
        before, after = self.agent_at(user_id, agent_id, earlier), self.agent_at(user_id, agent_id, later)
        events = self._events(agent_id, later, history.PASSAGE_TOPICS)
        passages_before = history.passages(e for e in events if e.originator_version <= earlier)
        return history.diff(before, after, passages_before, history.passages(events))

    @retrying
    def fork(
        self,
        user_id: UUID,
        source_id: UUID,
        version: int,
        position: int,
        name: str | None,
        llm_config: dict[str, Any],
    ) -> Agent:
        """A new agent of the caller's, exactly the source as it was at `version`: configuration
        (but the model, `llm_config`, which the caller may change), core memory, context, recall
        history and archival passages. Copies get ids of their own (derived from the fork's id),
        so the source's rows and the fork's never collide. The work the source had then goes on
        in the fork: the rest of an open turn, then the turns still queued."""
        past = self.agent_at(user_id, source_id, version)
        owner = self._user(user_id)
        agent_id = uuid4()

        def copied(message: Message) -> Message:
            return replace(message, id=uuid5(agent_id, str(message.id)))

        recall = history.recall(self._events(source_id, version, history.MESSAGE_TOPICS))
        if len(recall) > MAX_FORK_MESSAGES:
            raise ForkTooLarge(f"The agent had {len(recall)} messages then; a fork copies at most {MAX_FORK_MESSAGES}.")
        kept = history.passages(self._events(source_id, version, history.PASSAGE_TOPICS))
        name = names.check(name) if name is not None else names.generated(agent_id)
        agent = Agent(
            id=agent_id,
            user_id=user_id,
            name=name,
            preset=past.preset,
            persona_name=past.persona_name,
            human_name=past.human_name,
            system=past.system,
            functions=list(past.functions),
            core_memory=dict(past.core_memory),
            llm_config=llm_config,
            embedding_config=dict(past.embedding_config),
            messages=[copied(m) for m in past.messages],
            forked_from={"agent_id": str(source_id), "position": position},
            history=[copied(m) for m in recall],
            warned=past.warned,
        )
        if kept:
            agent.insert_passages([{"id": uuid5(agent_id, str(p.id)), "text": p.text} for p in kept])
        # the rest of an open turn is what the source's runner would have done next
        turn = self._open_turn(past) if past.current_turn is not None else []
        rest = history.continuation(turn) if turn else None
        if rest is not None:
            agent.queue_turn(uuid4(), RESUME, rest)
        for waiting in past.queued:
            agent.queue_turn(uuid4(), waiting["role"], waiting["text"])
        owner.owns("agent", agent_id)  # conflicts with a racing deletion of the user (`User.owns`)
        self.save(agent, self._claim(user_id, agent_id, name), owner)
        return agent

    @retrying
    def revert(self, user_id: UUID, agent_id: UUID, version: int, position: int, parts: list[str]) -> list[str]:
        """Put `parts` ("core_memory", "context") back as they were at `version` with one
        compensating event; returns the parts that differed (none: nothing is recorded)."""
        agent = self._agent(user_id, agent_id)
        past: Agent = self.repository.get(agent_id, version=version)
        changed = agent.revert(
            position,
            past.core_memory if "core_memory" in parts else None,
            past.messages if "context" in parts else None,
        )
        if changed:
            self.save(agent)
        return changed
