"""Wire shapes of an agent's past: in-context messages at a position, diffs, reverts and forks."""

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct, field

from api.schemas.memgpt import (
    INT64_MAX,
    AgentName,
    AgentStateModel,
    ArchivalMemoryObject,
    LLMConfigInput,
    MessageModel,
)

Position = Annotated[int, Meta(ge=1, le=INT64_MAX, description="A log position (an event's `position`).")]
Part = Literal["core_memory", "context"]


class ContextResponse(Struct):
    messages: Annotated[list[MessageModel], Meta(description="The messages in context, oldest first.")]
    position: Annotated[int, Meta(description="The log position of the agent's last event at that point.")]


class DiffQuery(Struct, kw_only=True):
    from_: Position = field(name="from")
    to: Position


class Change(Struct):
    before: Any
    after: Any


class ContextChange(Struct):
    entered: Annotated[list[MessageModel], Meta(description="In context at `to`, not at `from` (oldest first).")]
    left: Annotated[list[MessageModel], Meta(description="In context at `from`, not at `to`.")]


class PassagesChange(Struct):
    added: list[ArchivalMemoryObject]
    removed: list[ArchivalMemoryObject]


class DiffResponse(Struct):
    from_: int = field(name="from")
    to: int = 0
    configuration: Annotated[
        dict[str, Change], Meta(description="Each changed field of the agent's configuration (name, llm_config…).")
    ] = field(default_factory=dict)
    core_memory: Annotated[dict[str, Change], Meta(description="Each changed section.")] = field(default_factory=dict)
    context: ContextChange = field(default_factory=lambda: ContextChange([], []))
    passages: PassagesChange = field(default_factory=lambda: PassagesChange([], []))


class RevertRequest(Struct, kw_only=True):
    to: Position
    parts: Annotated[
        list[Part], Meta(min_length=1, max_length=2, description="What to put back as it was at `to`.")
    ] = field(default_factory=lambda: ["core_memory", "context"])


class RevertResponse(Struct):
    reverted: Annotated[list[str], Meta(description="The parts that differed and were restored (none: no event).")]
    agent_state: AgentStateModel


class ForkRequest(Struct, kw_only=True):
    at: Annotated[int, Meta(ge=1, le=INT64_MAX, description="The position to fork at; now if left out.")] | None = None
    name: AgentName | None = None
    llm_config: Annotated[
        LLMConfigInput | None, Meta(description="The fork's model, if not the source's (the same rules as creation).")
    ] = None
