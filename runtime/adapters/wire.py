"""JSON bodies to and from model endpoints, encoded by orjson.

httpx's own `json=` and `.json()` go through the standard library, which took a sixth of the
model call's CPU on a ~10 KB prompt. orjson is strict where endpoints sometimes are not (NaN in
an answer, a lone surrogate), so what it refuses falls back to the standard library.
"""

import json
from typing import Any

import httpx
import orjson

HEADERS = {"Content-Type": "application/json"}


def dumps(payload: Any) -> bytes:
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        return json.dumps(payload).encode()  # ASCII: a lone surrogate as its \u escape


def loads(response: httpx.Response) -> Any:
    """The answer's JSON; ValueError if it is not JSON."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.json()
