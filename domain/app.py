"""The application service: each method loads aggregates, calls one command, and saves.

Writes retry on optimistic-concurrency conflicts (two requests changing one aggregate at once):
the loser re-reads and re-applies its command, so clients never see a version conflict.
"""

import functools
import json
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording, Transcoder, Transcoding

from domain import catalogue, keys, memory, messages, names, step
from domain.agents import Agent
from domain.assistants import Assistant, AssistantNotFound, Thread, ThreadNotFound
from domain.audit import AuditedMapper
from domain.errors import (
    AgentNotFound,
    DefaultUserProtected,
    NothingToStore,
    NothingToUndo,
    TurnRefused,
    UnknownCatalogueEntry,
    UserAlreadyExists,
    UserNotFound,
)
from domain.messages import Message, ToolCall
from domain.names import AgentName
from domain.sources import Source, SourceNotFound
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


def _now() -> datetime:
    return datetime.now(UTC)


def boot_messages(system: str, now: datetime) -> list[Message]:
    """A new agent's context: the system message, a greeting sent through send_message (so the
    model sees how to talk), and the user's first login."""
    call = ToolCall(f"call_{uuid4().hex[:24]}", "send_message", '{"message": "Hello! I\'m here and ready to talk."}')
    return [
        Message(uuid4(), "system", system, now),
        Message(
            uuid4(),
            "assistant",
            "Boot sequence finished, persona loaded. Checking that messaging works.",
            now,
            tool_call=call,
        ),
        Message(
            uuid4(),
            "function",
            messages.function_result("OK", "None", now),
            now,
            name="send_message",
            tool_call_id=call.id,
        ),
        Message(uuid4(), "user", messages.login_text(now), now),
    ]


WAKE_TEXTS = {"heartbeat": step.HEARTBEAT_REQUESTED, "memory_warning": step.MEMORY_WARNING}


def _opening(role: str, text: str, now: datetime) -> Message:
    """The message a queued turn opens with, packaged as MemGPT packages it."""
    if role == "user":
        return Message(uuid4(), "user", messages.user_text(text, now), now)
    if role == "system":
        return Message(uuid4(), "user", messages.system_text(text, now), now)
    return Message(uuid4(), "user", messages.heartbeat_text(WAKE_TEXTS[role], now), now)


