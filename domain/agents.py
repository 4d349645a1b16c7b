"""The Agent aggregate: configuration, core memory, the in-context messages and the turn queue.

The aggregate holds only what the next prompt needs: the messages currently in context (bounded
by the context window), counters, and the queue of turns. Every message ever exchanged stays in
the log and in the recall view; snapshots keep rebuilding a long-lived agent cheap.
"""

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import memory
from domain.errors import AgentBusy, AgentNotFound, NothingToUndo
from domain.messages import Message


def _copied(value: Any) -> Any:
    """`value` with its lists and dicts copied; what they hold besides is immutable (strings,
    numbers, UUIDs, datetimes, frozen messages), so it is shared rather than copied."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


class Agent(Aggregate):
    TOPIC = "memgpt.Agent"

    @event("Created", topic="memgpt.Agent.Created")
    def __init__(
        self,
        id: UUID,  # noqa: A002 - chosen by the caller so the default name can derive from it
        user_id: UUID,
        name: str,
        preset: str,
        persona_name: str,
        human_name: str,
        system: str,
        functions: list[str],
        core_memory: dict[str, str],
        llm_config: dict[str, Any],
        embedding_config: dict[str, Any],
        messages: list[Message],
        forked_from: dict[str, Any] | None = None,
        history: list[Message] | None = None,
        warned: bool = False,
    ) -> None:
        """A fork (`forked_from`: the source agent and log position) also brings the source's
        recall `history` up to that position, in order (its in-context `messages` among them)."""
        self.user_id = user_id
        self.name = name
        self.preset = preset
        self.persona_name = persona_name
        self.human_name = human_name
        self.system = system
        self.functions = list(functions)
        self.core_memory = dict(core_memory)
        self.llm_config = dict(llm_config)
        self.embedding_config = dict(embedding_config)
        self.messages: list[Message] = list(messages)  # messages[0] is the system message
        self.recall_count = len(history) if history else len(messages)
        self.archival_count = 0
        self.forked_from = forked_from
        self.queued: list[dict[str, Any]] = []  # turns waiting, in order: {"turn_id", "role", "text"}
        self.current_turn: UUID | None = None
        self.warned = warned  # a memory-pressure warning was sent since the last summary
        self.deleted = False

    @property
    def message_ids(self) -> list[UUID]:
        return [m.id for m in self.messages]

    def __deepcopy__(self, memo: dict[int, Any]) -> "Agent":
        """A copy for one command (the store hands each command a copy of its cached agent). The
        messages are immutable, so the copy shares them; copying each one was most of a command's
        CPU (issue 14's profile)."""
        copied = object.__new__(type(self))
        memo[id(self)] = copied
        copied.__dict__.update({name: _copied(value) for name, value in self.__dict__.items()})
        return copied

    def check_owner(self, user_id: UUID) -> None:
        """Another user's agent is reported exactly like a missing one."""
        if self.deleted or self.user_id != user_id:
            raise AgentNotFound(f"Agent agent_id={self.id} not found")

    def _append(self, *messages: Message) -> None:
        self.messages.extend(messages)
        self.recall_count += len(messages)

    # configuration and core memory

    def rename(self, name: str) -> None:
        self._renamed(name=name)

    @event("Renamed", topic="memgpt.Agent.Renamed")
    def _renamed(self, name: str) -> None:
        self.name = name

    def edit_core_memory(self, persona: str | None, human: str | None) -> None:
        """Overwrite the given sections; the rules of `domain.memory` decide what is allowed."""
        new = dict(self.core_memory)
        if persona is not None:
            new = memory.overwrite(new, "persona", persona)
        if human is not None:
            new = memory.overwrite(new, "human", human)
        if new != self.core_memory:
            self._core_memory_replaced(core_memory=new)

    @event("CoreMemoryReplaced", topic="memgpt.Agent.CoreMemoryReplaced")
    def _core_memory_replaced(self, core_memory: dict[str, str]) -> None:
        self.core_memory = dict(core_memory)

    def delete(self) -> None:
        self._deleted()

    @event("Deleted", topic="memgpt.Agent.Deleted")
    def _deleted(self) -> None:
        self.deleted = True

    # turns

    @event("TurnQueued", topic="memgpt.Agent.TurnQueued")
    def queue_turn(self, turn_id: UUID, role: str, text: str) -> None:
        """`role` is user, system, or heartbeat / memory_warning for the commands that wake it."""
        self.queued.append({"turn_id": turn_id, "role": role, "text": text})

    @event("TurnStarted", topic="memgpt.Agent.TurnStarted")
    def start_turn(self, turn_id: UUID, message: Message | None) -> None:
        self.queued = [t for t in self.queued if t["turn_id"] != turn_id]
        self.current_turn = turn_id
        if message is not None:
            self._append(message)

    @event("AssistantSpoke", topic="memgpt.Agent.AssistantSpoke")
    def speak(
        self,
        turn_id: UUID,
        message: Message,
        usage: dict[str, int] | None = None,
        timing: dict[str, float] | None = None,
    ) -> None:
        """`usage`: the tokens the model's reply reported ({"prompt_tokens", "completion_tokens"}),
        `timing`: how long it took ({"model_seconds"}); both absent from events older than them."""
        self._append(message)

    @event("CallsSkipped", topic="memgpt.Agent.CallsSkipped")
    def skip_calls(self, turn_id: UUID, calls: list[dict[str, str]]) -> None:
        """Calls the model made after the first in one reply: recorded, never run (as the original)."""

    @event("FunctionReturned", topic="memgpt.Agent.FunctionReturned")
    def function_returned(self, turn_id: UUID, message: Message, status: str, shown: str | None) -> None:
        """`shown` is what `send_message` showed the user, if that was the function."""
        self._append(message)

    def edit_memory_by_function(self, turn_id: UUID, core_memory: dict[str, str]) -> None:
        self._core_memory_replaced(core_memory=core_memory)

    @event("HeartbeatSent", topic="memgpt.Agent.HeartbeatSent")
    def heartbeat(self, turn_id: UUID, message: Message) -> None:
        self._append(message)

    @event("MemoryWarned", topic="memgpt.Agent.MemoryWarned")
    def warn_memory(self, turn_id: UUID, message: Message) -> None:
        self._append(message)
        self.warned = True

    @event("ContextSummarized", topic="memgpt.Agent.ContextSummarized")
    def summarize(self, turn_id: UUID, summary: Message, hidden: list[UUID]) -> None:
        """Replace the `hidden` messages in context by one summary right after the system message;
        they stay in the log and in recall memory."""
        gone = set(hidden)
        kept = [m for m in self.messages[1:] if m.id not in gone]
        self.messages = [self.messages[0], summary, *kept]
        self.recall_count += 1
        self.warned = False

    @event("TurnCompleted", topic="memgpt.Agent.TurnCompleted")
    def complete_turn(self, turn_id: UUID) -> None:
        self.current_turn = None

    @event("TurnFailed", topic="memgpt.Agent.TurnFailed")
    def fail_turn(self, turn_id: UUID, reason: str) -> None:
        self.queued = [t for t in self.queued if t["turn_id"] != turn_id]
        if self.current_turn == turn_id:
            self.current_turn = None

    # the /pop, /rethink and /rewrite commands

    def pop(self, count: int) -> None:
        removable = [m.id for m in self.messages[1:]][-count:] if count > 0 else []
        if not removable:
            raise NothingToUndo("There are no messages to pop.")
        self._popped(ids=removable)

    @event("MessagesPopped", topic="memgpt.Agent.MessagesPopped")
    def _popped(self, ids: list[UUID]) -> None:
        gone = set(ids)
        self.messages = [m for m in self.messages if m.id not in gone]

    def last(self, role: str) -> Message:
        for message in reversed(self.messages[1:]):
            if message.role == role:
                return message
        raise NothingToUndo(f"There is no {role} message in context.")

    @event("MessageRewritten", topic="memgpt.Agent.MessageRewritten")
    def rewrite_message(self, message: Message) -> None:
        """Put an edited copy of an in-context message in its place (same id)."""
        self.messages = [message if m.id == message.id else m for m in self.messages]

    # undoing: parts of the agent put back as they were at a past log position

    def revert(self, to: int, core_memory: dict[str, str] | None, messages: list[Message] | None) -> list[str]:
        """Restore core memory and/or the in-context messages as they were at position `to`;
        the parts that differ are recorded in one `Reverted` event (nothing is erased). Returns
        the parts changed. Refused while a turn runs or waits: it would record over the restore."""
        if self.current_turn is not None or self.queued:
            raise AgentBusy("The agent has a turn running or queued; revert once it has answered.")
        memory_back = core_memory if core_memory is not None and core_memory != self.core_memory else None
        context_back = messages if messages is not None and messages != self.messages else None
        parts = [name for name, part in (("core_memory", memory_back), ("context", context_back)) if part is not None]
        if parts:
            self._reverted(to=to, parts=parts, core_memory=memory_back, messages=context_back)
        return parts

    @event("Reverted", topic="memgpt.Agent.Reverted")
    def _reverted(
        self, to: int, parts: list[str], core_memory: dict[str, str] | None, messages: list[Message] | None
    ) -> None:
        if core_memory is not None:
            self.core_memory = dict(core_memory)
        if messages is not None:
            self.messages = list(messages)

    # archival memory

    @event("PassagesInserted", topic="memgpt.Agent.PassagesInserted")
    def insert_passages(self, passages: list[dict[str, Any]]) -> None:
        """Each passage: {"id", "text"}; the archival view embeds and indexes them."""
        self.archival_count += len(passages)

    def delete_passage(self, passage_id: UUID) -> None:
        self._passage_deleted(passage_id=passage_id)

    @event("PassageDeleted", topic="memgpt.Agent.PassageDeleted")
    def _passage_deleted(self, passage_id: UUID) -> None:
        self.archival_count = max(0, self.archival_count - 1)


def _without_usage(state: dict[str, Any]) -> None:
    """An `AssistantSpoke` recorded before the model's usage and timing were: neither is known."""
    state.setdefault("usage", None)
    state.setdefault("timing", None)


# Version 2 of AssistantSpoke records `usage` and `timing`; stored version-1 events are upcast.
Agent.AssistantSpoke.class_version = 2  # type: ignore[attr-defined]
Agent.AssistantSpoke.upcast_v1_v2 = staticmethod(_without_usage)  # type: ignore[attr-defined]


def _not_forked(state: dict[str, Any]) -> None:
    """A `Created` recorded before forks were: a new agent, never a fork, not yet warned."""
    state.setdefault("forked_from", None)
    state.setdefault("history", None)
    state.setdefault("warned", False)


# Version 2 of Created may name the agent it was forked from and bring its recall history.
Agent.Created.class_version = 2  # type: ignore[attr-defined]
Agent.Created.upcast_v1_v2 = staticmethod(_not_forked)  # type: ignore[attr-defined]
