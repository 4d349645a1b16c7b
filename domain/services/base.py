"""The event store (`MemGPT`, the one `eventsourcing` Application: persistence settings, the
message transcoding, the audited mapper) and what every command group built on it shares:
optimistic-concurrency retries and the look-ups of users, agents and name claims."""

import functools
import random
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, LRUCache, ProcessingEvent, Repository
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

#: True during a command's first attempt (`retrying`): see `CommandGroup._changing`.
_FIRST_ATTEMPT: ContextVar[bool] = ContextVar("FIRST_ATTEMPT", default=False)

P = ParamSpec("P")
R = TypeVar("R")


def retrying(method: Callable[P, R]) -> Callable[P, R]:
    """Re-run a command whose save lost a race for the same aggregate version. The jittered,
    growing pause spreads out writers that would otherwise collide again in lockstep."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        first = _FIRST_ATTEMPT.set(True)
        try:
            for attempt in range(_ATTEMPTS - 1):
                try:
                    return method(*args, **kwargs)
                except IntegrityError:
                    _FIRST_ATTEMPT.set(False)
                    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 - jitter, not crypto
            return method(*args, **kwargs)
        finally:
            _FIRST_ATTEMPT.reset(first)

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


_STRIPES = 64  # locks shared by the cached aggregates (by id): bounded, and rarely contended


class _CopyingCache(LRUCache[UUID, Any]):
    """The aggregate cache, keeping copies of its own: the library caches the very object a command
    saved, which that command's caller may still be reading when another thread fast-forwards it.
    A copy older than the one held is not kept (two threads' saves may reach it out of order)."""

    def __init__(self, maxsize: int, lock_of: Callable[[UUID], threading.RLock]) -> None:
        super().__init__(maxsize)
        self._lock_of = lock_of

    def put(self, key: UUID, value: Any) -> Any:
        with self._lock_of(key):
            try:
                if super().get(key).version >= value.version:
                    return None, None
            except KeyError:
                pass
            return super().put(key, deepcopy(value))


class ThreadSafeRepository(Repository[UUID]):
    """The library's repository, its aggregate cache made safe for the threads commands run on.

    The library fast-forwards a cached aggregate in place under a lock, but copies it for the
    caller outside that lock: a copy taken while another thread fast-forwarded the same aggregate
    failed ("dictionary changed size during iteration", a user deleted while keys were issued).
    Here a cached aggregate is fast-forwarded and copied under one lock, and the cache holds
    copies only (`_CopyingCache`)."""

    def __init__(self, *args: Any, cache_maxsize: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, cache_maxsize=cache_maxsize, **kwargs)
        self._locks = tuple(threading.RLock() for _ in range(_STRIPES))
        if cache_maxsize:
            self.cache = _CopyingCache(cache_maxsize, self._lock_of)

    def _lock_of(self, aggregate_id: UUID) -> threading.RLock:
        return self._locks[hash(aggregate_id) % _STRIPES]

    def get(self, aggregate_id: UUID, *, version: int | None = None, fastforward: bool = True, **kwargs: Any) -> Any:
        """The library's `get`; with `fastforward` False, a cached aggregate as it is cached,
        without reading the events saved since (by another process)."""
        if self.cache is None or version is not None:
            return super().get(aggregate_id, version=version, **kwargs)
        copy = kwargs.pop("deepcopy_from_cache", True)
        with self._lock_of(aggregate_id):
            cached = None if fastforward else self._cached(aggregate_id)
            if cached is None:
                cached = super().get(aggregate_id, deepcopy_from_cache=False, **kwargs)
            return deepcopy(cached) if copy else cached

    def _cached(self, aggregate_id: UUID) -> Any:
        try:
            return self.cache.get(aggregate_id) if self.cache is not None else None
        except KeyError:
            return None


class MemGPT(Application[UUID]):
    """The one Application: where events are stored and aggregates loaded. Commands live in the
    groups built on it (`domain.services.app.CommandGroups`)."""

    name = "memgpt"
    snapshotting_intervals = {Agent: 100}  # noqa: RUF012 - the library reads a class attribute

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(MessageAsDict())

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, as the library configures it, made safe for threads."""
        library = super().construct_repository()
        return ThreadSafeRepository(
            event_store=library.event_store,
            snapshot_store=library.snapshot_store,
            cache_maxsize=getattr(library.cache, "maxsize", None),
            fastforward=library.fastforward,
            fastforward_skipping=library.fastforward_skipping,
            deepcopy_from_cache=library.deepcopy_from_cache,
        )

    def construct_mapper(self) -> AuditedMapper:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=AuditedMapper)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot the aggregate just saved, as it is in hand. The library loads it again at the
        snapshot's version instead, bypassing the cache: the last snapshot and up to 100 events
        read, decoded and replayed, a fifth of a save's CPU under load."""
        if self.snapshots is None:
            return
        for aggregate_id, aggregate in processing_event.aggregates.items():
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval and any(
                e.originator_id == aggregate_id and e.originator_version % interval == 0
                for e in processing_event.events
            ):
                snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
                self.snapshots.put([snapshot_class.take(aggregate)])

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Record, then cache the aggregates as saved. The library caches them only when it does
        not fast-forward, so a command's next load read back and replayed the events just saved."""
        recordings = super()._record(processing_event)
        if self.repository.cache is not None:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        return recordings

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

    def _changing(self, aggregate_id: UUID) -> Any:
        """An aggregate for a command that saves an event of it whatever it decides. Its first
        attempt takes the cached copy without the read that brings it up to date with other
        processes' saves: if it is behind, its save loses the version race and the retry reads."""
        return self.repository.get(aggregate_id, fastforward=not _FIRST_ATTEMPT.get())

    def _agent(self, user_id: UUID, agent_id: UUID, changing: bool = False) -> Agent:
        """The user's agent; `changing` as in `_changing`."""
        try:
            agent = self._changing(agent_id) if changing else self.repository.get(agent_id)
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
