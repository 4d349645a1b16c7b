"""Where a fork inside a turn carries on, from the events a sloppy model left: plain unit tests
of `domain.history` (no I/O)."""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from domain import history, step
from domain.agents import Agent
from domain.messages import Message, ToolCall


def _agent() -> Agent:
    now = datetime.now(UTC)
    return Agent(
        id=uuid4(),
        user_id=uuid4(),
        name="a",
        preset="p",
        persona_name="sam",
        human_name="chad",
        system="s",
        functions=["send_message", "core_memory_append"],
        core_memory={"persona": "p", "human": "h"},
        llm_config={},
        embedding_config={},
        messages=[Message(uuid4(), "system", "s", now)],
    )


def _turn(arguments: str, status: str, name: str = "core_memory_append") -> tuple[Agent, list[Any]]:
    """An agent whose turn made one step: a call with `arguments` (as the model wrote them) that
    returned `status`."""
    agent, turn, now = _agent(), uuid4(), datetime.now(UTC)
    agent.queue_turn(turn, "user", "hi")
    agent.start_turn(turn, Message(uuid4(), "user", "hi", now))
    call = ToolCall("call_1", name, arguments)
    agent.speak(turn, Message(uuid4(), "assistant", "thinking", now, tool_call=call))
    agent.function_returned(
        turn, Message(uuid4(), "function", "{}", now, name=name, tool_call_id="call_1"), status, None
    )
    if status == "success" and name == "core_memory_append":
        agent.edit_memory_by_function(turn, {"persona": "p", "human": "h\nTea"})
    events = agent.collect_events()
    return agent, [e for e in events if getattr(e, "turn_id", None) == turn]


def test_near_json_asking_for_a_heartbeat_is_read_as_the_runner_read_it() -> None:
    _, turn = _turn("{'name': 'human', 'content': 'Tea', 'request_heartbeat': true,}", "success")
    assert history.continuation(turn) == step.HEARTBEAT_REQUESTED


def test_a_failed_call_wakes_the_model_whatever_its_arguments_were() -> None:
    _, turn = _turn("not json at all {", "error")
    assert history.continuation(turn) == step.HEARTBEAT_FAILED


def test_a_reply_without_a_heartbeat_leaves_nothing_to_carry_on() -> None:
    _, turn = _turn('{"message": "hi", "request_heartbeat": "yes"}', "success", name="send_message")
    assert history.continuation(turn) is None  # anything but a bool is false, as the original read it


def test_a_position_inside_a_step_takes_the_whole_step_and_its_memory_edit() -> None:
    agent = _agent()
    turn, now = uuid4(), datetime.now(UTC)
    agent.queue_turn(turn, "user", "hi")
    agent.start_turn(turn, None)
    call = ToolCall("call_1", "core_memory_append", '{"name": "human", "content": "Tea"}')
    agent.speak(turn, Message(uuid4(), "assistant", None, now, tool_call=call))
    agent.function_returned(
        turn, Message(uuid4(), "function", "{}", now, name="core_memory_append", tool_call_id="call_1"), "success", None
    )
    agent.edit_memory_by_function(turn, {"persona": "p", "human": "h\nTea"})
    agent.heartbeat(turn, Message(uuid4(), "user", "beat", now))
    events = agent.collect_events()
    spoke = next(i for i, e in enumerate(events) if isinstance(e, Agent.AssistantSpoke))
    assert history.step_rest(events[spoke], events[spoke + 1 :]) == 2  # the result and the edit, not the heartbeat
    assert history.step_rest(events[spoke + 2], events[spoke + 3 :]) == 0
