"""One step of the MemGPT loop, decided without I/O.

The runner asks the model, checks the reply (`check_reply`), hands its first call to `parse`, runs
the function (`run_local` for the functions that only touch the agent; the runner's memory
adapters for searches and inserts, formatted here by `page_text`), and `next_step` says whether
another step follows. The rules are the original's (MemGPT 0.3.4 `agent.py`): `request_heartbeat`
is taken out of every call, an unknown function or unreadable arguments give a failed function
result and another step, a reply without a call is inner monologue that ends the turn, and of
several calls in one reply only the first runs.
"""

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import memory
from domain.arguments import NotJSON, parse_arguments
from domain.errors import DomainError
from domain.functions import SCHEMAS
from domain.messages import Message, ToolCall, clean, clean_arguments, cleaned, function_result

RESULT_LIMIT = 3000  # characters of a function result the model gets back
PAGE_SIZE = 5
MAX_STEPS = 10  # chained steps in one turn, heartbeats included
PAUSE_LIMIT_MINUTES = 360

HEARTBEAT_REQUESTED = "[This is an automated system message hidden from the user] Function ran with request_heartbeat=true; you have control again."
HEARTBEAT_FAILED = "[This is an automated system message hidden from the user] The function call failed; you have control again to fix it."
HEARTBEAT_CUT = (
    "[This is an automated system message hidden from the user] Your last reply was cut off before it was "
    "complete; you have control again to say it, more briefly."
)
MEMORY_WARNING = (
    "[This is an automated system message hidden from the user] Your context is nearly full and older "
    "messages will soon be summarised out of it. Save anything important to core or archival memory now."
)

_TYPES = {"string": str, "integer": int, "boolean": bool, "number": (int, float)}


@dataclass(frozen=True)
class Reply:
    """What the model answered: optional inner thoughts, the tool calls it made, why it stopped
    (`"length"`: cut off at its output limit), and the tokens it reported using, if it did."""

    text: str | None
    calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: dict[str, int] | None = None  # {"prompt_tokens", "completion_tokens"}

    @property
    def cut(self) -> bool:
        return self.finish_reason == "length"

    @property
    def call(self) -> ToolCall | None:
        """The call that runs: the first, as in the original; the others are recorded, not run."""
        return self.calls[0] if self.calls else None

    @property
    def skipped(self) -> tuple[ToolCall, ...]:
        return tuple(storable(c) for c in self.calls[1:])


def storable(call: ToolCall) -> ToolCall:
    """A model's call as events may keep it: no NUL or lone surrogate in its id, name or arguments."""
    return ToolCall(clean(call.id) or "", clean(call.name) or "", clean_arguments(call.arguments) or "")


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any]  # without request_heartbeat
    request_heartbeat: bool
    inner_thoughts: str | None = None  # some models put their thoughts among the arguments

    def shown(self) -> str:
        """The call as MemGPT prints it: `send_message({'message': 'hi'})`."""
        return f"{self.name}({self.args!r})"


class CallError(DomainError):
    """The model's call cannot run; its message goes back to the model as a function error."""


class EmptyReply(DomainError):
    """The model answered with neither text nor a function call: the turn fails visibly."""


class TooManySteps(DomainError):
    """The model kept asking for another step; the turn ends visibly instead of silently."""


#: What another step is for, when one follows (see `next_step`).
FAILED, REQUESTED, CUT = "failed", "requested", "cut"


@dataclass(frozen=True)
class Outcome:
    status: str  # "success" | "error"
    result: str
    shown: str | None = None  # what send_message showed the user
    core_memory: dict[str, str] | None = None  # the new core memory, when the function edited it
    passages: tuple[str, ...] = ()  # texts to store in archival memory


def _coerced(value: Any, kind: str) -> Any:
    """Integers written as strings ("2") pass, as the original's `int(page)` let them."""
    if kind == "integer" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def _heartbeat(value: Any) -> bool:
    """The original popped `request_heartbeat` from every call; anything but a bool is false."""
    return value if isinstance(value, bool) else False


