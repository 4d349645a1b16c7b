"""`memgpt replay`: one turn of an agent, step by step, as the model saw it; with `--with-model`,
the same turn run again from the state right before it against another model, side by side.

Like `memgpt run`, it starts the services in-process on the configured database; it reads the
turn through the server's own routes (the app, in-process, as the default user), so it prints
exactly what `GET /api/agents/{id}/turns/{turn_id}` answers. A re-run forks the agent at the log
position right before the turn was queued (`POST /api/agents/{id}/fork`), sends the fork the
same message, reads the fork's turn the same way, and deletes the fork: the agent is untouched.
"""

import argparse
import asyncio
import json
import shutil
import sys
import textwrap
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import httpx

if TYPE_CHECKING:  # the services start only when the command runs, not when the CLI parses
    from runtime.bootstrap import Services
    from runtime.config import Config

WAKE_COMMANDS = {"heartbeat": "/heartbeat", "memory_warning": "/memorywarning"}
VIEW_WAIT = 30.0  # seconds to wait for the turns view to show a re-run turn's end


class ReplayFailed(Exception):
    """What the user asked for cannot be shown; the message says why."""


def _unpacked(content: Any) -> str:
    """A packaged message (MemGPT's JSON) as a person reads it."""
    if not isinstance(content, str):
        return "" if content is None else json.dumps(content, ensure_ascii=False)
    try:
        packed = json.loads(content)
    except json.JSONDecodeError:
        return content
    if isinstance(packed, dict) and ("message" in packed or "reason" in packed):
        kind = packed.get("type") or packed.get("status") or ""
        said = packed.get("message") if packed.get("message") is not None else packed.get("reason")
        return f"[{kind}] {said}" if kind else str(said)
    return content


def _call(call: dict[str, Any]) -> str:
    function = call.get("function") or {}
    return f"{function.get('name')}({function.get('arguments')})"


def _message(m: dict[str, Any]) -> str:
    if m.get("role") == "assistant":
        calls = m.get("tool_calls") or []
        return "assistant: " + " ".join(filter(None, [m.get("content") or "", *map(_call, calls)]))
    if m.get("role") == "tool":
        return f"function result: {_unpacked(m.get('content'))}"
    return f"{m.get('role')}: {_unpacked(m.get('content'))}"


def _tokens(usage: dict[str, int] | None) -> str:
    if not usage:
        return "tokens not reported"
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return f"tokens {prompt} + {completion} = {prompt + completion}"


def blocks(detail: dict[str, Any]) -> list[list[str]]:
    """The turn as blocks of text lines: its header, then one block per model request with what
    was new in its prompt, what came back, and the function that ran."""
    turn, opening = detail["turn"], detail["message"]
    tokens = turn["tokens"]
    positions = turn["positions"]
    header = [
        f"Turn {turn['id']}: {turn['status']}, {turn['steps']} steps, "
        f"tokens {tokens['prompt']} + {tokens['completion']} = {tokens['total']}",
        f"queued {turn['queued_at']} (log {positions['queued']}), started {turn['started_at']} "
        f"(log {positions['started']}), ended {turn['ended_at']} (log {positions['ended']})",
        f"{opening['role']}: {opening['text']}",
    ]
    if turn["failure"]:
        header.append(f"failed: {turn['failure']}")
    requests = [_request(n, request) for n, request in enumerate(detail["requests"], 1)]
    pending = detail.get("unanswered")
    if pending:
        what = "step" if pending["kind"] == "complete" else "summary"
        requests.append(
            [
                f"#{len(requests) + 1} {what} · {pending['model']} ({pending['layout']}) · "
                f"{len(pending['messages'])} messages · no answer recorded",
                f"  failed: {turn['failure']}",
            ]
        )
    return [header, *requests]


def _request(n: int, request: dict[str, Any]) -> list[str]:
    seconds = (request.get("timing") or {}).get("model_seconds")
    timing = f"{seconds:.3f} s" if seconds is not None else "time not recorded"
    what = "step" if request["kind"] == "complete" else "summary"
    lines = [
        f"#{n} {what} · {request['model']} ({request['layout']}) · {len(request['messages'])} messages"
        f" · {_tokens(request.get('usage'))} · {timing}"
    ]
    lines += [f"  + {_message(m)}" for m in request["new_messages"]]
    reply = request["reply"]
    if request["kind"] == "summarize":
        return [*lines, f"  summary: {reply.get('text')}"]
    if reply.get("text"):
        lines.append(f"  thinks: {reply['text']}")
    for i, call in enumerate(reply.get("tool_calls") or []):
        lines.append(f"  {'calls' if i == 0 else 'skipped'}: {_call(call)}")
    function = request.get("function")
    if function and "status" in function:
        lines.append(f"  {function['status']}: {_unpacked(function['result'])}")
        if function.get("shown") is not None:
            lines.append(f"  says: {function['shown']}")
    return lines


def render(detail: dict[str, Any]) -> list[str]:
    """The turn as lines of text, a blank line between its blocks."""
    out: list[str] = []
    for block in blocks(detail):
        out += [*([""] if out else []), *block]
    return out


def _wrapped(lines: list[str], width: int) -> list[str]:
    out: list[str] = []
    for line in lines:
        out += textwrap.wrap(line, width, subsequent_indent="    ") or [""]
    return out


