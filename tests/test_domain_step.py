"""The pure step logic: parsing calls, running local functions, heartbeats, summaries, frames."""

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from eventsourcing.application import project_aggregate

from domain import frames, prompt, step
from domain.agents import Agent
from domain.messages import Message, ToolCall, plain_text, user_text
from domain.services.app import CommandGroups, MemGPT

NOW = datetime(2024, 1, 31, 9, 15, tzinfo=UTC)
BASE = list(step.SCHEMAS)[:8]


def _call(function: str, **args: object) -> ToolCall:
    return ToolCall("c1", function, json.dumps(args))


def test_parse_accepts_valid_calls_and_strips_the_heartbeat_flag() -> None:
    call = step.parse(_call("core_memory_append", name="human", content="x", request_heartbeat=True), BASE)
    assert call == step.Call("core_memory_append", {"name": "human", "content": "x"}, True)
    assert call.shown() == "core_memory_append({'name': 'human', 'content': 'x'})"
    assert step.parse(_call("send_message", message="hi"), BASE).request_heartbeat is False


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (ToolCall("c", "send_message", "{oops"), "JSON"),
        (ToolCall("c", "send_message", "[1]"), "object"),
        (_call("fly", to="moon"), "No function named 'fly'"),
        (_call("send_message"), "missing required arguments: message"),
        (_call("send_message", message="hi", extra=1), "unexpected arguments: extra"),
        (_call("pause_heartbeats", minutes="ten"), "minutes must be integer"),
        (_call("conversation_search", query="x", page=True), "page must be integer"),
        (_call("http_request", method="GET", url="u", payload_json=""), "No function named 'http_request'"),
    ],
)
def test_parse_refuses_malformed_calls_with_a_message_for_the_model(raw: ToolCall, fragment: str) -> None:
    with pytest.raises(step.CallError, match=fragment):
        step.parse(raw, BASE)


def test_local_functions() -> None:
    core = {"persona": "I am Sam.", "human": "Name: Ada"}
    sent = step.run_local(step.Call("send_message", {"message": "hi"}, False), core)
    assert sent == step.Outcome("success", "None", shown="hi")
    appended = step.run_local(step.Call("core_memory_append", {"name": "human", "content": "Likes tea"}, True), core)
    assert appended is not None and appended.core_memory == {"persona": "I am Sam.", "human": "Name: Ada\nLikes tea"}
    missing = step.run_local(
        step.Call("core_memory_replace", {"name": "human", "old_content": "Bob", "new_content": "x"}, False), core
    )
    assert missing is not None and missing.status == "error" and missing.core_memory is None
    too_long = step.run_local(step.Call("core_memory_append", {"name": "persona", "content": "x" * 2000}, False), core)
    assert too_long is not None and too_long.status == "error" and "2000" in too_long.result
    stored = step.run_local(step.Call("archival_memory_insert", {"content": "fact"}, False), core)
    assert stored is not None and stored.passages == ("fact",)
    assert step.run_local(step.Call("pause_heartbeats", {"minutes": 361}, False), core).status == "error"  # type: ignore[union-attr]
    assert step.run_local(step.Call("conversation_search", {"query": "x"}, False), core) is None


def test_heartbeats_follow_requests_failures_and_cut_replies_only() -> None:
    ok = step.Outcome("success", "None")
    said = step.Reply("x", (_call("send_message", message="hi"),))
    assert step.next_step(said, step.Call("core_memory_append", {}, True), ok) == step.REQUESTED
    assert step.next_step(said, step.Call("send_message", {}, False), ok) is None
    assert step.next_step(said, step.Call("send_message", {}, False), step.Outcome("error", "boom")) == step.FAILED
    assert step.next_step(step.Reply("thinking"), None, None) is None
    assert step.next_step(step.Reply("thinking", finish_reason="length"), None, None) == step.CUT


@pytest.mark.parametrize("flag", [False, True, None, "true", "yes", 1, 0, [], {}])
def test_request_heartbeat_is_taken_out_of_every_call_and_only_a_bool_true_asks(flag: object) -> None:
    for function, args in [("send_message", {"message": "hi"}), ("conversation_search", {"query": "tea"})]:
        call = step.parse(_call(function, **args, request_heartbeat=flag), BASE)
        assert call.args == args and call.request_heartbeat is (flag is True)


