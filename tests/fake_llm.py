"""A scripted OpenAI-compatible chat-completions server on loopback, for driving agents in tests.

By default it behaves like the scripted model of the original's transcript: it answers a user
message with `send_message("echo: <text>")`. Tests can queue exact replies (`script`), inject
HTTP failures (`fail`), and read every request it received (`requests`). A scripted reply is an
assistant message, or a whole response body (anything with `choices`) sent exactly as given.
"""

import hashlib
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def tool_reply(name: str, args: dict[str, Any], thoughts: str | None = None) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": thoughts,
        "tool_calls": [
            {
                "id": f"call_{time.monotonic_ns()}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
        ],
    }


def text_reply(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def hashed_vector(text: str, dim: int) -> list[float]:
    """A deterministic stand-in embedding: equal texts, equal vectors."""
    digest = hashlib.sha256(text.encode()).digest()
    return [digest[i % len(digest)] / 255 - 0.5 for i in range(dim)]


def last_user_text(messages: list[dict[str, Any]]) -> tuple[str, str]:
    """(type, text) of the newest user-role message, unpacked from MemGPT's JSON."""
    for m in reversed(messages):
        if m["role"] == "user":
            try:
                packed = json.loads(m["content"])
                return packed.get("type", ""), packed.get("message") or packed.get("reason") or ""
            except (json.JSONDecodeError, AttributeError):
                return "", m["content"]
    return "", ""


class FakeLLM:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._script: deque[Any] = deque()
        self._failures: deque[int] = deque()
        self.delay = 0.0
        self.in_flight = 0  # requests being answered right now
        self.embedding_dim = 8
        self.embedding_failures = 0  # answer this many embeddings requests with HTTP 503
        self.redirect_to: str | None = None  # answer every POST with a 307 to this URL
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the model list
                data = json.dumps({"object": "list", "data": [{"id": "gpt-4"}, {"id": "gpt-3.5-turbo"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if fake.redirect_to:
                    with fake._lock:
                        fake.requests.append({"path": self.path, "headers": dict(self.headers), **body})
                    self.send_response(307)
                    self.send_header("Location", fake.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, answer = fake._answer(self.path, dict(self.headers), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def close(self) -> None:
        self._server.shutdown()

    def script(self, *replies: Any) -> None:
        """Queue replies: a message dict, or a callable(request body) -> message dict."""
        with self._lock:
            self._script.extend(replies)

    def fail(self, *statuses: int) -> None:
        with self._lock:
            self._failures.extend(statuses)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._failures.clear()
            self.requests.clear()
            self.delay = 0.0
            self.redirect_to = None

    def _embeddings(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append({"path": "/embeddings", "headers": headers, **body})
            if self.embedding_failures:
                self.embedding_failures -= 1
                return 503, {"error": {"message": "scripted failure"}}
        data = [
            {"index": i, "embedding": hashed_vector(text, self.embedding_dim)} for i, text in enumerate(body["input"])
        ]
        return 200, {"object": "list", "data": data, "model": body.get("model")}

    def _answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path.endswith("/embeddings"):
            return self._embeddings(headers, body)
        with self._lock:
            self.in_flight += 1
        try:
            if self.delay:
                time.sleep(self.delay)
        finally:
            with self._lock:
                self.in_flight -= 1
        with self._lock:
            self.requests.append({"path": path, "headers": headers, **body})
            if self._failures:
                return self._failures.popleft(), {"error": {"message": "scripted failure"}}
            reply = self._script.popleft() if self._script and "tools" in body else None
        if callable(reply):
            reply = reply(body)
        if reply is None:
            reply = self._default(body)
        if "choices" in reply:  # a whole response body, in some server's exact wire shape
            return 200, reply
        return 200, {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [{"index": 0, "message": reply, "finish_reason": "stop"}],
        }

    @staticmethod
    def _default(body: dict[str, Any]) -> dict[str, Any]:
        if "tools" not in body:  # a summary request
            return text_reply("We talked about tea, Oslo and the meaning of life.")
        kind, text = last_user_text(body["messages"])
        if kind == "heartbeat":
            return tool_reply("send_message", {"message": "heartbeat seen"}, "Heartbeat.")
        if kind == "system_alert":
            return tool_reply("send_message", {"message": "noted"}, "A system note.")
        return tool_reply("send_message", {"message": f"echo: {text}"}, "The user said something.")
