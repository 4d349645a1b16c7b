"""Data sources: documents split into passages, attached to agents by copying them."""

from typing import Any
from uuid import UUID, uuid4

from domain.services.base import CommandGroup, retrying
from domain.sources import Source, SourceNotFound


class SourceCommands(CommandGroup):
    def _source(self, user_id: UUID, source_id: UUID) -> Source:
        found = self._owned_or_none(source_id)
        if not isinstance(found, Source):
            raise SourceNotFound(f"No source found with id {source_id}")
        found.check_owner(user_id)
        return found

    @retrying
    def create_source(
        self, user_id: UUID, name: str, description: str | None, embedding_config: dict[str, Any]
    ) -> Source:
        owner = self._user(user_id)
        source = Source(user_id, name, description, embedding_config)
        owner.owns("source", source.id)  # conflicts with a racing deletion of the user (`User.owns`)
        self.save(source, owner)
        return source

    @retrying
    def add_document(self, user_id: UUID, source_id: UUID, filename: str, texts: list[str]) -> tuple[UUID, int]:
        source = self._source(user_id, source_id)
        document_id = uuid4()
        source.add_document(document_id, filename, [{"id": uuid4(), "text": t} for t in texts if t.strip()])
        self.save(source)
        return document_id, len([t for t in texts if t.strip()])

    @retrying
    def attach_source(self, user_id: UUID, source_id: UUID, agent_id: UUID) -> int:
        """Copy the source's passages into the agent's archival memory, in one save."""
        source = self._source(user_id, source_id)
        agent = self._agent(user_id, agent_id)
        passages = [{"id": uuid4(), "text": text} for text in source.passages]
        source.attach(agent_id, [p["id"] for p in passages])
        if passages:
            agent.insert_passages(passages)
        self.save(source, agent)
        return len(passages)

    @retrying
    def detach_source(self, user_id: UUID, source_id: UUID, agent_id: UUID) -> int:
        source = self._source(user_id, source_id)
        agent = self._agent(user_id, agent_id)
        given = source.detach(agent_id)
        for passage_id in given:
            agent.delete_passage(passage_id)
        self.save(source, agent)
        return len(given)

    @retrying
    def delete_source(self, user_id: UUID, source_id: UUID) -> None:
        source = self._source(user_id, source_id)
        source.delete()
        self.save(source)
