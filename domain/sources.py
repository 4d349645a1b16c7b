"""Data sources: named collections of documents, split into passages, that agents can attach.

Attaching copies a source's passages into the agent's archival memory (as MemGPT's `memgpt load`
+ `attach` did); the source remembers which passage ids it gave each agent, so detaching removes
exactly those.
"""

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, NotFound


class SourceNotFound(NotFound):
    pass


class AlreadyAttached(Conflict):
    pass


class NotAttached(Conflict):
    pass


class Source(Aggregate):
    TOPIC = "memgpt.Source"

    @event("Created", topic="memgpt.Source.Created")
    def __init__(self, user_id: UUID, name: str, description: str | None, embedding_config: dict[str, Any]) -> None:
        self.user_id = user_id
        self.name = name
        self.description = description
        self.embedding_config = dict(embedding_config)
        self.passages: list[str] = []  # texts, in order; ids live in the events and the view
        self.attached: dict[UUID, list[UUID]] = {}  # agent id -> the passage ids it was given
        self.deleted = False

    def check_owner(self, user_id: UUID) -> None:
        if self.deleted or self.user_id != user_id:
            raise SourceNotFound(f"No source found with id {self.id}")

    @event("DocumentAdded", topic="memgpt.Source.DocumentAdded")
    def add_document(self, document_id: UUID, filename: str, passages: list[dict[str, Any]]) -> None:
        """`passages`: [{"id", "text"}] in document order."""
        self.passages.extend(p["text"] for p in passages)

    def attach(self, agent_id: UUID, passage_ids: list[UUID]) -> None:
        if agent_id in self.attached:
            raise AlreadyAttached(f"Source {self.name!r} is already attached to agent {agent_id}")
        self._attached(agent_id=agent_id, passage_ids=passage_ids)

    @event("Attached", topic="memgpt.Source.Attached")
    def _attached(self, agent_id: UUID, passage_ids: list[UUID]) -> None:
        self.attached[agent_id] = list(passage_ids)

    def detach(self, agent_id: UUID) -> list[UUID]:
        if agent_id not in self.attached:
            raise NotAttached(f"Source {self.name!r} is not attached to agent {agent_id}")
        given = self.attached[agent_id]
        self._detached(agent_id=agent_id)
        return given

    @event("Detached", topic="memgpt.Source.Detached")
    def _detached(self, agent_id: UUID) -> None:
        del self.attached[agent_id]

    def delete(self) -> None:
        self._deleted()

    @event("Deleted", topic="memgpt.Source.Deleted")
    def _deleted(self) -> None:
        self.deleted = True
