"""The OpenAI-Assistants view of MemGPT: an assistant is a recipe for agents, a thread is one
conversation (backed by one agent, made at its first run), and a run is one turn of that agent.

Messages added to a thread wait on the thread until a run hands them to the agent as one turn.
"""

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import NotFound, TurnRefused


class AssistantNotFound(NotFound):
    pass


class ThreadNotFound(NotFound):
    pass


class Assistant(Aggregate):
    TOPIC = "memgpt.Assistant"

    @event("Created", topic="memgpt.Assistant.Created")
    def __init__(
        self,
        user_id: UUID,
        name: str,
        model: str,
        instructions: str,
        description: str | None,
        tools: list[str],
        metadata: dict[str, Any],
    ) -> None:
        self.user_id = user_id
        self.name = name
        self.model = model
        self.instructions = instructions
        self.description = description
        self.tools = list(tools)
        self.metadata = dict(metadata)
        self.deleted = False

    def check_owner(self, user_id: UUID) -> None:
        if self.deleted or self.user_id != user_id:
            raise AssistantNotFound(f"No assistant found with id {self.id}")

    def delete(self) -> None:
        self._deleted()

    @event("Deleted", topic="memgpt.Assistant.Deleted")
    def _deleted(self) -> None:
        self.deleted = True


class Thread(Aggregate):
    TOPIC = "memgpt.Thread"

    @event("Created", topic="memgpt.Thread.Created")
    def __init__(self, user_id: UUID, metadata: dict[str, Any]) -> None:
        self.user_id = user_id
        self.metadata = dict(metadata)
        self.agent_id: UUID | None = None
        self.waiting: list[dict[str, Any]] = []  # messages no run has handed to the agent yet
        self.deleted = False

    def check_owner(self, user_id: UUID) -> None:
        if self.deleted or self.user_id != user_id:
            raise ThreadNotFound(f"No thread found with id {self.id}")

    def add_message(self, message_id: UUID, role: str, content: str, metadata: dict[str, Any]) -> None:
        if role != "user":
            raise TurnRefused("Only role 'user' can add messages to a thread; the assistant speaks in runs.")
        self._message_added(message_id=message_id, role=role, content=content, metadata=metadata)

    @event("MessageAdded", topic="memgpt.Thread.MessageAdded")
    def _message_added(self, message_id: UUID, role: str, content: str, metadata: dict[str, Any]) -> None:
        self.waiting.append({"id": message_id, "content": content})

    def start_run(
        self, run_id: UUID, assistant_id: UUID, agent_id: UUID, turn_id: UUID, instructions: str | None
    ) -> str:
        """Hand the waiting messages to the agent as one turn; returns that turn's text."""
        if not self.waiting:
            raise TurnRefused("The thread has no new messages to run on.")
        text = "\n\n".join(m["content"] for m in self.waiting)
        if instructions:
            text = f"{text}\n\n(Instructions for this reply: {instructions})"
        self._run_started(run_id=run_id, assistant_id=assistant_id, agent_id=agent_id, turn_id=turn_id)
        return text

    @event("RunStarted", topic="memgpt.Thread.RunStarted")
    def _run_started(self, run_id: UUID, assistant_id: UUID, agent_id: UUID, turn_id: UUID) -> None:
        self.agent_id = agent_id
        self.waiting = []

    def delete(self) -> None:
        self._deleted()

    @event("Deleted", topic="memgpt.Thread.Deleted")
    def _deleted(self) -> None:
        self.deleted = True
