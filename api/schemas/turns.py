"""Wire shapes of an agent's turns: the list, and one turn's model calls as the model saw them."""

from typing import Annotated, Any, Literal
from uuid import UUID

from msgspec import Meta, Struct

from api.schemas.memgpt import IdPage

TurnStatus = Literal["queued", "running", "completed", "failed"]
Time = Annotated[str | None, Meta(description="ISO 8601, UTC; null until it happened.")]


class TurnsQuery(IdPage, kw_only=True):
    order: Annotated[Literal["asc", "desc"], Meta(description="By when the turns were queued.")] = "asc"


class Tokens(Struct):
    prompt: int
    completion: int
    total: int


class Positions(Struct):
    """Where the log holds the turn: the positions of its TurnQueued, TurnStarted and its end."""

    queued: int
    started: int | None
    ended: int | None


class TurnSummary(Struct):
    id: UUID
    agent_id: UUID
    status: TurnStatus
    role: Annotated[str, Meta(description="user, system, heartbeat or memory_warning: what opened the turn.")]
    queued_at: str
    started_at: Time
    ended_at: Time
    steps: Annotated[int, Meta(description="Model replies recorded (summaries not counted).")]
    tokens: Annotated[Tokens, Meta(description="As the model reported them; 0 where it reported none.")]
    failure: str | None
    positions: Positions


class ListTurnsResponse(Struct, omit_defaults=True):
    turns: list[TurnSummary]
    cursor: Annotated[UUID | None, Meta(description="Pass as after= for the next page; null at the end.")] = None


class ModelRequest(Struct):
    """One request to the model, in the order the turn sent them: `messages`, `tools` and
    `params` together are the exact JSON body its adapter sent."""

    kind: Annotated[Literal["complete", "summarize"], Meta(description="A step, or a summary of old messages.")]
    layout: Annotated[
        Literal["openai", "embedded"],
        Meta(description="embedded: the prompt as the embedded llama.cpp model is sent it (no tools field)."),
    ]
    model: str | None
    exact: Annotated[bool, Meta(description="false: the agent's provider is gone; the body shown lacks its model.")]
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    params: Annotated[dict[str, Any], Meta(description="The rest of the body: model, tool_choice, sampling.")]
    prompt_version: Annotated[int, Meta(description="The agent's version the request was built from.")]
    position: Annotated[int | None, Meta(description="Log position of the event that recorded the answer.")]
    answered_at: str
    new_messages: Annotated[
        list[dict[str, Any]], Meta(description="Messages this step's prompt has that the previous step's had not.")
    ]
    reply: Annotated[
        dict[str, Any],
        Meta(
            description="text, tool_calls (every call the model made, in order, as produced) and skipped (how many"
            " after the first were recorded but not run); a summary: text."
        ),
    ]
    function: Annotated[
        dict[str, Any] | None, Meta(description="The call that ran: name, arguments, status, result, shown.")
    ]
    usage: Annotated[dict[str, int] | None, Meta(description="prompt_tokens, completion_tokens, if reported.")]
    timing: Annotated[dict[str, float] | None, Meta(description="model_seconds: how long the model took.")]


class UnansweredRequest(Struct):
    """A failed turn's last request, built after the runner's last save, with no answer recorded:
    the model got it and failed to answer usefully (an error status, an empty reply), or never got
    it (unreachable); the turn's `failure` says which. Its retries sent the same body."""

    kind: Literal["complete", "summarize"]
    layout: Literal["openai", "embedded"]
    model: str | None
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    params: dict[str, Any]
    prompt_version: int


class Opening(Struct):
    role: str
    text: str


class TurnResponse(Struct):
    turn: TurnSummary
    message: Annotated[Opening, Meta(description="What was queued: its role and text.")]
    requests: Annotated[list[ModelRequest], Meta(description="Every answered model request of the turn, in order.")]
    unanswered: UnansweredRequest | None = None
