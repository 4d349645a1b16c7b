"""The prompt's layout for prompt caching, and the embedded model's rewriting of it (no model needed).

A step's prompt must begin with everything the previous step's prompt held, except what changes
at every message (the memory counts): that is what lets llama.cpp (and providers that cache
prompts) skip re-evaluating it.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from api.turns.embedded import plain_messages, reply_schema
from domain import catalogue, messages, prompt
from domain.app_agents import boot_messages
from domain.messages import Message, ToolCall

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


def test_each_step_of_the_embedded_prompt_extends_the_previous_one() -> None:
    view = View()
    _exchange(view, "sailing", 1)
    before = _plain(view)
    _exchange(view, "the piano", 2)  # a new message, new counts
    after = _plain(view)

    memory, newest = after[-2:]
    assert "recall memory" in memory["content"] and "<human>\nFirst name: Chad" in memory["content"]
    assert "Function result" in newest["content"], "the model answers the newest message: it comes last"
    kept = before[:-2] + before[-1:]  # all but the memory turn is a cached prefix of the next step
    assert after[: len(kept)] == kept and before[-2]["content"] != memory["content"]
    system = after[0]["content"]
    assert system.index("You are MemGPT") < system.index("Functions you can call")
    assert "messages between you and the user" not in system and "First name: Chad" not in system
    assert system.index("Functions you can call") < system.index("<persona>\nThe following")


def test_a_memory_edit_changes_only_the_memory_turn() -> None:
    view = View()
    _exchange(view, "sailing", 1)
    before = _plain(view)
    view.core_memory = {**view.core_memory, "human": "First name: Ada"}
    after = _plain(view)
    assert after[:-2] == before[:-2] and after[-1] == before[-1]
    assert "Ada" in after[-2]["content"] and "Ada" not in before[-2]["content"]


def test_replies_are_one_call_of_a_known_function() -> None:
    schema = reply_schema(prompt.tools(View()))
    names = [option["properties"]["function"]["const"] for option in schema["anyOf"]]
    assert names == list(catalogue.PRESETS["memgpt_chat"].functions)
