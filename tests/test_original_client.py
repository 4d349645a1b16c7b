"""The original MemGPT Python client, unchanged, against this server.

Needs a Python with pymemgpt 0.3.7 installed (`.ci/run` builds one from tests/compat/), named by
MEMGPT_COMPAT_PYTHON; skipped without it.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.fake_llm import FakeLLM
from tests.support import PASSWORD, Server

COMPAT_PYTHON = os.environ.get("MEMGPT_COMPAT_PYTHON")
FLOW = Path(__file__).with_name("compat") / "original_client_flow.py"

pytestmark = [
    pytest.mark.compat,
    pytest.mark.skipif(not COMPAT_PYTHON, reason="MEMGPT_COMPAT_PYTHON names no Python with pymemgpt installed"),
]


def test_the_original_client_runs_its_whole_flow(chat_server: Server, fresh_llm: FakeLLM, tmp_path: Path) -> None:
    assert COMPAT_PYTHON
    done = subprocess.run(
        [COMPAT_PYTHON, str(FLOW), chat_server.url, PASSWORD],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("MEMGPT_")} | {"HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(seen["keys"]) == 2 and all("..." in k for k in seen["keys"])  # masked
    assert seen["user_created"] in seen["users"]
    assert seen["agent_name"] == "Compat" and seen["listed"] == ["Compat"]
    assert seen["agent_exists"] is True and seen["agent_missing"] is False
    assert seen["renamed"] == seen["fetched"] == "Compat2"
    assert seen["human_before"].startswith("This is what I know") and seen["human_after"] == "Name: Ada"
    assert seen["recall"] == 4
    assert [m["assistant_message"] for m in seen["reply"]] == ["echo: hello from the original client"]
    assert [m["assistant_message"] for m in seen["system_reply"]] == ["noted"]
    assert "Dumping memory contents" in seen["command"]
    assert seen["archival"] == ["The vault code is 4-8-15-16."] and seen["archival_after_delete"] == 0
    assert "cs_phd" in seen["humans"] and "sam_pov" in seen["personas"] and "memgpt_chat" in seen["presets"]
    assert ["gpt-4", "openai"] in seen["models"] and seen["config_preset"] == "memgpt_chat"
    assert seen["after_delete"] is False
    assert seen["key_deleted"] == "API key successfully deleted." and seen["user_deleted"] == seen["user_created"]
