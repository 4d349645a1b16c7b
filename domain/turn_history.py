"""A turn's model calls, rebuilt from the log: what each call was sent and what came back.

A prompt is derived from the agent's state alone (`domain.prompt`), and the runner builds each
prompt from the agent exactly as its last save of the turn left it: the turn's start, a heartbeat,
a memory warning or a summary, each saved on its own. So the agent at the version of the latest
such event before a call is the state that call's prompt was made of, even when other commands
(a memory edit, a rename) were recorded while the model was answering. A summary call shows the
messages it hid (`ContextSummarized.hidden`), laid out by `prompt.summary_request`.

No I/O: the caller hands in the turn's events and a way to load the agent at a version.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from domain import prompt, step
from domain.agents import Agent
from domain.messages import SUMMARY_NOTE, Message

COMPLETE, SUMMARIZE = "complete", "summarize"

# The events each of which the runner saves alone, and builds the next prompt from.
_BASES = (Agent.TurnStarted, Agent.HeartbeatSent, Agent.MemoryWarned, Agent.ContextSummarized)
_SUMMARY_MARK = SUMMARY_NOTE.rpartition("{summary}")[0].rpartition("\n")[2] + "\n"


@dataclass
class ModelCall:
    """One request to the model within a turn, in the order they were sent."""

    kind: str  # COMPLETE (a step) or SUMMARIZE
    version: int  # the agent version whose state the request was built from
    llm_config: dict[str, Any]
    messages: list[dict[str, Any]]  # OpenAI-style, before any adapter's own layout
    tools: list[dict[str, Any]] | None  # None for a summary
    new_messages: list[dict[str, Any]]  # what this prompt has that the turn's previous one had not
    position: int | None  # log position of the event that recorded the answer
    answered_at: datetime
    reply: dict[str, Any]  # {"text", "tool_calls", "skipped"}; a summary: {"text"}
    function: dict[str, Any] | None = None  # {"name", "arguments", "status", "result", "shown"}
    usage: dict[str, int] | None = None
    timing: dict[str, float] | None = None


def _call_json(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def summary_of(note: Message) -> str:
    """The model's own summary text, out of the note `TurnCommands.summarize` wrapped it in."""
    try:
        text = str(json.loads(note.text or "").get("message", ""))
    except (json.JSONDecodeError, AttributeError):
        text = note.text or ""
    return text.partition(_SUMMARY_MARK)[2] or text


class _Turn:
    """The walk through one turn's events: the state the next request is built from, and the
    messages the previous step's prompt already showed."""

    def __init__(self, agent_at: Callable[[int], Agent]) -> None:
        self.agent_at = agent_at
        self.basis: Agent | None = None
        self.shown: set[UUID] = set()
        self.calls: list[ModelCall] = []

    def summary(self, event: Any, position: int | None) -> None:
        assert self.basis is not None
        hidden = set(event.hidden)
        messages = prompt.summary_request([m for m in self.basis.messages[1:] if m.id in hidden])
        reply = {"text": summary_of(event.summary)}
        self._add(SUMMARIZE, messages, None, [], position, event.timestamp, reply)

    def step(self, event: Any, position: int | None) -> ModelCall:
        basis = self.basis
        assert basis is not None
        new = [m.for_model() for m in basis.messages[1:] if m.id not in self.shown]
        self.shown = {m.id for m in basis.messages[1:]}
        message: Message = event.message
        call = message.tool_call
        reply = {
            "text": message.text,
            "tool_calls": [_call_json(call.id, call.name, call.arguments)] if call else [],
            "skipped": 0,
        }
        made = self._add(
            COMPLETE, prompt.chat_messages(basis), prompt.tools(basis), new, position, event.timestamp, reply
        )
        made.usage, made.timing = getattr(event, "usage", None), getattr(event, "timing", None)
        if call:
            made.function = {"name": call.name, "arguments": call.arguments}
        return made

    def _add(
        self,
        kind: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        new: list[dict[str, Any]],
        position: int | None,
        at: datetime,
        reply: dict[str, Any],
    ) -> ModelCall:
        assert self.basis is not None
        made = ModelCall(
            kind, self.basis.version, dict(self.basis.llm_config), messages, tools, new, position, at, reply
        )
        self.calls.append(made)
        return made

    def rebase(self, event: Any) -> None:
        self.basis = self.agent_at(event.originator_version)
        if isinstance(event, Agent.TurnStarted) and not self.calls:
            self.shown = {m.id for m in self.agent_at(event.originator_version - 1).messages[1:]}


class TurnCalls(NamedTuple):
    calls: list[ModelCall]
    unanswered: Agent | None  # a failed turn's state its last, unanswered request was built from


def model_calls(
    turn_id: UUID,
    events: Iterable[tuple[int | None, Any]],
    agent_at: Callable[[int], Agent],
) -> TurnCalls:
    """The model calls of turn `turn_id`, given the agent's events from the turn's `TurnStarted`
    on (with their log positions, None if unknown) and `agent_at(version)`. When the turn failed
    after the runner last saved and before an answer was recorded (the model unreachable, an
    empty reply, a crash), the state the next request was built from is given too; not after the
    last step a turn may take (it failed for taking too many, asking nothing more)."""
    turn = _Turn(agent_at)
    current: ModelCall | None = None
    answered = failed = False
    for position, event in events:
        if getattr(event, "turn_id", None) != turn_id:
            continue
        if isinstance(event, Agent.ContextSummarized) and turn.basis is not None:
            turn.summary(event, position)
        elif isinstance(event, Agent.AssistantSpoke) and turn.basis is not None:
            current = turn.step(event, position)
            answered = True
        elif isinstance(event, Agent.CallsSkipped) and current is not None:
            current.reply["tool_calls"] += [_call_json(c["id"], c["name"], c["arguments"]) for c in event.calls]
            current.reply["skipped"] += len(event.calls)
        elif isinstance(event, Agent.FunctionReturned) and current is not None and current.function is not None:
            current.function |= {"status": event.status, "result": event.message.text, "shown": event.shown}
        elif isinstance(event, Agent.TurnFailed):
            failed = True
        if isinstance(event, _BASES):
            turn.rebase(event)
            current, answered = None, False
    steps = sum(call.kind == COMPLETE for call in turn.calls)
    pending = failed and not answered and turn.basis is not None and steps < step.MAX_STEPS
    return TurnCalls(turn.calls, turn.basis if pending else None)
