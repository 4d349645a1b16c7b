"""The OpenAI-protocol adapter reads every dialect's reply into the same `Reply`."""

import pytest

from domain.messages import ToolCall
from runtime.adapters.llm import LLMUnavailable, _reply


def _body(message: object, finish: object = "stop") -> dict[str, object]:
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}


def test_text_parts_calls_and_the_finish_reason_are_read() -> None:
    reply = _body({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, "length")
    assert (_reply(reply).text, _reply(reply).cut) == ("ab", True)
    both = _body(
        {
            "content": "",
            "tool_calls": [{"function": {"name": "send_message", "arguments": None}}, "junk"],
            "function_call": {"name": "ignored", "arguments": "{}"},
        }
    )
    (call,) = _reply(both).calls
    assert (call.name, call.arguments, call.id.startswith("call_")) == ("send_message", "", True)
    assert _reply(both).text is None


def test_objects_as_arguments_become_their_json_text() -> None:
    reply = _reply(_body({"tool_calls": [{"id": "x", "function": {"name": "f", "arguments": {"a": "é"}}}]}))
    assert reply.calls == (ToolCall("x", "f", '{"a": "é"}'),)


@pytest.mark.parametrize("body", [{}, {"choices": []}, {"choices": [{}]}, _body(None), _body("text"), [1]])
def test_a_body_without_a_message_is_a_clean_model_error(body: object) -> None:
    with pytest.raises(LLMUnavailable, match="without a message"):
        _reply(body)


def test_the_usage_a_reply_reports_is_kept_and_nothing_else_of_it() -> None:
    body = _body({"content": "hi"}) | {"usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}
    assert _reply(body).usage == {"prompt_tokens": 12, "completion_tokens": 3}
    assert _reply(_body({"content": "hi"})).usage is None
    odd = _body({"content": "hi"}) | {"usage": {"prompt_tokens": "12", "completion_tokens": True}}
    assert _reply(odd).usage is None


def test_answers_orjson_refuses_are_read_as_the_standard_library_reads_them() -> None:
    """Bodies go out and come back through orjson; what it is stricter about than the standard
    library (NaN, a lone surrogate escaped in a string) is read as before, not refused."""
    from runtime.adapters import wire

    lax = b'{"choices": [{"message": {"content": "hi \\ud800"}}], "usage": {"prompt_tokens": NaN}}'
    body = wire.Answer(200, "", lax).json()
    assert body["choices"][0]["message"]["content"] == "hi \ud800"
    assert wire.Answer(200, "", b'{"a": 1}').json() == {"a": 1}
    for junk in (b"<html>busy</html>", b"\xff\xfe"):
        with pytest.raises(ValueError):
            wire.Answer(502, "", junk).json()
    assert wire.dumps({"t": "é\ud800"}) == b'{"t": "\\u00e9\\ud800"}'  # valid UTF-8 all the same
