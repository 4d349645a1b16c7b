"""The OpenAPI document the server writes at start is true: schemathesis drives every operation
of it against the live server (as the admin, and as a user) and finds no 5xx and no response that
breaks the document."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_llm import FakeLLM
from tests.support import PASSWORD, Server

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _run(server: Server, token: str, workdir: Path, document: str = "memgpt") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            str(server.home / f"openapi_{document}.json"),
            "--url",
            server.url,
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            "8",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",  # CPython 3.11's AST builder is not thread-safe: threads crash hypothesis at random
            "--request-timeout",
            "30",
            "--seed",
            "1",
            "--no-color",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.skipif(shutil.which(SCHEMATHESIS) is None, reason="schemathesis is not installed")
def test_schemathesis_finds_no_failures(chat_server: Server, fresh_llm: FakeLLM, tmp_path: Path) -> None:
    as_admin = _run(chat_server, PASSWORD, tmp_path)
    assert as_admin.returncode == 0, as_admin.stdout[-6000:]
    assert "Tested: " in as_admin.stdout
    with chat_server.client() as admin:
        key = admin.post("/admin/users", json={}).json()["api_key"]
    as_user = _run(chat_server, key, tmp_path)
    assert as_user.returncode == 0, as_user.stdout[:8000]
    assistants = _run(chat_server, key, tmp_path, "assistants")
    assert assistants.returncode == 0, assistants.stdout[-6000:]
    assert "Selected: 13/13" in assistants.stdout
