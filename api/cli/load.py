"""`memgpt load`: put a file or a directory of text into an agent's archival memory.

Files are chunked by the agent's `embedding_chunk_size`, stored as passage events in batches, then
embedded by the filler; both stages show progress.
"""

import argparse
import asyncio
import sys
from pathlib import Path
from uuid import UUID

from domain import chunks
from domain.configs import EmbeddingConfig
from runtime.bootstrap import Services, bootstrap
from runtime.config import Config

BATCH = 64


class Progress:
    """A one-line bar on a terminal; a line per tenth of the work otherwise."""

    def __init__(self, label: str, total: int) -> None:
        self._label = label
        self._total = max(total, 1)
        self._shown = -1
        self._tty = sys.stderr.isatty()

    def update(self, done: int) -> None:
        tenth = done * 10 // self._total
        if self._tty:
            bar = "#" * (done * 30 // self._total)
            print(f"\r{self._label}: [{bar:<30}] {done}/{self._total}", end="", file=sys.stderr, flush=True)
        elif tenth != self._shown:
            print(f"{self._label}: {done}/{self._total}", file=sys.stderr, flush=True)
        self._shown = tenth

    def close(self) -> None:
        if self._tty:
            print(file=sys.stderr)


def texts(paths: list[Path]) -> list[tuple[Path, str]]:
    """Readable text files under the given paths; binary files are skipped."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"No such file or directory: {path}")
    found = []
    for file in files:
        data = file.read_bytes()
        if b"\0" in data[:8192]:
            print(f"Skipping {file}: not text", file=sys.stderr)
            continue
        found.append((file, data.decode("utf-8", errors="replace")))
    return found


async def _agent(services: Services, user_id: UUID, name: str) -> dict:
    row = await services.views.agent_named(user_id, name)
    if row is not None:
        return row
    raise SystemExit(f"No agent named {name!r}; create it first (memgpt run --agent {name}).")


async def load(services: Services, args: argparse.Namespace) -> int:
    await services.open()
    try:
        user_id = services.config.default_user_id
        agent = await _agent(services, user_id, args.agent)
        embedder = services.embedders.for_config(agent["embedding_config"])
        config = EmbeddingConfig.from_dict(agent["embedding_config"])
        pieces: list[str] = []
        for _, text in texts([Path(p) for p in args.paths]):
            pieces += await asyncio.to_thread(chunks.by_config, text, config, embedder.count_tokens)
        stored = Progress("Storing passages", len(pieces))
        for start in range(0, len(pieces), BATCH):
            await asyncio.to_thread(
                services.commands.agents.insert_passages, user_id, agent["id"], pieces[start : start + BATCH]
            )
            stored.update(min(start + BATCH, len(pieces)))
        stored.close()
        embedded = Progress("Embedding", len(pieces))
        while (waiting := await services.archival.waiting(agent["id"])) > 0:
            embedded.update(len(pieces) - waiting)
            await asyncio.sleep(0.2)
        embedded.update(len(pieces))
        embedded.close()
        print(f"Loaded {len(pieces)} passages into {agent['name']}'s archival memory.")
        return 0
    finally:
        await services.close()


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(load(bootstrap(config), args))
