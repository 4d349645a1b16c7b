"""The server's log lines (`runtime.logs`): one JSON object a line, whatever a value holds. A log
call that raised inside an error handler would leave the error unhandled (a turn never ended)."""

import io
import json
import sys
from collections.abc import Iterator
from uuid import uuid4

import pytest
import structlog

from runtime import logs


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.BytesIO]:
    """What the server writes to its standard error, once configured as the server does."""
    written = io.BytesIO()
    stderr = io.TextIOWrapper(written)  # kept: pytest's capture may swap sys.stderr meanwhile
    monkeypatch.setattr(sys, "stderr", stderr)
    logs.configure("info")
    try:
        yield written
    finally:
        structlog.reset_defaults()
        stderr.detach()


def _lines(written: io.BytesIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in written.getvalue().splitlines()]


def test_every_line_is_json_even_with_text_orjson_refuses(logged: io.BytesIO) -> None:
    log = structlog.get_logger("test")
    owner = uuid4()
    log.info("turn.ended", failure="half a pair \ud83d from a model", tokens=2**70)
    log.info("keys.counted", by_user={owner: 1}, agent_id=owner)
    try:
        raise ValueError("refused: \ud83d")
    except ValueError:
        log.exception("turn.crashed")
    first, second, third = _lines(logged)
    assert first["event"] == "turn.ended" and first["failure"] == "half a pair \ud83d from a model"
    assert first["tokens"] == 2**70
    assert second == second | {"event": "keys.counted", "by_user": {str(owner): 1}, "agent_id": str(owner)}
    assert third["event"] == "turn.crashed" and third["level"] == "error" and "exception" in third
