"""Function-call arguments as models really write them.

The original (MemGPT 0.3.4, `utils.parse_json`) read arguments with `json.loads(strict=False)`
(raw newlines inside strings pass) and, failing that, with `demjson3` (trailing commas, single
quotes, bare keys, comments). Models also wrap arguments in a Markdown code fence, which is
peeled off first. Anything else stays an error that the model is told about.
"""

import json
import re
from typing import Any

import demjson3

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*[ \t]*\n?(?P<body>.*?)\n?```\s*$", re.DOTALL)


class NotJSON(ValueError):
    """The text is not JSON, nor any near-JSON the original accepted."""


def unfenced(text: str) -> str:
    match = _FENCE.match(text)
    return match.group("body") if match else text


def parse_arguments(text: str) -> Any:
    text = unfenced(text).strip()
    if not text:
        return {}
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError as first:
        try:
            return demjson3.decode(text)
        except demjson3.JSONError:
            raise NotJSON(str(first)) from None
