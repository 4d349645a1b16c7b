"""The event store (`MemGPT`, the one `eventsourcing` Application: persistence settings, the
message transcoding, the audited mapper) and what every command group built on it shares:
optimistic-concurrency retries and the look-ups of users, agents and name claims."""

import functools
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording, Transcoder, Transcoding

from domain import names
from domain.agents import Agent
from domain.audit import AuditedMapper
from domain.errors import AgentNotFound, UnknownCatalogueEntry, UserNotFound
from domain.messages import Message
from domain.names import AgentName
from domain.users import User

#: Log position of the last save made in the current context; lets a caller wait until the
#: projections have caught up with its own write (read-your-writes) without a second query.
LAST_POSITION: ContextVar[int] = ContextVar("LAST_POSITION", default=0)

P = ParamSpec("P")
R = TypeVar("R")


def retrying(method: Callable[P, R]) -> Callable[P, R]:
    """Re-run a command whose save lost a race for the same aggregate version. The jittered,
    growing pause spreads out writers that would otherwise collide again in lockstep."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(_ATTEMPTS - 1):
            try:
                return method(*args, **kwargs)
            except IntegrityError:
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 - jitter, not crypto
        return method(*args, **kwargs)

    return wrapper


_ATTEMPTS = 30


class MessageAsDict(Transcoding):
    type = Message
    name = "memgpt_message"

    def encode(self, obj: Message) -> dict[str, Any]:
        return obj.to_dict()

    def decode(self, data: dict[str, Any]) -> Message:
        return Message.from_dict(data)


def utc_now() -> datetime:
    return datetime.now(UTC)


class MemGPT(Application[UUID]):
    """The one Application: where events are stored and aggregates loaded. Commands live in the
    groups built on it (`domain.services.app.CommandGroups`)."""

    name = "memgpt"
    snapshotting_intervals = {Agent: 100}  # noqa: RUF012 - the library reads a class attribute

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(MessageAsDict())

    def construct_mapper(self) -> AuditedMapper:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=AuditedMapper)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        recordings = super().save(*objs, **kwargs)
        if recordings:
            LAST_POSITION.set(max(r.notification.id for r in recordings))
        return recordings


class CommandGroup:
    """Commands of one concern. Each loads aggregates from the store, calls one command on
    them and saves what they recorded, in one atomic save."""

    def __init__(self, store: MemGPT) -> None:
        self.store = store
        self.repository = store.repository

    def save(self, *objs: Any) -> list[Recording[UUID]]:
        return self.store.save(*objs)

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

    def _owned_or_none(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None


def lookup(table: dict[str, R], name: str, kind: str) -> R:
    try:
        return table[name]
    except KeyError:
        raise UnknownCatalogueEntry(f"Unknown {kind} {name!r}; choose one of: {', '.join(table)}") from None
