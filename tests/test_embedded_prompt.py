"""The prompt's layout for prompt caching, and the embedded model's rewriting of it (no model needed).

A step's prompt must begin with everything the previous step's prompt held, except what changes
at every message (the memory counts): that is what lets llama.cpp (and providers that cache
prompts) skip re-evaluating it.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from domain import catalogue, memory, messages, prompt, step
from domain.messages import Message, ToolCall
from domain.services.agents import boot_messages
from runtime.adapters.embedded import _reply, plain_messages, reply_schema

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@dataclass
class View:
    system: str = catalogue.PRESETS["memgpt_chat"].system
    core_memory: dict[str, str] = field(
        default_factory=lambda: {"persona": catalogue.PERSONAS["sam_pov"], "human": catalogue.HUMANS["basic"]}
    )
    messages: list[Message] = field(default_factory=lambda: boot_messages(catalogue.PRESETS["memgpt_chat"].system, T0))
    recall_count: int = 3
    archival_count: int = 0
    functions: list[str] = field(default_factory=lambda: list(catalogue.PRESETS["memgpt_chat"].functions))


def _exchange(view: View, text: str, minute: int) -> None:
    now = T0 + timedelta(minutes=minute)
    call = ToolCall(f"call_{minute}", "send_message", json.dumps({"message": f"About {text}!"}))
    view.messages += [
        Message(uuid4(), "user", messages.user_text(text, now), now),
        Message(uuid4(), "assistant", f"They said {text}.", now, tool_call=call),
        Message(uuid4(), "function", messages.function_result("OK", "None", now), now, name="x", tool_call_id=call.id),
    ]
    view.recall_count += 3


def _plain(view: View) -> list[dict[str, str]]:
    return plain_messages(prompt.chat_messages(view), prompt.tools(view))


def test_the_system_message_goes_from_static_to_changing() -> None:
    view = View(recall_count=12, archival_count=4)
    text = prompt.system_message(view)
    assert text.startswith(view.system.rstrip())
    preset_end, persona, counts = (
        text.index(view.system.rstrip()[-40:]),
        text.index("<persona>\nThe following is a starter persona"),
        text.index("12 messages"),
    )
    assert preset_end < persona < counts and "4 memories" in text[counts:]
    assert "\n\n".join(prompt.split_system(text)) == text


def test_split_system_keeps_all_text_whatever_the_memory_holds() -> None:
    tricky = View(core_memory={"persona": f"I quote {prompt.CORE_HEADING} and {prompt.COUNTS_HEADING}.", "human": ""})
    text = prompt.system_message(tricky)
    instructions, core, counts = prompt.split_system(text)
    assert instructions == tricky.system.rstrip() and core.endswith("</human>") and counts.startswith("### Memory")
    assert prompt.split_system("Summarise this.") == ("Summarise this.", "", "")


def _edit(view: View, function: str, params: dict[str, str], minute: int, status: str = "OK") -> None:
    """The model edits the human section with a call (the view's memory changes as the log says)."""
    now = T0 + timedelta(minutes=minute)
    call = ToolCall(f"edit_{minute}", function, json.dumps({"name": "human", **params, "request_heartbeat": True}))
    view.messages += [
        Message(uuid4(), "assistant", "Worth keeping.", now, tool_call=call),
        Message(
            uuid4(), "function", messages.function_result(status, "None", now), now, name="x", tool_call_id=call.id
        ),
        Message(uuid4(), "user", messages.heartbeat_text(step.HEARTBEAT_REQUESTED, now), now),
    ]
    if status == "OK":
        edit = memory.append if function == "core_memory_append" else memory.replace
        view.core_memory = edit(view.core_memory, "human", *params.values())
    view.recall_count += 3


def _extends(before: list[dict[str, str]], after: list[dict[str, str]]) -> bool:
    """`after` begins with all of `before` but its counts (the turn just before the newest)."""
    kept = before[:-2] + before[-1:]
    return after[: len(kept)] == kept


def test_each_step_of_the_embedded_prompt_extends_the_previous_one() -> None:
    view = View()
    _exchange(view, "sailing", 1)
    before = _plain(view)
    _exchange(view, "the piano", 2)  # a new message, new counts
    after = _plain(view)

    counts, newest = after[-2:]
    assert counts["content"] == "Memory statistics: 9 messages in recall memory, 0 passages in archival memory."
    assert "Function result" in newest["content"], "the model answers the newest message: it comes last"
    assert "time" not in newest["content"], "a result's time stamp is tokens the model has no use for"
    assert _extends(before, after) and before[-2] != counts
    system, human = after[0]["content"], after[1]["content"]
    assert human == "<human>\nFirst name: Chad\n</human>"
    assert system.index("You are MemGPT") < system.index("Functions you can call")
    assert "messages between you and the user" not in system and "First name: Chad" not in system
    assert system.index("Functions you can call") < system.index("<persona>\nThe following")


def test_the_model_s_own_memory_edits_keep_the_prompt_a_prefix() -> None:
    view = View()
    _exchange(view, "sailing", 1)
    steps = [_plain(view)]
    _edit(view, "core_memory_append", {"content": "Loves sailing"}, 2)
    steps.append(_plain(view))
    _edit(view, "core_memory_replace", {"old_content": "Chad", "new_content": "Ada"}, 3)
    steps.append(_plain(view))
    assert view.core_memory["human"] == "First name: Ada\nLoves sailing"

    assert _extends(steps[0], steps[1]) and _extends(steps[1], steps[2])
    # the section as it was before the edits the model can read below it
    assert steps[2][1]["content"] == "<human>\nFirst name: Chad\n</human>"
    assert '"function": "core_memory_append", "params": {"name": "human", "content": "Loves sailing"}' in str(steps[2])


def test_an_edit_that_cannot_be_undone_shows_the_section_as_it_is_after_it() -> None:
    view = View()
    _edit(view, "core_memory_append", {"content": "Loves sailing"}, 1)
    _edit(view, "core_memory_replace", {"old_content": "Loves sailing", "new_content": ""}, 2)  # a deletion
    _edit(view, "core_memory_append", {"content": "Never mind"}, 3, status="Failed")  # changed nothing
    plain = _plain(view)
    shown = [i for i, m in enumerate(plain) if m["content"].startswith("<human>")]
    assert len(shown) == 1 and plain[shown[0]]["content"] == "<human>\nFirst name: Chad\n\n</human>"
    assert '"new_content": ""' in plain[shown[0] - 2]["content"], "right after the deletion and its result"


def test_an_edit_from_outside_the_conversation_changes_only_the_memory_turn() -> None:
    view = View()
    _exchange(view, "sailing", 1)
    before = _plain(view)
    view.core_memory = {**view.core_memory, "human": "First name: Ada"}  # the REST memory edit
    after = _plain(view)
    assert after[0] == before[0] and after[2:] == before[2:]
    assert after[1]["content"] == "<human>\nFirst name: Ada\n</human>"


def test_replies_are_one_call_of_a_known_function() -> None:
    schema = reply_schema(prompt.tools(View()))
    names = [option["properties"]["function"]["const"] for option in schema["anyOf"]]
    assert names == list(catalogue.PRESETS["memgpt_chat"].functions)
    assert all("request_heartbeat" not in option["properties"]["params"]["properties"] for option in schema["anyOf"])


def test_every_call_but_send_message_hands_control_back() -> None:
    tools = prompt.tools(View())

    def call(function: str, params: dict[str, str]) -> dict[str, object]:
        text = json.dumps({"inner_thoughts": "Hm.", "function": function, "params": params})
        return json.loads(_reply({"message": {"content": text}, "finish_reason": "stop"}, tools).calls[0].arguments)

    assert call("core_memory_append", {"name": "human", "content": "Sails"})["request_heartbeat"] is True
    assert "request_heartbeat" not in call("send_message", {"message": "Hi"})
