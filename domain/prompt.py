"""What the model is sent: the system message with core memory, then the in-context messages.

The system message is derived from the agent's state every time (preset prompt, memory counts,
core memory), so the prompt of any step can be rebuilt exactly by replaying the log to that step.
"""

from typing import Any, Protocol

from domain.functions import schemas_for
from domain.messages import Message

WARNING_FRACTION = 0.75  # warn the model when the prompt passes this share of the window
KEEP_LAST = 3  # summarisation never hides the newest messages


class AgentView(Protocol):
    system: str
    core_memory: dict[str, str]
    messages: list[Message]
    recall_count: int
    archival_count: int
    functions: list[str]


def system_message(agent: AgentView) -> str:
    core = agent.core_memory
    return (
        f"{agent.system.rstrip()}\n\n"
        "### Memory\n"
        f"{agent.recall_count} messages between you and the user are stored in recall memory "
        "(search them with functions).\n"
        f"{agent.archival_count} memories you saved are stored in archival memory "
        "(search them with functions).\n\n"
        "Core memory (limited in size; more lives in archival and recall memory):\n"
        f"<persona>\n{core['persona']}\n</persona>\n"
        f"<human>\n{core['human']}\n</human>"
    )


def chat_messages(agent: AgentView) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system_message(agent)}] + [m.for_model() for m in agent.messages[1:]]


def tools(agent: AgentView) -> list[dict[str, Any]]:
    return [{"type": "function", "function": schema} for schema in schemas_for(agent.functions)]


def summarisable(messages: list[Message]) -> list[Message]:
    """The oldest ~75% of the messages after the system message, keeping at least the last
    `KEEP_LAST`, and never splitting a function call from its result."""
    body = messages[1:]
    cut = min(int(len(body) * WARNING_FRACTION), len(body) - KEEP_LAST)
    while 0 < cut < len(body) and body[cut].role == "function":
        cut += 1  # the kept part must not open with an orphaned function result
    if cut > len(body) - KEEP_LAST:
        cut = len(body) - KEEP_LAST
        while cut > 0 and body[cut].role == "function":
            cut -= 1
    return body[: max(cut, 0)]


SUMMARY_INSTRUCTIONS = (
    "Summarise the conversation below in under 100 words, from your own point of view. Keep names, "
    "facts, preferences, promises and open questions; drop greetings and filler. Answer with the "
    "summary only."
)


def summary_request(hidden: list[Message]) -> list[dict[str, Any]]:
    lines = []
    for m in hidden:
        if m.role == "assistant" and m.tool_call:
            lines.append(f"assistant: {m.text or ''} [called {m.tool_call.name}({m.tool_call.arguments})]")
        else:
            lines.append(f"{m.role}: {m.text or ''}")
    return [
        {"role": "system", "content": SUMMARY_INSTRUCTIONS},
        {"role": "user", "content": "\n".join(lines)},
    ]