@pytest.mark.parametrize(
    "arguments",
    [
        '```json\n{"message": "hi"}\n```',
        '```\n{"message": "hi"}\n```',
        '{"message": "hi",}',
        "{'message': 'hi'}",
        '{message: "hi"}',
        '{"message": "hi" /* said */}',
        ' \n{"message": "hi"}\n ',
    ],
)
def test_near_json_arguments_that_the_original_read_are_read(arguments: str) -> None:
    assert step.parse(ToolCall("c", "send_message", arguments), BASE).args == {"message": "hi"}


def test_raw_newlines_in_strings_pass_as_json_loads_strict_false_let_them() -> None:
    assert step.parse(ToolCall("c", "send_message", '{"message": "a\nb"}'), BASE).args == {"message": "a\nb"}


def test_optional_nulls_page_strings_and_thoughts_in_arguments_are_taken_as_the_original_did() -> None:
    call = step.parse(_call("conversation_search", query="tea", page="2", inner_thoughts="Look back."), BASE)
    assert call.args == {"query": "tea", "page": 2} and call.inner_thoughts == "Look back."
    assert step.parse(_call("conversation_search", query="tea", page=None), BASE).args == {"query": "tea"}


def test_a_reply_with_nothing_in_it_is_refused_visibly() -> None:
    for reply in (step.Reply(None), step.Reply("  "), step.Reply(None, (), "length")):
        with pytest.raises(step.EmptyReply, match="neither text nor a function call"):
            step.check_reply(reply)
    step.check_reply(step.Reply("thinking"))
    step.check_reply(step.Reply(None, (_call("send_message", message="hi"),)))


def test_only_the_first_of_several_calls_runs_and_the_rest_are_recorded() -> None:
    app = CommandGroups.on(MemGPT(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}))
    user = uuid4()
    app.accounts.ensure_user(user)
    agent = app.agents.create_agent(user, None, "memgpt_chat", "sam_pov", "basic", {}, {})
    turn = app.turns.queue_turn(user, agent.id, "user", "hi")
    app.turns.start_next_turn(agent.id)
    first, second = _call("send_message", message="one"), ToolCall("c2", "send_message", '{"message": "two"}')
    reply = step.Reply(None, (first, second))
    assert reply.call == first and reply.skipped == (second,)
    after = app.turns.record_step(agent.id, turn, reply, step.Outcome("success", "None", shown="one"))
    assert after.messages[-2].tool_call == first  # the model is never shown a call without a result
    skipped = [e for e in app.store.events.get(agent.id) if isinstance(e, Agent.CallsSkipped)]
    assert [e.calls for e in skipped] == [[{"id": "c2", "name": "send_message", "arguments": '{"message": "two"}'}]]


def test_results_are_clipped_and_pages_say_which_of_how_many() -> None:
    clipped = step.clip("x" * 5000)
    assert len(clipped) == step.RESULT_LIMIT and "truncated" in clipped
    assert step.page_text([], 0, 0) == "No results found."
    text = step.page_text(["a", "b"], 7, 1)
    assert text.startswith("Showing 2 of 7 results (page 1/1): ") and json.loads(text.split(": ", 1)[1]) == ["a", "b"]


def _msg(role: str, **kw: object) -> Message:
    return Message(uuid4(), role, "t", NOW, **kw)  # type: ignore[arg-type]


def test_summaries_take_the_oldest_messages_but_never_the_last_three_or_half_a_call() -> None:
    system = _msg("system")
    body = [
        _msg("user"),
        _msg("assistant"),
        _msg("function"),
        _msg("user"),
        _msg("assistant"),
        _msg("function"),
        _msg("user"),
        _msg("assistant"),
    ]
    hidden = prompt.summarisable([system, *body])
    # 75% of 8 is 6, but the last 3 stay: at most 5; body[5] is a function result, which must stay
    # with the call before it, so the cut moves back to 4
    assert hidden == body[:4]
    kept = body[len(hidden) :]
    assert len(kept) >= prompt.KEEP_LAST and kept[0].role != "function"
    assert prompt.summarisable([system, _msg("user"), _msg("assistant")]) == []


