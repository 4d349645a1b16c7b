"""`memgpt configure` / `quickstart` write the defaults the server uses; `memgpt run` chats."""

import os
import pty
import subprocess
from pathlib import Path

from tests.fake_llm import FakeLLM
from tests.support import MEMGPT, Server, fresh_database


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MEMGPT_")} | {"MEMGPT_HOME": str(home), **extra}


def test_configure_flags_set_what_new_agents_get(admin_dsn: str, fresh_llm: FakeLLM, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            MEMGPT,
            "configure",
            "--model-endpoint-type",
            "openai",
            "--model-endpoint",
            fresh_llm.url,
            "--model",
            "gpt-4",
            "--context-window",
            "16000",
            "--persona",
            "anna_pa",
            "--human",
            "cs_phd",
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert "anna_pa" in (tmp_path / "config").read_text()
    refused = subprocess.run(
        [MEMGPT, "configure", "--preset", "nope"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert refused.returncode == 2 and "memgpt_chat" in refused.stderr

    server = Server(tmp_path, fresh_database(admin_dsn)).start()
    try:
        with server.client() as c:
            state = c.post("/api/agents", json={"config": {}}).json()["agent_state"]
            assert (state["persona"], state["human"]) == ("anna_pa", "cs_phd")
            assert (
                state["llm_config"]["model_endpoint"] == fresh_llm.url
                and state["llm_config"]["context_window"] == 16000
            )
            overridden = Server(
                tmp_path / "other", server.dsn, env={"MEMGPT_HOME": str(tmp_path), "MEMGPT_MODEL": "gpt-4o"}
            )
        overridden.start()
        try:
            with overridden.client() as c:
                assert (
                    c.post("/api/agents", json={"config": {}}).json()["agent_state"]["llm_config"]["model"] == "gpt-4o"
                )
        finally:
            overridden.stop()
    finally:
        server.stop()


def test_configure_asks_a_person_for_what_flags_leave_out(tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: memgpt configure on a terminal
        os.execve(MEMGPT, [MEMGPT, "configure", "--model", "gpt-4"], _env(tmp_path))
    answers = {"preset": "memgpt_docs", "persona": "", "context_window": "4096"}
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        prompt = seen.rsplit(b"\n", 1)[-1].decode(errors="replace")
        if prompt.endswith("]: "):
            key = prompt.split(" [", 1)[0].strip()
            os.write(fd, (answers.get(key, "") + "\n").encode())
            seen += b"\n"
    os.waitpid(pid, 0)
    text = (tmp_path / "config").read_text()
    assert "preset = memgpt_docs" in text and "persona = sam_pov" in text
    assert "context_window = 4096" in text and "model = gpt-4" in text
    assert b"\nmodel [" not in seen and b"\nmodel_endpoint [" in seen  # the flag was not asked again


def test_quickstart_writes_a_working_configuration(tmp_path: Path) -> None:
    done = subprocess.run(
        [MEMGPT, "quickstart", "--backend", "openai"], env=_env(tmp_path), capture_output=True, text=True
    )
    assert done.returncode == 0 and "OPENAI_API_KEY" in done.stdout
    assert "model_endpoint = https://api.openai.com/v1" in (tmp_path / "config").read_text()
    subprocess.run([MEMGPT, "quickstart"], env=_env(tmp_path), check=True, capture_output=True)
    assert "model_endpoint_type = local" in (tmp_path / "config").read_text()


def test_run_chats_in_the_terminal(admin_dsn: str, fresh_llm: FakeLLM, tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        MEMGPT_PG_URI=fresh_database(admin_dsn),
        MEMGPT_MODEL_ENDPOINT_TYPE="openai",
        MEMGPT_MODEL_ENDPOINT=fresh_llm.url,
        MEMGPT_MODEL="gpt-4",
    )
    done = subprocess.run(
        [MEMGPT, "run", "--agent", "Terminal"],
        env=env,
        input="hello there\n/memory\n/exit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Chatting with Terminal" in out
    assert "💭 The user said something." in out and "🤖 echo: hello there" in out
    assert "### CORE MEMORY ###" in out
    again = subprocess.run(
        [MEMGPT, "run", "--agent", "Terminal"], env=env, input="second\n", capture_output=True, text=True, timeout=120
    )
    assert "🤖 echo: second" in again.stdout
    assert again.stdout.count("Chatting with Terminal") == 1