class MemGPT(Application[UUID]):
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

    @retrying
    def save_text(self, user_id: UUID, kind: str, name: str, text: str) -> None:
        """Store a human or persona text under a name, for this user's new agents."""
        user = self._user(user_id)
        user.save_text(kind, name, text)
        self.save(user)

    @retrying
    def save_preset(self, user_id: UUID, name: str, system: str, functions: list[str]) -> None:
        user = self._user(user_id)
        user.save_preset(name, system, functions)
        self.save(user)

    @retrying
    def delete_preset(self, user_id: UUID, name: str) -> None:
        user = self._user(user_id)
        user.delete_preset(name)
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
        owner = self._user(user_id)
        presets = {
            **catalogue.PRESETS,
            **{n: catalogue.Preset(n, p["system"], tuple(p["functions"])) for n, p in owner.presets.items()},
        }
        chosen = _lookup(presets, preset, "preset")
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
                _lookup({**catalogue.PERSONAS, **owner.personas}, persona, "persona"),
                _lookup({**catalogue.HUMANS, **owner.humans}, human, "human"),
            ),
            llm_config=llm_config,
            embedding_config=embedding_config,
            messages=boot_messages(chosen.system, _now()),
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

    # turns

    @retrying
    def queue_turn(self, user_id: UUID, agent_id: UUID, role: str, text: str) -> UUID:
        """Append a message for the agent; a turn runner answers it in order."""
        if role not in ("user", "system", *WAKE_TEXTS):
            raise TurnRefused(f"Unknown message role {role!r}: use 'user' or 'system'.")
        agent = self._agent(user_id, agent_id)
        turn_id = uuid4()
        agent.queue_turn(turn_id, role, text)
        self.save(agent)
        return turn_id

    def agent(self, agent_id: UUID) -> Agent:
        """The agent as the runner sees it (no owner check: the runner acts for the agent)."""
        return self.repository.get(agent_id)

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
        turn = agent.queued[0]
        agent.start_turn(turn["turn_id"], _opening(turn["role"], turn["text"], _now()))
        self.save(agent)
        return agent

    @retrying
    def record_step(
        self, agent_id: UUID, turn_id: UUID, reply: step.Reply, call: ToolCall | None, outcome: step.Outcome | None
    ) -> Agent:
        """One step's events, saved together: what the model said, what its function returned,
        and the core-memory edit it made, so memory never disagrees with the messages."""
        agent: Agent = self.repository.get(agent_id)
        assistant, result = step.step_messages(reply, call, outcome, (uuid4(), uuid4()), _now())
        agent.speak(turn_id, assistant)
        if result is not None and outcome is not None:
            agent.function_returned(turn_id, result, outcome.status, outcome.shown)
            if outcome.core_memory is not None:
                agent.edit_memory_by_function(turn_id, outcome.core_memory)
            if outcome.passages:
                agent.insert_passages([{"id": uuid4(), "text": text} for text in outcome.passages])
        self.save(agent)
        return agent

    @retrying
    def heartbeat(self, agent_id: UUID, turn_id: UUID, reason: str) -> Agent:
        agent: Agent = self.repository.get(agent_id)
        now = _now()
        agent.heartbeat(turn_id, Message(uuid4(), "user", messages.heartbeat_text(reason, now), now))
        self.save(agent)
        return agent

    @retrying
    def warn_memory(self, agent_id: UUID, turn_id: UUID) -> Agent:
        agent: Agent = self.repository.get(agent_id)
        now = _now()
        agent.warn_memory(turn_id, Message(uuid4(), "user", messages.system_text(step.MEMORY_WARNING, now), now))
        self.save(agent)
        return agent

    @retrying
    def summarize(self, agent_id: UUID, turn_id: UUID, hidden: list[UUID], summary: str) -> Agent:
        agent: Agent = self.repository.get(agent_id)
        now = _now()
        note = messages.SUMMARY_NOTE.format(hidden=len(hidden), total=agent.recall_count, summary=summary)
        agent.summarize(turn_id, Message(uuid4(), "user", messages.system_text(note, now), now), hidden)
        self.save(agent)
        return agent

    @retrying
    def end_turn(self, agent_id: UUID, turn_id: UUID, failure: str | None = None) -> None:
        agent: Agent = self.repository.get(agent_id)
        if failure is None:
            agent.complete_turn(turn_id)
        else:
            agent.fail_turn(turn_id, failure)
        self.save(agent)

    # archival memory over REST (the agent's own inserts are part of its steps)

    @retrying
    def insert_passages(self, user_id: UUID, agent_id: UUID, texts: list[str]) -> list[UUID]:
        agent = self._agent(user_id, agent_id)
        passages = [{"id": uuid4(), "text": text} for text in texts if text.strip()]
        if not passages:
            raise NothingToStore("There is nothing to store: the content is empty.")
        agent.insert_passages(passages)
        self.save(agent)
        return [p["id"] for p in passages]

    @retrying
    def delete_passage(self, user_id: UUID, agent_id: UUID, passage_id: UUID) -> None:
        agent = self._agent(user_id, agent_id)
        agent.delete_passage(passage_id)
        self.save(agent)

    # the agent commands that change it

    @retrying
    def pop_messages(self, user_id: UUID, agent_id: UUID, count: int) -> int:
        agent = self._agent(user_id, agent_id)
        before = len(agent.messages)
        agent.pop(count)
        self.save(agent)
        return before - len(agent.messages)

    @retrying
    def retry_last(self, user_id: UUID, agent_id: UUID) -> UUID:
        """Take back the last user message and everything after it, then ask again."""
        agent = self._agent(user_id, agent_id)
        last = agent.last("user")
        ids = agent.message_ids
        agent.pop(len(ids) - ids.index(last.id))
        turn_id = uuid4()
        agent.queue_turn(turn_id, "user", messages.plain_text(last))
        self.save(agent)
        return turn_id

    @retrying
    def rethink(self, user_id: UUID, agent_id: UUID, text: str) -> None:
        """Replace the inner thoughts of the last assistant message."""
        agent = self._agent(user_id, agent_id)
        last = agent.last("assistant")
        agent.rewrite_message(replace(last, text=text))
        self.save(agent)

    @retrying
    def rewrite(self, user_id: UUID, agent_id: UUID, text: str) -> None:
        """Replace what the last send_message said."""
        agent = self._agent(user_id, agent_id)
        for m in reversed(agent.messages):
            if m.role == "assistant" and m.tool_call and m.tool_call.name == "send_message":
                call = replace(m.tool_call, arguments=json.dumps({"message": text}, ensure_ascii=False))
                agent.rewrite_message(replace(m, tool_call=call))
                self.save(agent)
                return
        raise NothingToUndo("There is no sent message in context to rewrite.")

    # the OpenAI-Assistants-compatible surface

    def _owned(self, cls: type[Any], aggregate_id: UUID, user_id: UUID) -> Any:
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            found = None
        if not isinstance(found, cls):
            raise (AssistantNotFound if cls is Assistant else ThreadNotFound)(
                f"No {cls.__name__.lower()} found with id {aggregate_id}"
            )
        found.check_owner(user_id)
        return found

    @retrying
    def create_assistant(
        self,
        user_id: UUID,
        name: str,
        model: str,
        instructions: str,
        description: str | None,
        tools: list[str],
        metadata: dict[str, Any],
    ) -> Assistant:
        self._user(user_id)
        assistant = Assistant(user_id, name, model, instructions, description, tools, metadata)
        self.save(assistant)
        return assistant

    @retrying
    def delete_assistant(self, user_id: UUID, assistant_id: UUID) -> None:
        assistant = self._owned(Assistant, assistant_id, user_id)
        assistant.delete()
        self.save(assistant)

    @retrying
    def create_thread(self, user_id: UUID, messages: list[str], metadata: dict[str, Any]) -> Thread:
        self._user(user_id)
        thread = Thread(user_id, metadata)
        for content in messages:
            thread.add_message(uuid4(), "user", content, {})
        self.save(thread)
        return thread

    @retrying
    def add_thread_message(
        self, user_id: UUID, thread_id: UUID, role: str, content: str, metadata: dict[str, Any]
    ) -> UUID:
        thread = self._owned(Thread, thread_id, user_id)
        message_id = uuid4()
        thread.add_message(message_id, role, content, metadata)
        self.save(thread)
        return message_id

    @retrying
    def delete_thread(self, user_id: UUID, thread_id: UUID) -> None:
        thread = self._owned(Thread, thread_id, user_id)
        thread.delete()
        self.save(thread)

    @retrying
    def start_run(
        self,
        user_id: UUID,
        thread_id: UUID,
        assistant_id: UUID,
        instructions: str | None,
        llm_config: dict[str, Any],
        embedding_config: dict[str, Any],
    ) -> UUID:
        """One turn of the thread's agent on the waiting messages; the first run makes the agent
        from the assistant (its instructions become the agent's persona)."""
        thread = self._owned(Thread, thread_id, user_id)
        assistant = self._owned(Assistant, assistant_id, user_id)
        changed: list[Any] = [thread]
        if thread.agent_id is None:
            agent_id = uuid4()
            preset = catalogue.PRESETS[catalogue.DEFAULT_PRESET]
            agent = Agent(
                id=agent_id,
                user_id=user_id,
                name=names.generated(agent_id),
                preset=preset.name,
                persona_name=f"assistant:{assistant.id}",
                human_name=catalogue.DEFAULT_HUMAN,
                system=preset.system,
                functions=list(preset.functions),
                core_memory=memory.initial(
                    assistant.instructions[: memory.SECTION_LIMIT], catalogue.HUMANS[catalogue.DEFAULT_HUMAN]
                ),
                llm_config={**llm_config, "model": assistant.model or llm_config.get("model")},
                embedding_config=embedding_config,
                messages=boot_messages(preset.system, _now()),
            )
            changed += [agent, self._claim(user_id, agent_id, agent.name)]
        else:
            agent = self._agent(user_id, thread.agent_id)
            changed.append(agent)
        run_id, turn_id = uuid4(), uuid4()
        text = thread.start_run(run_id, assistant.id, agent.id, turn_id, instructions)
        agent.queue_turn(turn_id, "user", text)
        self.save(*changed)
        return run_id

    # data sources

    def _source(self, user_id: UUID, source_id: UUID) -> Source:
        found = self._owned_or_none(source_id)
        if not isinstance(found, Source):
            raise SourceNotFound(f"No source found with id {source_id}")
        found.check_owner(user_id)
        return found

    def _owned_or_none(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    @retrying
    def create_source(
        self, user_id: UUID, name: str, description: str | None, embedding_config: dict[str, Any]
    ) -> Source:
        self._user(user_id)
        source = Source(user_id, name, description, embedding_config)
        self.save(source)
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


def _lookup(table: dict[str, R], name: str, kind: str) -> R:
    try:
        return table[name]
    except KeyError:
        raise UnknownCatalogueEntry(f"Unknown {kind} {name!r}; choose one of: {', '.join(table)}") from None