def test_an_agent_replays_from_its_events_and_snapshots() -> None:
    app = CommandGroups.on(MemGPT(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}))
    user = uuid4()
    app.accounts.ensure_user(user)
    agent = app.agents.create_agent(user, "Long", "memgpt_chat", "sam_pov", "basic", {}, {})
    for n in range(40):
        turn = app.turns.queue_turn(user, agent.id, "user", f"message {n}")
        app.turns.start_next_turn(agent.id)
        reply = step.Reply("thinking", (_call("send_message", message=f"reply {n}"),))
        outcome = step.Outcome("success", "None", shown=f"reply {n}")
        app.turns.record_step(agent.id, turn, reply, outcome)
        app.turns.end_turn(agent.id, turn)
    assert app.store.snapshots is not None and list(app.store.snapshots.get(agent.id))  # taken every 100 events
    rebuilt: Agent = app.store.repository.get(agent.id)
    assert rebuilt.recall_count == 4 + 40 * 3 and rebuilt.current_turn is None and not rebuilt.queued
    replayed: Agent = app.store.repository.get(agent.id, version=rebuilt.version)
    assert prompt.chat_messages(replayed) == prompt.chat_messages(rebuilt)
    snapshot = list(app.store.snapshots.get(agent.id))[-1]  # of the agent as saved, not reloaded
    from_events: Agent = project_aggregate(None, app.store.events.get(agent.id, lte=snapshot.originator_version))
    from_snapshot: Agent = snapshot.mutate(None)
    assert vars(from_snapshot) == vars(from_events) and from_events.version == snapshot.originator_version
    assert plain_text(rebuilt.messages[-2]) == "thinking\nreply 39"


def test_frames_show_what_clients_see() -> None:
    app = CommandGroups.on(MemGPT(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}))
    user = uuid4()
    app.accounts.ensure_user(user)
    agent = app.agents.create_agent(user, None, "memgpt_chat", "sam_pov", "basic", {}, {})
    turn = app.turns.queue_turn(user, agent.id, "user", "hi")
    app.turns.start_next_turn(agent.id)
    reply = step.Reply("Say hi.", (_call("send_message", message="hello", request_heartbeat=False),))
    app.turns.record_step(agent.id, turn, reply, step.Outcome("success", "None", shown="hello"))
    app.turns.end_turn(agent.id, turn, "boom")
    events = list(app.store.events.get(agent.id))
    shown = [f.to_json() for e in events for f in frames.frames(e)]
    assert [{k: v for k, v in f.items() if k != "date"} for f in shown] == [
        {"internal_monologue": "Say hi."},
        {"function_call": "send_message({'message': 'hello'})"},
        {"assistant_message": "hello"},
        {"function_return": "None", "status": "success"},
        {"internal_error": "boom"},
    ]
    assert frames.ends_turn(events[-1], turn) and not frames.ends_turn(events[-2], turn)


def test_plain_text_unpacks_what_people_wrote() -> None:
    assert plain_text(Message(uuid4(), "user", user_text("hello there", NOW), NOW)) == "hello there"
    assert plain_text(Message(uuid4(), "system", "raw prompt", NOW)) == "raw prompt"


def test_nul_characters_from_a_model_never_reach_storage() -> None:
    call = step.parse(ToolCall("c", "send_message", json.dumps({"message": "a\u0000b"})), BASE)
    assert call.args == {"message": "ab"}
    assistant, result = step.step_messages(
        step.Reply("x\u0000y", (ToolCall("c", "send_message", '{"message": "a\u0000b"}'),)),
        step.Outcome("success", "N\u0000one"),
        (uuid4(), uuid4()),
        NOW,
    )
    assert assistant.text == "xy" and result is not None and "\u0000" not in (result.text or "")
    assert assistant.tool_call is not None and "\u0000" not in assistant.tool_call.arguments
