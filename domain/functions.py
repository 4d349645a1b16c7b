"""The functions an agent may call, as JSON schemas in the OpenAI function-calling format.

Schemas only: what each function does to the agent lives in the step logic. Every function except
`send_message` and `pause_heartbeats` also takes `request_heartbeat`, as in MemGPT.
"""

from typing import Any

_HEARTBEAT = {
    "type": "boolean",
    "description": "Set true to be woken again right after this function returns, "
    "so you can follow up with another message or function.",
}
_PAGE = {
    "type": "integer",
    "description": "Result page to show, counted from 0. Only needed when following up on a search.",
}


def _schema(
    name: str, description: str, params: dict[str, dict[str, Any]], required: list[str], heartbeat: bool = True
) -> dict[str, Any]:
    properties = dict(params)
    if heartbeat:
        properties["request_heartbeat"] = _HEARTBEAT
        required = [*required, "request_heartbeat"]
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


def _text(description: str) -> dict[str, str]:
    return {"type": "string", "description": description}


SCHEMAS: dict[str, dict[str, Any]] = {
    s["name"]: s
    for s in [
        _schema(
            "send_message",
            "Show a message to the user. This is the only way the user sees anything you do.",
            {"message": _text("What to say. Any unicode, emoji included.")},
            ["message"],
            heartbeat=False,
        ),
        _schema(
            "pause_heartbeats",
            "Stop timed heartbeats for a while; user messages and requested heartbeats still wake you.",
            {"minutes": {"type": "integer", "description": "How long to pause, at most 360 minutes."}},
            ["minutes"],
            heartbeat=False,
        ),
        _schema(
            "core_memory_append",
            "Add a line to one section of your core memory.",
            {
                "name": _text("The section to edit: 'persona' or 'human'."),
                "content": _text("The text to add. Any unicode, emoji included."),
            },
            ["name", "content"],
        ),
        _schema(
            "core_memory_replace",
            "Replace text in one section of your core memory; an empty new_content deletes it.",
            {
                "name": _text("The section to edit: 'persona' or 'human'."),
                "old_content": _text("The text to replace, matched exactly."),
                "new_content": _text("The text to put in its place."),
            },
            ["name", "old_content", "new_content"],
        ),
        _schema(
            "conversation_search",
            "Search everything said in past conversations for a word or phrase (case-insensitive).",
            {"query": _text("The words to look for."), "page": _PAGE},
            ["query"],
        ),
        _schema(
            "conversation_search_date",
            "List past conversation messages sent between two dates, inclusive.",
            {
                "start_date": _text("First day of the range, as YYYY-MM-DD."),
                "end_date": _text("Last day of the range, as YYYY-MM-DD."),
                "page": _PAGE,
            },
            ["start_date", "end_date"],
        ),
        _schema(
            "archival_memory_insert",
            "Store a passage in archival memory. Word it so that a later search will find it.",
            {"content": _text("The passage to store. Any unicode, emoji included.")},
            ["content"],
        ),
        _schema(
            "archival_memory_search",
            "Search archival memory by meaning (embedding similarity).",
            {"query": _text("What to look for."), "page": _PAGE},
            ["query"],
        ),
        _schema(
            "read_from_text_file",
            "Read lines from a text file in the agent's file area.",
            {
                "filename": _text("The file to read."),
                "line_start": {"type": "integer", "description": "First line to read, counted from 1."},
                "num_lines": {"type": "integer", "description": "How many lines to read."},
            },
            ["filename", "line_start", "num_lines"],
        ),
        _schema(
            "append_to_text_file",
            "Append text to a file in the agent's file area.",
            {"filename": _text("The file to write."), "content": _text("The text to append.")},
            ["filename", "content"],
        ),
        _schema(
            "http_request",
            "Make an HTTP request and return the status and body.",
            {
                "method": _text("GET, POST, PUT or DELETE."),
                "url": _text("The address to call."),
                "payload_json": _text("A JSON body for the request, or an empty string."),
            },
            ["method", "url", "payload_json"],
        ),
    ]
}

BASE_FUNCTIONS = (
    "send_message",
    "pause_heartbeats",
    "core_memory_append",
    "core_memory_replace",
    "conversation_search",
    "conversation_search_date",
    "archival_memory_insert",
    "archival_memory_search",
)
EXTRA_FUNCTIONS = ("read_from_text_file", "append_to_text_file", "http_request")

TAGS = {name: ["memgpt-base"] for name in BASE_FUNCTIONS} | {name: ["memgpt-extras"] for name in EXTRA_FUNCTIONS}


def schemas_for(names: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """The schemas of the named functions, in the given order."""
    return [SCHEMAS[name] for name in names]
