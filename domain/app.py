"""The application service: each method loads aggregates, calls one command, and saves.

Writes retry on optimistic-concurrency conflicts (two requests changing one aggregate at once):
the loser re-reads and re-applies its command, so clients never see a version conflict.
"""

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording

from domain import catalogue, keys, memory, names
from domain.agents import Agent
from domain.audit import AuditedMapper
from domain.errors import (
    AgentNotFound,
    DefaultUserProtected,
    UnknownCatalogueEntry,
    UserAlreadyExists,
    UserNotFound,
)
from domain.names import AgentName
from domain.users import User

#: Log position of the last save made in the current context; lets a caller wait until the
#: projections have caught up with its own write (read-your-writes) without a second query.
LAST_POSITION: ContextVar[int] = ContextVar("LAST_POSITION", default=0)

P = ParamSpec("P")
R = TypeVar("R")


def retrying(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for _ in range(7):
            try:
                return method(*args, **kwargs)
            except IntegrityError:
                continue
        return method(*args, **kwargs)

    return wrapper


class MemGPT(Application[UUID]):
    name = "memgpt"
    snapshotting_intervals = {Agent: 100}  # noqa: RUF012 - the library reads a class attribute

    def construct_mapper(self) -> AuditedMapper:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=AuditedMapper)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        recordings = super().save(*objs, **kwargs)
        if recordings:
            LAST_POSITION.set(max(r.notification.id for r in recordings))
        return recordings

    # users and keys

    def _user(self, user_id: UUID) -> User:
        try:
            user = self.repository.get(user_id)
        except AggregateNotFoundError:
            raise UserNotFound(f"User {user_id} not found") from None
        if user.deleted:
            raise UserNotFound(f"User {user_id} not found")
        return user

    def _exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.repository

    @retrying
    def ensure_user(self, user_id: UUID) -> None:
        """Create the user if the log has never seen it (the default user at start-up)."""
        if not self._exists(user_id):
            self.save(User(id=user_id))

    @staticmethod
    def _issue(user: User, name: str | None) -> str:
        key = keys.new_key()
        user.issue_key(uuid4(), keys.digest(key), keys.mask(key), name)
        return key

    @retrying
    def create_user(self, user_id: UUID | None, key_name: str | None) -> tuple[UUID, str]:
        if user_id is not None and self._exists(user_id):
            raise UserAlreadyExists(f"User {user_id} already exists")
        user = User(id=user_id or uuid4())
        key = self._issue(user, key_name)
        self.save(user)
        return user.id, key

    @retrying
    def issue_key(self, user_id: UUID, name: str | None) -> str:
        user = self._user(user_id)
        key = self._issue(user, name)
        self.save(user)
        return key

    @retrying
    def revoke_key(self, user_id: UUID, key_id: UUID) -> None:
        user = self._user(user_id)
        user.revoke_key(key_id)
        self.save(user)

    @retrying
    def delete_user(self, user_id: UUID, default_user_id: UUID) -> None:
        if user_id == default_user_id:
            raise DefaultUserProtected("The default user cannot be deleted")
        user = self._user(user_id)
        user.delete()
        self.save(user)

    # agents

    def _agent(self, user_id: UUID, agent_id: UUID) -> Agent:
        try:
            agent = self.repository.get(agent_id)
        except AggregateNotFoundError:
            raise AgentNotFound(f"Agent agent_id={agent_id} not found") from None
        if not isinstance(agent, Agent):
            raise AgentNotFound(f"Agent agent_id={agent_id} not found")
        agent.check_owner(user_id)
        return agent

    def _claim(self, user_id: UUID, agent_id: UUID, name: str) -> AgentName:
        claim_id = names.claim_id(user_id, name)
        if not self._exists(claim_id):
            return AgentName(id=claim_id, agent_id=agent_id)
        claim: AgentName = self.repository.get(claim_id)
        claim.claim(agent_id, name)
        return claim

    def _release(self, user_id: UUID, name: str) -> AgentName:
        claim: AgentName = self.repository.get(names.claim_id(user_id, name))
        claim.release()
        return claim

    @retrying
    def create_agent(
        self,
        user_id: UUID,
        name: str | None,
        preset: str,
        persona: str,
        human: str,
        llm_config: dict[str, Any],
        embedding_config: dict[str, Any],
    ) -> Agent:
        chosen = _lookup(catalogue.PRESETS, preset, "preset")
        agent_id = uuid4()
        name = names.check(name) if name is not None else names.generated(agent_id)
        agent = Agent(
            id=agent_id,
            user_id=user_id,
            name=name,
            preset=preset,
            persona_name=persona,
            human_name=human,
            system=chosen.system,
            functions=list(chosen.functions),
            core_memory=memory.initial(
                _lookup(catalogue.PERSONAS, persona, "persona"), _lookup(catalogue.HUMANS, human, "human")
            ),
            llm_config=llm_config,
            embedding_config=embedding_config,
        )
        self.save(agent, self._claim(user_id, agent_id, name))
        return agent

    @retrying
    def rename_agent(self, user_id: UUID, agent_id: UUID, name: str) -> Agent:
        agent = self._agent(user_id, agent_id)
        names.check(name)
        if name == agent.name:
            return agent
        changed = [self._claim(user_id, agent_id, name)]
        if names.claim_id(user_id, name) != names.claim_id(user_id, agent.name):
            changed.append(self._release(user_id, agent.name))
        agent.rename(name)
        self.save(agent, *changed)
        return agent

    @retrying
    def edit_core_memory(
        self, user_id: UUID, agent_id: UUID, persona: str | None, human: str | None
    ) -> tuple[dict[str, str], dict[str, str]]:
        agent = self._agent(user_id, agent_id)
        old = dict(agent.core_memory)
        agent.edit_core_memory(persona, human)
        self.save(agent)
        return old, dict(agent.core_memory)

    @retrying
    def delete_agent(self, user_id: UUID, agent_id: UUID) -> None:
        agent = self._agent(user_id, agent_id)
        agent.delete()
        self.save(agent, self._release(user_id, agent.name))


def _lookup(table: dict[str, R], name: str, kind: str) -> R:
    try:
        return table[name]
    except KeyError:
        raise UnknownCatalogueEntry(f"Unknown {kind} {name!r}; choose one of: {', '.join(table)}") from None
