"""`memgpt worker` runs on uvloop where it is installed, and on asyncio's own loop where it is not
(Windows, which uvloop does not support): the command must start either way."""

import asyncio
import sys

import pytest

from api.cli.main import _run_fast


def _loop_module() -> str:
    seen: list[str] = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    _run_fast(main())
    return seen[0]


def test_runs_on_uvloop_where_installed() -> None:
    pytest.importorskip("uvloop")
    assert _loop_module().startswith("uvloop")


def test_runs_on_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # its import fails, as where it is not installed
    assert _loop_module().startswith("asyncio")
