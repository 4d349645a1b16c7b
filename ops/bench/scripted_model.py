"""A scripted, zero-latency OpenAI-compatible model for benchmarks, in a process of its own.

    python ops/bench/scripted_model.py --port PORT

Every chat completion that offers tools (or the older `functions`) is answered at once with one
`send_message` call and no `request_heartbeat`, so a turn is one step; a request without them (a
summary) gets plain text. Embeddings are a fixed vector of the requested size (`dimensions`, else
1536 as ada-002 gives), as floats or base64 as asked (the OpenAI client asks for base64). Its own
process so that answering does not share the benchmark client's interpreter; uvicorn with a bare
ASGI callable keeps connections alive, which both servers' HTTP clients expect.
"""

import argparse
import base64
import itertools
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn

ADA_DIM = 1536
REPLY = "Noted."
_ids = itertools.count()


def completion(body: dict[str, Any]) -> dict[str, Any]:
    """One assistant message in the wire shape both servers parse (the original's pydantic model
    requires `id`, `created`, `model` and `usage`)."""
    arguments = orjson.dumps({"message": REPLY}).decode()
    message: dict[str, Any] = {"role": "assistant", "content": "Answering."}
    if body.get("tools"):
        call = {
            "id": f"call_{next(_ids)}",
            "type": "function",
            "function": {"name": "send_message", "arguments": arguments},
        }
        message["tool_calls"] = [call]
        finish = "tool_calls"
    elif body.get("functions"):
        message["function_call"] = {"name": "send_message", "arguments": arguments}
        finish = "function_call"
    else:
        message["content"] = "A summary of the conversation so far."
        finish = "stop"
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or "gpt-4",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input") or []
    count = 1 if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)) else len(inputs)
    dim = int(body.get("dimensions") or ADA_DIM)
    vector: Any = [dim**-0.5] * dim  # unit length, so cosine and inner product agree
    if body.get("encoding_format") == "base64":
        vector = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
    data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(count)]
    usage = {"prompt_tokens": 10 * count, "total_tokens": 10 * count}
    return {"object": "list", "data": data, "model": body.get("model") or "text-embedding-ada-002", "usage": usage}


def models() -> dict[str, Any]:
    return {"object": "list", "data": [{"id": "gpt-4", "object": "model"}]}


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        event = await receive()
        chunks.append(event.get("body", b""))
        if not event.get("more_body"):
            return b"".join(chunks)


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if scope["method"] == "GET":
        status, answer = 200, models()
    else:
        body = orjson.loads(await read_body(receive) or b"{}")
        if path.endswith("/embeddings"):
            status, answer = 200, embeddings(body)
        elif path.endswith("/chat/completions"):
            status, answer = 200, completion(body)
        else:
            status, answer = 404, {"error": {"message": f"no route {path}"}}
    data = orjson.dumps(answer)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
