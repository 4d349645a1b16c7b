"""`memgpt run`: chat with an agent in the terminal, through the same runtime as the server.

It starts the services in-process (database, views, log tail, turn runner), sends each line as a
message, and prints the turn's frames as they arrive on the log.
"""

import argparse
import asyncio
from typing import Any
from uuid import UUID

from domain.commands import memory_dump
from runtime.bootstrap import Services, bootstrap
from runtime.commands import Commands
from runtime.config import Config
from runtime.turns.follow import TurnFollower

PREFIX = {
    "internal_monologue": "💭 ",
    "function_call": "⚡ ",
    "assistant_message": "🤖 ",
    "function_return": "   ↳ ",
    "internal_error": "❗ ",
}


def render(frame: dict[str, str]) -> str | None:
    kind = next(k for k in frame if k not in ("date", "status"))
    if kind == "function_return" and frame.get("status") == "success":
        return None  # successes are noise in a chat; failures are shown
    return PREFIX[kind] + frame[kind]


async def _agent_id(services: Services, user_id: UUID, args: argparse.Namespace) -> tuple[UUID, str]:
    row = await services.views.agent_named(user_id, args.agent)
    if row is not None:
        return row["id"], row["name"]
    cfg = services.config
    agent = await Commands(services.watch, cfg.view_wait_seconds, services.metrics)(
        services.commands.agents.create_agent,
        user_id,
        args.agent,
        cfg.default_preset,
        cfg.default_persona,
        cfg.default_human,
        cfg.default_llm_config,
        cfg.default_embedding_config,
    )
    return agent.id, agent.name


async def chat(services: Services, args: argparse.Namespace) -> None:
    cfg = services.config
    await services.open()
    try:
        user_id = cfg.default_user_id
        agent_id, name = await _agent_id(services, user_id, args)
        turns = TurnFollower(
            Commands(services.watch, cfg.view_wait_seconds, services.metrics),
            services.tail,
            cfg.turn_timeout,
            services.turns,
        )
        print(f"Chatting with {name} ({agent_id}). /memory shows its memory, /exit leaves.", flush=True)
        while True:
            try:
                line = (await asyncio.to_thread(input, "> ")).strip()
            except EOFError:
                break
            if not line:
                continue
            if line in ("/exit", "/quit"):
                break
            if line == "/memory":
                row: Any = await services.views.agent(user_id, agent_id)
                counts = await services.views.message_counts(agent_id)
                print(memory_dump(row["core_memory"], await services.views.passage_count(agent_id), counts), flush=True)
                continue
            commands = services.commands.turns
            turn_id, after = await turns.queue(
                commands.queue_turn, user_id, agent_id, "user", line, opening=commands.queue_and_open_turn
            )
            async for item in turns.events(agent_id, turn_id, after):
                for frame in item[1] if item else []:
                    text = render(frame)
                    if text:
                        print(text, flush=True)
    finally:
        await services.close()


def run(args: argparse.Namespace, config: Config) -> int:
    asyncio.run(chat(bootstrap(config), args))
    return 0
