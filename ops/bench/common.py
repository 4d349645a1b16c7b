"""What every benchmark here shares: a scratch database, percentiles, and the Markdown table
that `docs/benchmarks.md` takes as printed. Imported by the scripts beside it (run as
`python ops/bench/<name>.py`, so this directory is first on the path)."""

from typing import Any
from uuid import uuid4

import psycopg
from psycopg.conninfo import make_conninfo


def fresh_database(admin_dsn: str) -> str:
    name = f"memgpt_bench_{uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(admin_dsn, dbname=name)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def print_table(rows: list[dict[str, Any]]) -> None:
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + " --- |" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
