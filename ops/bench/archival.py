"""Archival memory benchmark: insert and search latency at 10k and 100k passages.

    python ops/bench/archival.py [--sizes 10000 100000] [--pg-uri DSN]

Runs the real pieces in one process: passages are saved as events (batches of 100, as
`memgpt load` does), projected into the archival view, embedded by the filler with the embedded
model, then searched through `Archival.search` (query embedding + filtered HNSW scan). Half of the
passages belong to the agent searched, the rest to nine other agents. Without --pg-uri an
embedded PostgreSQL starts in a temporary directory. Prints a Markdown table.
"""

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from uuid import UUID, uuid4

from common import fresh_database, pct, print_table  # type: ignore[import-not-found]  # beside this script
from psycopg_pool import AsyncConnectionPool

import migrations
from domain.services.app import CommandGroups, MemGPT
from projections.passages import EmbeddingQueue
from projections.runner import ProjectionHost
from projections.search import Search
from runtime.adapters.embeddings import Embedders
from runtime.adapters.wire import Wire
from runtime.archival import Archival, EmbeddingFiller
from runtime.database import Database, eventsourcing_env

WORDS = (
    "harbour lighthouse tide anchor sail rope keel gull storm calm reef coral ferry pier north south "
    "river bridge tower market bread cheese apple orchard winter summer garden rose oak maple violin "
    "piano chess knight bishop castle library archive letter stamp train station platform ticket"
).split()


def sentence(rng: random.Random) -> str:
    return f"The {' '.join(rng.choices(WORDS, k=rng.randint(8, 16)))} ({rng.randint(1, 10**6)})."


async def fill(filler: EmbeddingFiller, archival: Archival) -> float:
    started = time.perf_counter()
    while await filler.fill_once() or await archival.waiting():
        pass
    return time.perf_counter() - started


async def run(dsn: str, sizes: list[int]) -> list[dict[str, object]]:
    env = eventsourcing_env(dsn)
    migrations.apply(dsn)
    store = MemGPT(env=env)
    app = CommandGroups.on(store)
    host = ProjectionHost(dsn, store.mapper)
    host.start()
    rng = random.Random(7)
    user = uuid4()
    app.accounts.ensure_user(user)
    config = {"embedding_endpoint_type": "local", "embedding_dim": 384, "embedding_chunk_size": 300}
    target = app.agents.create_agent(user, "Target", "memgpt_chat", "sam_pov", "basic", {}, config).id
    others = [
        app.agents.create_agent(user, f"Other{i}", "memgpt_chat", "sam_pov", "basic", {}, config).id for i in range(9)
    ]
    results = []
    async with AsyncConnectionPool(dsn, min_size=2, max_size=4, kwargs={"autocommit": True}) as pool:
        embedders = Embedders(Wire(60.0), None)  # local embeddings only: no endpoints
        queue = EmbeddingQueue(pool)
        archival, filler = Archival(Search(pool), queue, embedders), EmbeddingFiller(queue, embedders)
        stored = 0
        for size in sizes:
            saves: list[float] = []
            started = time.perf_counter()
            while stored < size:
                owner: UUID = target if (stored // 100) % 2 == 0 else rng.choice(others)
                texts = [sentence(rng) for _ in range(100)]
                t = time.perf_counter()
                await asyncio.to_thread(app.agents.insert_passages, user, owner, texts)
                saves.append((time.perf_counter() - t) * 1000)
                stored += len(texts)
            save_seconds = time.perf_counter() - started
            await asyncio.sleep(2)  # let the projection write the rows before embedding
            embed_seconds = await fill(filler, archival)
            searches: list[float] = []
            deep: list[float] = []
            for _ in range(50):
                t = time.perf_counter()
                rows, total = await archival.search(target, config, sentence(rng), 0)
                searches.append((time.perf_counter() - t) * 1000)
                assert len(rows) == 5
                t = time.perf_counter()
                await archival.search(target, config, sentence(rng), 20)
                deep.append((time.perf_counter() - t) * 1000)
            embed_one = []
            for _ in range(20):
                t = time.perf_counter()
                await embedders.local.embed([sentence(rng)])
                embed_one.append((time.perf_counter() - t) * 1000)
            results.append(
                {
                    "passages": size,
                    "agent's passages": total,
                    "save 100 (ms p50/p99)": f"{statistics.median(saves):.1f} / {pct(saves, 0.99):.1f}",
                    "saved/s": round(len(saves) * 100 / save_seconds),
                    "embedded/s": round(size / embed_seconds)
                    if size == sizes[0]
                    else round((size - sizes[sizes.index(size) - 1]) / embed_seconds),
                    "query embedding (ms p50)": f"{statistics.median(embed_one):.1f}",
                    "search page 0 (ms p50/p95/p99)": f"{statistics.median(searches):.1f} / {pct(searches, 0.95):.1f} / {pct(searches, 0.99):.1f}",
                    "search page 20 (ms p50/p99)": f"{statistics.median(deep):.1f} / {pct(deep, 0.99):.1f}",
                }
            )
            print(results[-1], flush=True)
    host.stop()
    store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--pg-uri")
    args = parser.parse_args()
    database = Database(args.pg_uri, Path(tempfile.mkdtemp(prefix="memgpt-bench-")))
    try:
        dsn = fresh_database(database.start())
        results = asyncio.run(run(dsn, args.sizes))
    finally:
        database.stop()
    print_table(results)


if __name__ == "__main__":
    main()
