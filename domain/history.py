"""An agent's past, folded from its events: its recall history and archival passages at a
position, and what changed between two positions.

The aggregate holds only what the next prompt needs (the in-context messages, counts); what it
does not keep — every message it ever exchanged, every passage it stored — is folded here from
the events themselves, so a past state never depends on what a view has kept or dropped since.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.agents import Agent
from domain.messages import Message

#: Events that bring messages into recall memory, and those that change archival memory: the
#: only ones a fold of recall history or passages needs to decode.
MESSAGE_TOPICS = tuple(
    f"memgpt.Agent.{name}"
    for name in (
        "Created",
        "TurnStarted",
        "AssistantSpoke",
        "FunctionReturned",
        "HeartbeatSent",
        "MemoryWarned",
        "ContextSummarized",
        "MessageRewritten",
    )
)
PASSAGE_TOPICS = ("memgpt.Agent.PassagesInserted", "memgpt.Agent.PassageDeleted")

#: What `diff` compares as configuration.
CONFIGURATION = (
    "name",
    "preset",
    "persona_name",
    "human_name",
    "system",
    "functions",
    "llm_config",
    "embedding_config",
)


@dataclass(frozen=True)
class Passage:
    id: UUID
    text: str
    created_at: datetime


def _brought(event: Any) -> list[Message]:
    if isinstance(event, Agent.Created):
        return list(getattr(event, "history", None) or event.messages)
    if isinstance(event, Agent.ContextSummarized):
        return [event.summary]
    message = getattr(event, "message", None)
    return [message] if isinstance(message, Message) and not isinstance(event, Agent.MessageRewritten) else []


def recall(events: Iterable[Any]) -> list[Message]:
    """Every message of the agent, oldest first, as its texts stood after the last event given
    (a /rethink or /rewrite replaces a message's text in place)."""
    found: dict[UUID, Message] = {}
    for event in events:
        if isinstance(event, Agent.MessageRewritten):
            if event.message.id in found:
                found[event.message.id] = event.message
            continue
        for message in _brought(event):
            found.setdefault(message.id, message)
    return list(found.values())


def passages(events: Iterable[Any]) -> list[Passage]:
    """The agent's archival passages after the last event given, oldest first."""
    kept: dict[UUID, Passage] = {}
    for event in events:
        if isinstance(event, Agent.PassagesInserted):
            for p in event.passages:
                kept.setdefault(p["id"], Passage(p["id"], p["text"], event.timestamp))
        elif isinstance(event, Agent.PassageDeleted):
            kept.pop(event.passage_id, None)
    return list(kept.values())


@dataclass(frozen=True)
class Change:
    before: Any
    after: Any


@dataclass(frozen=True)
class Diff:
    """What differs between two states of one agent (`before` at the earlier position)."""

    configuration: dict[str, Change]
    core_memory: dict[str, Change]
    entered: list[Message]  # in context after, not before (or there before with another text)
    left: list[Message]  # in context before, not after (or there after with another text)
    added: list[Passage]
    removed: list[Passage]


def diff(before: Agent, after: Agent, passages_before: list[Passage], passages_after: list[Passage]) -> Diff:
    configuration = {
        name: Change(getattr(before, name), getattr(after, name))
        for name in CONFIGURATION
        if getattr(before, name) != getattr(after, name)
    }
    sections = sorted(set(before.core_memory) | set(after.core_memory))
    core = {
        name: Change(before.core_memory.get(name), after.core_memory.get(name))
        for name in sections
        if before.core_memory.get(name) != after.core_memory.get(name)
    }
    was, now = set(before.messages), set(after.messages)
    had = {p.id for p in passages_before}
    has = {p.id for p in passages_after}
    return Diff(
        configuration,
        core,
        entered=[m for m in after.messages if m not in was],
        left=[m for m in before.messages if m not in now],
        added=[p for p in passages_after if p.id not in had],
        removed=[p for p in passages_before if p.id not in has],
    )
