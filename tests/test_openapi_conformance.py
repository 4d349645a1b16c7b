"""The OpenAPI documents the server writes at start tell the truth: schemathesis, with every check
it has, drives every operation of both documents against live servers, as the admin and as a
user, and finds nothing — no 5xx, no response that breaks a document, no schema-valid request
refused and no schema-violating one accepted.

The four runs go at once (two servers, so that the admin's runs cannot delete the user the
user's runs act as), each with one worker: CPython 3.11's AST builder is not thread-safe, and
threads crash hypothesis at random. tests/schemathesis.toml and tests/schemathesis_hooks.py hold
the little the documents cannot say themselves.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from api.app import ROUTES
from tests.fake_llm import FakeLLM
from tests.support import PASSWORD, Server, fresh_database, scripted_model_env

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
HERE = Path(__file__).parent
EXAMPLES = 8  # per operation and phase; the coverage phase adds its own boundary cases
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def servers(admin_dsn: str, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    env = {
        **scripted_model_env(llm.url),
        "OPENAI_API_KEY": "sk-test-secret",
        "MEMGPT_AUTH_BURST": "100000",  # schemathesis sends hundreds of passwords; 429 is tested elsewhere
    }
    running: list[Server] = []
    try:
        for _ in range(2):
            home = Path(tmp_path_factory.mktemp("home"))
            running.append(Server(home, fresh_database(admin_dsn), env=env).start())
        yield running
    finally:
        for server in running:
            server.stop()


def _start(server: Server, token: str, document: str, workdir: Path) -> subprocess.Popen[str]:
    workdir.mkdir()
    return subprocess.Popen(
        [
            SCHEMATHESIS,
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            str(server.home / f"openapi_{document}.json"),
            "--url",
            server.url,
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES),
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--seed",
            "1",
            "--no-color",
        ],
        cwd=workdir,
        env=os.environ | {"SCHEMATHESIS_HOOKS": str(HERE / "schemathesis_hooks.py")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _operations(document: dict) -> int:
    return sum(1 for item in document["paths"].values() for method in METHODS if method in item)


def test_every_route_is_in_its_document(servers: list[Server]) -> None:
    documents = {
        name: orjson.loads((servers[0].home / f"openapi_{name}.json").read_bytes()) for name in ("memgpt", "assistants")
    }
    for route in ROUTES:
        path = route.path.replace(":uuid", "")
        assert path in documents[route.document]["paths"], f"{route.path} is missing from openapi_{route.document}.json"


@pytest.mark.skipif(shutil.which(SCHEMATHESIS) is None, reason="schemathesis is not installed")
def test_schemathesis_with_every_check_finds_nothing(servers: list[Server], fresh_llm: FakeLLM, tmp_path: Path) -> None:
    as_admin, as_user = servers
    with as_user.client() as admin:
        key = admin.post("/admin/users", json={}).json()["api_key"]
    runs = {
        (document, who): _start(server, token, document, tmp_path / f"{document}-{who}")
        for document in ("memgpt", "assistants")
        for who, server, token in (("admin", as_admin, PASSWORD), ("user", as_user, key))
    }
    try:
        outputs = {run: process.communicate(timeout=1200)[0] for run, process in runs.items()}
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for (document, who), process in runs.items():
        out = outputs[(document, who)]
        operations = _operations(orjson.loads((as_admin.home / f"openapi_{document}.json").read_bytes()))
        assert process.returncode == 0, f"{document} as the {who}:\n{out[-8000:]}"
        assert f"Tested: {operations}" in out, f"{document} as the {who}: not every operation was tested\n{out[-3000:]}"
