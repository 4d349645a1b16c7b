"""Embedded chat model benchmark: first reply of a fresh server, and warm steps after it.

    python ops/bench/embedded.py [--messages 6] [--pg-uri DSN] [--keep DIR]

Starts `memgpt server` with its embedded defaults in a temporary data directory (the GGUF is
joined from its pieces first, so the timing starts with the model not loaded but assembled),
creates an agent and sends it a short conversation over HTTP. The first reply includes starting
the model's process and loading the model; a warm step is a later message's time divided by the
steps of its turn (one model call each). Prints a Markdown table and the load average, which
other work on the machine inflates.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from runtime.adapters.embedded import assemble

PASSWORD = "bench-password"
CONVERSATION = [
    "Hi! I'm Ada. I live in Lisbon and I love sailing.",
    "What do you like to do on weekends?",
    "Do you remember where I live?",
    "I'm thinking of learning the piano. Any advice?",
    "What's my name again?",
    "Thanks, talk to you later!",
    "I'm back. Did you miss me?",
    "Tell me something you remember about me.",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(home: Path, pg_uri: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMGPT_")}
    env |= {"MEMGPT_HOME": str(home), "MEMGPT_SERVER_PASS": PASSWORD, "MEMGPT_TURN_TIMEOUT": "900"}
    if pg_uri:
        env["MEMGPT_PG_URI"] = pg_uri
    memgpt = str(Path(sys.executable).with_name("memgpt"))
    proc = subprocess.Popen(
        [memgpt, "server", "--host", "127.0.0.1", "--port", str(port)],
        cwd=home,
        env=env,
        stdout=(home / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/api/presets", timeout=1.0)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not start; see {home / 'server.log'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=6, help=f"how many to send (at most {len(CONVERSATION)})")
    parser.add_argument("--pg-uri", help="a PostgreSQL DSN (default: the server's embedded one)")
    parser.add_argument("--keep", type=Path, help="use (and keep) this data directory")
    args = parser.parse_args()

    home = args.keep or Path(tempfile.mkdtemp(prefix="memgpt-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    assemble(home / "models")
    load_before = os.getloadavg()
    proc, url = start(home, args.pg_uri)
    rows = []
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {PASSWORD}"}, timeout=900) as c:
            r = c.post("/api/agents", json={"config": {"name": "Bench"}})
            r.raise_for_status()
            agent = r.json()["agent_state"]["id"]
            for text in CONVERSATION[: args.messages]:
                began = time.perf_counter()
                r = c.post("/api/agents/message", json={"agent_id": agent, "message": text, "stream": False})
                seconds = time.perf_counter() - began
                r.raise_for_status()
                frames = r.json()["messages"]
                steps = sum(1 for f in frames if "function_call" in f) or 1
                said = next((f["assistant_message"] for f in frames if "assistant_message" in f), "")
                failed = next((f["internal_error"] for f in frames if "internal_error" in f), "")
                rows.append((text, seconds, steps, said or (f"(error: {failed})" if failed else "")))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    load_after = os.getloadavg()

    print("| message | seconds | steps | s/step | reply |\n| --- | --- | --- | --- | --- |")
    for i, (text, seconds, steps, said) in enumerate(rows):
        label = "first reply (fresh server)" if i == 0 else f"message {i + 1}"
        print(f"| {label}: {text} | {seconds:.1f} | {steps} | {seconds / steps:.1f} | {said[:60]} |")
    warm = [seconds / steps for _, seconds, steps, _ in rows[1:]]
    if warm:
        print(
            f"\nfirst reply {rows[0][1]:.1f} s; warm step median {statistics.median(warm):.1f} s, "
            f"max {max(warm):.1f} s over {len(warm)} messages"
        )
    print(
        f"load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
        f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}; {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
