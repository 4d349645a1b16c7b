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

from domain import step
from domain.agents import Agent
from domain.arguments import NotJSON, parse_arguments
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


# A turn open at a position: where a fork carries on from.

_EDITS_MEMORY = {"core_memory_append": Agent.CoreMemoryReplaced, "core_memory_replace": Agent.CoreMemoryReplaced}
_STEP_EFFECT = {**_EDITS_MEMORY, "archival_memory_insert": Agent.PassagesInserted}


def _same_step(previous: Any, event: Any) -> bool:
    """Whether `event` was saved with `previous` as one step (a model's reply, the calls it made
    that did not run, its function's result and that function's effect on memory)."""
    if isinstance(previous, Agent.AssistantSpoke):
        return isinstance(event, Agent.CallsSkipped | Agent.FunctionReturned) and previous.message.tool_call is not None
    if isinstance(previous, Agent.CallsSkipped):
        return isinstance(event, Agent.FunctionReturned)
    if isinstance(previous, Agent.FunctionReturned) and previous.status == "success":
        effect = _STEP_EFFECT.get(previous.message.name or "")
        return effect is not None and isinstance(event, effect)
    return False


def step_rest(last: Any, following: list[Any]) -> int:
    """How many of the events `following` the event `last` belong to the step `last` is part of:
    a fork at a position inside a step takes the whole step, so a call never lacks its result."""
    count = 0
    for event in following:
        if not _same_step(last, event):
            break
        count, last = count + 1, event
    return count


def _wants_more(turn: list[Any]) -> str | None:
    """Why the last step of `turn` asked for another (`step.next_step`, from its events)."""
    spoke = next((e for e in reversed(turn) if isinstance(e, Agent.AssistantSpoke)), None)
    if spoke is None:
        return None
    after = turn[turn.index(spoke) :]
    returned = next((e for e in after if isinstance(e, Agent.FunctionReturned)), None)
    if returned is not None and returned.status == "error":
        return step.FAILED
    call = spoke.message.tool_call
    if call is None:
        return None
    try:
        arguments = parse_arguments(call.arguments or "")
    except NotJSON:
        return None
    return step.REQUESTED if isinstance(arguments, dict) and arguments.get("request_heartbeat") is True else None


def continuation(turn: list[Any]) -> str | None:
    """What a runner does next in a turn whose events so far are `turn` (TurnStarted first):
    "" to ask the model, a heartbeat's text to record before asking, or None when the turn has
    nothing left to do but end."""
    last = turn[-1]
    if isinstance(last, Agent.TurnStarted | Agent.HeartbeatSent | Agent.ContextSummarized):
        return ""
    more = _wants_more(turn)
    if isinstance(last, Agent.MemoryWarned):  # a warning wakes the model by itself
        return step.HEARTBEATS[more] if more else ""
    return step.HEARTBEATS[more] if more else None
