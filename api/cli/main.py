"""The `memgpt` command: `server`, `worker`, `run`, `load`, `replay`, `migrate` and `rebuild`."""

import argparse
import asyncio
import functools
import sys
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from api.cli import replay as cli_replay
from api.cli import setup as cli_setup
from runtime import logs
from runtime.config import Config


def _write_openapi() -> None:
    from api.app import ROUTES
    from api.openapi import document

    for name in ("memgpt", "assistants"):
        print(f"Writing out openapi_{name}.json file", flush=True)
        Path(f"openapi_{name}.json").write_bytes(orjson.dumps(document(name, ROUTES), option=orjson.OPT_INDENT_2))


def _database_checked(command: Callable[[argparse.Namespace, Config], int]) -> Callable[..., int]:
    """A database the server cannot use ends the command with its one-line reason, exit 2."""

    @functools.wraps(command)
    def run(args: argparse.Namespace, config: Config) -> int:
        from runtime.database import DatabaseUnusable

        try:
            return command(args, config)
        except DatabaseUnusable as e:
            print(f"memgpt: {e}", file=sys.stderr, flush=True)
            return 2

    return run


@_database_checked
def server(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    from api.app import create_app
    from api.connections import guarded_http
    from runtime.bootstrap import bootstrap

    services = bootstrap(config)  # first: a database it cannot use ends it before anything else
    if config.password_from_env:
        print("Using existing admin server password from environment.", flush=True)
    else:
        print(f"Generated admin server password for this session: {config.server_password}", flush=True)
    _write_openapi()
    ssl: dict[str, str] = {}
    if args.use_ssl:
        from api.cli.tls import self_signed

        cert, key = self_signed(config.home / "ssl", args.host)
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    uv_config = uvicorn.Config(
        create_app(config, services),
        host=args.host,
        port=args.port,
        log_level="debug" if args.debug else "info",
        lifespan="on",
        timeout_graceful_shutdown=5,
        access_log=False,  # RequestContext logs each request as structured JSON
        http=guarded_http(config.header_timeout),  # httptools, with a deadline and a bound for each request head
        timeout_keep_alive=config.keepalive_timeout,  # type: ignore[arg-type]  # a float works too
        **ssl,  # type: ignore[arg-type]
    )
    try:
        _Server(uv_config, services).run()
    finally:
        services.database.stop()  # also when uvicorn could not bind; a no-op after a clean exit
    return 0


class _Server:
    """uvicorn's server, ending open streams as soon as it is told to exit: otherwise idle SSE
    clients hold the graceful shutdown until its timeout."""

    def __new__(cls, config: Any, services: Any) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                services.close_streams()
                super().handle_exit(sig, frame)

        return Server(config)


@_database_checked
def worker(args: argparse.Namespace, config: Config) -> int:
    """Runs turns and projections without serving HTTP, until SIGINT or SIGTERM."""
    import signal

    from runtime.bootstrap import bootstrap

    services = bootstrap(replace(config, run_turns=True))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await services.open()
        print("Worker running turns and projections (Ctrl+C to stop).", flush=True)
        try:
            await stop.wait()
        finally:
            await services.close()

    _run_fast(run())
    return 0


def _run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop's event loop, as uvicorn runs the server's, where uvloop is installed."""
    try:
        import uvloop
    except ImportError:  # not on Windows
        asyncio.run(main)
    else:
        uvloop.run(main)


@_database_checked
def migrate(args: argparse.Namespace, config: Config) -> int:
    import migrations
    from runtime.database import Database

    database = Database(config.pg_uri, config.home)
    try:
        applied = migrations.apply(database.start())
    finally:
        database.stop()
    print("Applied: " + ", ".join(applied) if applied else "Schema is up to date.")
    return 0


@_database_checked
def rebuild(args: argparse.Namespace, config: Config) -> int:
    import psycopg

    import migrations
    from domain.services.app import MemGPT
    from projections.runner import ProjectionsBusy
    from projections.runner import rebuild as rebuild_views
    from projections.set_aside import counts
    from runtime.database import Database, eventsourcing_env

    database = Database(config.pg_uri, config.home)
    try:
        dsn = database.start()
        migrations.apply(dsn)
        store = MemGPT(env=eventsourcing_env(dsn))  # its mapper decodes the log
        try:
            reached = rebuild_views(dsn, store.mapper)
        finally:
            store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            set_aside = counts(conn)
        print(f"Embedded {asyncio.run(_reembed(dsn, config))} passages")
    except ProjectionsBusy as e:
        print(str(e), file=sys.stderr)
        return 1
    finally:
        database.stop()
    for view, position in reached.items():
        aside = f", {set_aside[view]} events set aside" if set_aside[view] else ""
        print(f"Rebuilt {view} up to log position {position}{aside}")
    return 0


async def _reembed(dsn: str, config: Config) -> int:
    """Embed every passage of the rebuilt archival view again (deterministic for the embedded model)."""
    from psycopg_pool import AsyncConnectionPool

    from api.cli.load import Progress
    from projections.passages import EmbeddingQueue
    from projections.search import Search
    from runtime.adapters.embeddings import Embedders
    from runtime.adapters.wire import Wire
    from runtime.archival import Archival, EmbeddingFiller
    from runtime.endpoints import Endpoints

    http = Wire(config.llm_timeout)
    try:
        async with AsyncConnectionPool(dsn, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
            embedders = Embedders(http, Endpoints.of(config))
            queue = EmbeddingQueue(pool)
            archival, filler = Archival(Search(pool), queue, embedders), EmbeddingFiller(queue, embedders)
            total = await archival.waiting()
            progress = Progress("Embedding passages", total)
            while await filler.fill_once():  # failures are left for a server's filler to retry
                progress.update(total - await archival.waiting())
            progress.close()
            return total - await archival.waiting()
    finally:
        await http.close()


@_database_checked
def _run_chat(args: argparse.Namespace, config: Config) -> int:
    from api.cli import chat as cli_chat

    return cli_chat.run(args, config)


@_database_checked
def _run_replay(args: argparse.Namespace, config: Config) -> int:
    return cli_replay.run(args, config)


@_database_checked
def _run_load(args: argparse.Namespace, config: Config) -> int:
    from api.cli import load as cli_load

    return cli_load.run(args, config)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="memgpt", description="An event-sourced MemGPT server.")
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("server", help="Serve the REST and SSE API.")
    serve.add_argument("--host", default="localhost")
    serve.add_argument("--port", type=int, default=8283)
    serve.add_argument("--use-ssl", action="store_true", help="Serve HTTPS with a self-signed certificate.")
    serve.add_argument("--debug", action="store_true")
    serve.set_defaults(run=server)
    commands.add_parser("worker", help="Run turns and projections without serving HTTP.").set_defaults(run=worker)
    setup = commands.add_parser("configure", help="Set the defaults new agents get (flags, or prompts).")
    cli_setup.add_arguments(setup)
    setup.set_defaults(run=cli_setup.configure)
    quick = commands.add_parser("quickstart", help="Write a complete working configuration.")
    quick.add_argument("--backend", choices=sorted(cli_setup.QUICKSTARTS), default="embedded")
    quick.set_defaults(run=cli_setup.quickstart)
    chat = commands.add_parser("run", help="Chat with an agent in the terminal.")
    chat.add_argument("--agent", help="The agent's name (created if missing; default: your first agent).")
    chat.set_defaults(run=_run_chat)
    loader = commands.add_parser("load", help="Load a file or directory of text into an agent's archival memory.")
    loader.add_argument("--agent", required=True, help="The agent's name or id (the default user's).")
    loader.add_argument("paths", nargs="+", help="Files or directories.")
    loader.set_defaults(run=_run_load)
    replayer = commands.add_parser("replay", help="Show one turn of an agent step by step, or re-run it elsewhere.")
    cli_replay.add_arguments(replayer)
    replayer.set_defaults(run=_run_replay)
    commands.add_parser("migrate", help="Apply pending schema migrations.").set_defaults(run=migrate)
    commands.add_parser(
        "rebuild", help="Empty every projection and replay the event log into it (server stopped)."
    ).set_defaults(run=rebuild)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = Config.from_env()
    logs.configure("debug" if getattr(args, "debug", False) else config.log_level)
    return args.run(args, config)


if __name__ == "__main__":
    sys.exit(main())
