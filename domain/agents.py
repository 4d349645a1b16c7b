"""The Agent aggregate: configuration, core memory and lifecycle of one MemGPT agent.

The aggregate stays small (issue 3 adds the ids of in-context messages, not the messages) so
that rebuilding it is cheap; snapshots cover long-lived agents.
"""

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import memory
from domain.errors import AgentNotFound


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
    ) -> None:
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
        self.message_ids: list[UUID] = []
        self.deleted = False

    def check_owner(self, user_id: UUID) -> None:
        """Another user's agent is reported exactly like a missing one."""
        if self.deleted or self.user_id != user_id:
            raise AgentNotFound(f"Agent agent_id={self.id} not found")

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