def side_by_side(left: list[list[str]], right: list[list[str]], width: int) -> Iterator[str]:
    """Two turns' blocks in two columns of `width` characters in all, a bar between them; the
    n-th blocks of each side start on the same line, so step n faces step n."""
    column = max((width - 3) // 2, 20)
    for n in range(max(len(left), len(right))):
        if n:
            yield "│".rjust(column + 2)
        a = _wrapped(left[n], column) if n < len(left) else []
        b = _wrapped(right[n], column) if n < len(right) else []
        for i in range(max(len(a), len(b))):
            yield f"{(a[i] if i < len(a) else ''):<{column}} │ {(b[i] if i < len(b) else '')}".rstrip()


def _ok(response: httpx.Response) -> Any:
    if response.status_code != 200:
        try:
            why = response.json().get("detail")
        except ValueError:
            why = response.text
        raise ReplayFailed(f"{response.request.method} {response.request.url.path}: {response.status_code} {why}")
    return response.json()


async def _turn(http: httpx.AsyncClient, agent_id: UUID | str, turn_id: UUID | str) -> dict[str, Any]:
    r = await http.get(f"/api/agents/{agent_id}/turns/{turn_id}")
    if r.status_code == 404:
        raise ReplayFailed(f"No turn {turn_id} of that agent.")
    return _ok(r)


async def _ended_turn(http: httpx.AsyncClient, agent_id: str) -> dict[str, Any]:
    """The agent's newest turn, once the turns view shows it ended."""
    deadline = asyncio.get_running_loop().time() + VIEW_WAIT
    while True:
        newest = _ok(await http.get(f"/api/agents/{agent_id}/turns", params={"order": "desc", "limit": 1}))["turns"]
        if newest and newest[0]["status"] in ("completed", "failed"):
            return await _turn(http, agent_id, newest[0]["id"])
        if asyncio.get_running_loop().time() > deadline:
            raise ReplayFailed("The re-run turn did not show as ended in time.")
        await asyncio.sleep(0.2)


async def rerun(http: httpx.AsyncClient, agent: dict[str, Any], detail: dict[str, Any], llm: dict[str, Any]) -> Any:
    """The turn run again in a fork of the agent made right before it was queued, with `llm`
    overriding the agent's model; the fork is deleted afterwards."""
    turn, opening = detail["turn"], detail["message"]
    name = f"replay-{str(turn['id'])[:8]}-{uuid4().hex[:8]}"  # a fork a crashed run left never blocks the next
    r = await http.post(
        f"/api/agents/{agent['id']}/fork", json={"at": turn["positions"]["queued"] - 1, "name": name, "llm_config": llm}
    )
    if r.status_code in (404, 405):  # the agent exists (its turn was just read): the route does not
        raise ReplayFailed("This server cannot fork agents (POST /api/agents/{id}/fork), so it cannot re-run a turn.")
    fork_id = _ok(r)["agent_state"]["id"]
    try:
        role, text = opening["role"], opening["text"]
        if role in WAKE_COMMANDS:
            _ok(await http.post(f"/api/agents/{fork_id}/command", json={"command": WAKE_COMMANDS[role]}))
        else:
            _ok(
                await http.post(
                    "/api/agents/message", json={"agent_id": fork_id, "message": text, "role": role, "stream": False}
                )
            )
        return await _ended_turn(http, fork_id)
    finally:
        await http.delete(f"/api/agents/{fork_id}")


async def replay(services: "Services", args: argparse.Namespace) -> int:
    from api.app import create_app

    config = services.config
    await services.open()
    try:
        row = await services.views.agent_named(config.default_user_id, args.agent)
        if row is None:
            raise ReplayFailed(f"No agent named {args.agent!r}.")
        transport = httpx.ASGITransport(app=create_app(config, services))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://memgpt.local",
            headers={"Authorization": f"Bearer {config.server_password}"},
            timeout=config.turn_timeout + 30,
        ) as http:
            detail = await _turn(http, row["id"], args.turn)
            original = render(detail)
            if args.with_model is None:
                print("\n".join(original), flush=True)
                return 0
            again = await rerun(http, row, detail, args.with_model)
        width = shutil.get_terminal_size((200, 40)).columns
        model = args.with_model.get("model") or "the other model"
        left, right = blocks(detail), blocks(again)
        left[0].insert(0, f"ORIGINAL ({row['name']})")
        right[0].insert(0, f"RE-RUN ({model})")
        for line in side_by_side(left, right, width):
            print(line)
        return 0
    except ReplayFailed as e:
        print(f"memgpt replay: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        await services.close()


def llm_config(text: str) -> dict[str, Any]:
    """`--with-model`: a JSON object of llm_config fields."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("give a JSON object of llm_config fields")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", required=True, help="The agent's name or id (the default user's).")
    parser.add_argument("--turn", required=True, type=UUID, help="The turn's id (GET /api/agents/{id}/turns).")
    parser.add_argument(
        "--with-model",
        type=llm_config,
        metavar="LLM_CONFIG_JSON",
        help="Run the turn again in a throwaway fork with this llm_config override; print both side by side.",
    )


def run(args: argparse.Namespace, config: "Config") -> int:
    from runtime.bootstrap import bootstrap

    return asyncio.run(replay(bootstrap(config), args))