def parse(call: ToolCall, allowed: list[str]) -> Call:
    if call.name not in allowed:
        raise CallError(f"No function named {call.name!r} is available.")
    try:
        args = parse_arguments(call.arguments or "")
    except NotJSON as e:
        raise CallError(f"Could not parse the arguments of {call.name} as JSON: {e}") from None
    if not isinstance(args, dict):
        raise CallError(f"The arguments of {call.name} must be a JSON object.")
    params = SCHEMAS[call.name]["parameters"]
    properties: dict[str, Any] = params["properties"]
    heartbeat = _heartbeat(args.pop("request_heartbeat", None))
    thoughts = args.pop("inner_thoughts", None) if "inner_thoughts" not in properties else None
    required = params["required"]
    args = {k: cleaned(v) for k, v in args.items() if v is not None or k in required}
    unexpected = sorted(set(args) - set(properties))
    if unexpected:
        raise CallError(f"{call.name}() got unexpected arguments: {', '.join(unexpected)}")
    missing = [p for p in params["required"] if p not in args and p != "request_heartbeat"]
    if missing:
        raise CallError(f"{call.name}() is missing required arguments: {', '.join(missing)}")
    for name, value in list(args.items()):
        kind = properties[name]["type"]
        value = args[name] = _coerced(value, kind)
        expected = _TYPES[kind]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise CallError(f"{call.name}(): {name} must be {kind}, not {type(value).__name__}")
    return Call(call.name, args, heartbeat, clean(thoughts) if isinstance(thoughts, str) else None)


def check_reply(reply: Reply) -> None:
    """A reply with nothing in it cannot be recorded as a step; say so instead of answering nothing."""
    if reply.call is None and not (reply.text or "").strip():
        why = f" (finish_reason: {reply.finish_reason})" if reply.finish_reason else ""
        raise EmptyReply(f"The model answered with neither text nor a function call{why}.")


def cut_off(call: ToolCall) -> CallError:
    return CallError(
        f"Your reply was cut off at the model's output limit before the call to {call.name} was complete; "
        "it was not run."
    )


def run_local(call: Call, core_memory: dict[str, str]) -> Outcome | None:
    """Run a function that needs nothing but the agent; None for the ones that need memory stores."""
    try:
        if call.name == "send_message":
            return Outcome("success", "None", shown=call.args["message"])
        if call.name == "pause_heartbeats":
            minutes = call.args["minutes"]
            if not 0 < minutes <= PAUSE_LIMIT_MINUTES:
                raise CallError(f"minutes must be between 1 and {PAUSE_LIMIT_MINUTES}")
            return Outcome("success", f"Timed heartbeats paused for {minutes} minutes.")
        if call.name == "archival_memory_insert":
            return Outcome("success", "None", passages=(call.args["content"],))
        if call.name == "core_memory_append":
            new = memory.append(core_memory, call.args["name"], call.args["content"])
            return Outcome("success", "None", core_memory=new)
        if call.name == "core_memory_replace":
            args = call.args
            new = memory.replace(core_memory, args["name"], args["old_content"], args["new_content"])
            return Outcome("success", "None", core_memory=new)
    except DomainError as e:
        return Outcome("error", f"{type(e).__name__}: {e}")
    return None


def failed(error: Exception) -> Outcome:
    return Outcome("error", f"{type(error).__name__}: {error}")


def page_text(results: list[str], total: int, page: int) -> str:
    """MemGPT's paged search answer: which page of how many, then the results as JSON."""
    if total == 0:
        return "No results found."
    pages = math.ceil(total / PAGE_SIZE)
    return f"Showing {len(results)} of {total} results (page {page}/{pages - 1}): " + json.dumps(
        results, ensure_ascii=False
    )


def clip(result: str) -> str:
    if len(result) <= RESULT_LIMIT:
        return result
    note = f"... [output truncated: {len(result)} characters, limit {RESULT_LIMIT}]"
    return result[: RESULT_LIMIT - len(note)] + note


def next_step(reply: Reply, call: Call | None, outcome: Outcome | None) -> str | None:
    """Why another step follows, or None: a failed function (`FAILED`), a requested heartbeat
    (`REQUESTED`), or a reply cut off without a call (`CUT`); never for `send_message` alone."""
    if outcome is not None and outcome.status == "error":
        return FAILED
    if call is not None and call.request_heartbeat:
        return REQUESTED
    if reply.call is None and reply.cut:
        return CUT
    return None


HEARTBEATS = {FAILED: HEARTBEAT_FAILED, REQUESTED: HEARTBEAT_REQUESTED, CUT: HEARTBEAT_CUT}


def step_messages(
    reply: Reply, outcome: Outcome | None, ids: tuple[UUID, UUID], now: datetime, thoughts: str | None = None
) -> tuple[Message, Message | None]:
    """The assistant message of a step and, if it called a function, the function's result.
    Only the call that ran is in the message: a model is never shown calls without results."""
    call = reply.call
    if call is not None:
        call = storable(call)
    assistant = Message(ids[0], "assistant", clean(reply.text) or thoughts, now, tool_call=call)
    if call is None or outcome is None:
        return assistant, None
    status = "OK" if outcome.status == "success" else "Failed"
    text = function_result(status, clip(clean(outcome.result) or ""), now)
    return assistant, Message(ids[1], "function", text, now, name=call.name, tool_call_id=call.id)
