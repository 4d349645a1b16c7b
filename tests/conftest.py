"""Fixtures: one PostgreSQL for the session, a fresh database and server per test module.

Set MEMGPT_TEST_PG_URI to test against an existing server (any database the role can
CREATE DATABASE from); otherwise an embedded PostgreSQL 16 is started for the session.
"""

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_llm import FakeLLM
from tests.support import Server, fresh_database, scripted_model_env


@pytest.fixture(scope="session")
def admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("MEMGPT_TEST_PG_URI")
    if given:
        yield given
        return
    from runtime.database import start_embedded

    server = start_embedded(tmp_path_factory.mktemp("pg") / "data")  # as the server starts its own
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def dsn(admin_dsn: str) -> str:
    return fresh_database(admin_dsn)


# Which settings run turns on each module's database. Two servers with different model settings
# on one database both take queued turns: a turn asked of one may be run by the other, against
# a model it does not know (a flaky test, not a server bug). A module uses one of them.
_SETTINGS_ON: dict[str, str] = {}


def _one_settings_per_database(dsn: str, name: str) -> None:
    other = _SETTINGS_ON.setdefault(dsn, name)
    assert other == name, f"a module uses both `{other}` and `{name}`: they would run each other's turns"


@pytest.fixture(scope="module")
def server(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _one_settings_per_database(dsn, "server")
    running = Server(Path(tmp_path_factory.mktemp("home")), dsn).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    from tests.fake_llm import FakeLLM

    fake = FakeLLM()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture(scope="module")
def chat_server(dsn: str, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose new agents talk to the scripted model by default."""
    _one_settings_per_database(dsn, "chat_server")
    env = {
        **scripted_model_env(llm.url),
        "OPENAI_API_KEY": "sk-test-secret",
        # a second provider of the operator's, with nothing listening
        "MEMGPT_PROVIDERS": "dead",
        "MEMGPT_PROVIDER_DEAD_ENDPOINT": "http://127.0.0.1:9/v1",
    }
    running = Server(Path(tmp_path_factory.mktemp("home")), dsn, env=env).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def fresh_llm(llm: FakeLLM) -> FakeLLM:
    llm.reset()
    return llm


@pytest.fixture(scope="module")
def tenant() -> Iterator[FakeLLM]:
    """A second scripted model: a tenant's own host (tests of users' endpoints)."""
    fake = FakeLLM()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def fresh_tenant(tenant: FakeLLM) -> FakeLLM:
    tenant.reset()
    return tenant


# Once pytest has reported, the process ends with pytest's own status without finalizing the
# interpreter: native threads of the libraries the in-process tests load (tokenizers, onnxruntime,
# libpq) have crashed finalization with SIGSEGV after every test had passed (seen once in CI,
# not reproduced in two runs since). The status is pytest's: failures still fail.
_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _STATUS and not hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_STATUS[-1])
