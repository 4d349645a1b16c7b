"""What the model is sent: the system message with core memory, then the in-context messages.

The system message is derived from the agent's state every time (preset prompt, core memory,
memory counts), so the prompt of any step can be rebuilt exactly by replaying the log to that step.
Its parts go from the most to the least stable: the preset's instructions (fixed for the agent's
life), core memory (changed by memory edits) and last the counts (changed by every message), so a
provider or llama.cpp that caches a prompt's unchanged prefix reuses as much of it as possible.
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


CORE_HEADING = "### Core memory"
COUNTS_HEADING = "### Memory statistics"


def core_section(core: dict[str, str]) -> str:
    return (
        f"{CORE_HEADING} (limited in size; more lives in archival and recall memory)\n"
        f"<persona>\n{core['persona']}\n</persona>\n"
        f"<human>\n{core['human']}\n</human>"
    )


def counts_section(recall_count: int, archival_count: int) -> str:
    return (
        f"{COUNTS_HEADING}\n"
        f"{recall_count} messages between you and the user are stored in recall memory "
        "(search them with functions).\n"
        f"{archival_count} memories you saved are stored in archival memory "
        "(search them with functions)."
    )


def system_message(agent: AgentView) -> str:
    return "\n\n".join(
        (
            agent.system.rstrip(),
            core_section(agent.core_memory),
            counts_section(agent.recall_count, agent.archival_count),
        )
    )


def split_system(content: str) -> tuple[str, str, str]:
    """The instructions, core memory and counts of a system message `system_message` made, for an
    adapter that lays them out apart. The counts are the last section; core memory starts at the
    first core heading after the instructions (a preset quoting that heading only moves the
    split, never loses text). Any other text is all instructions."""
    head, mark, counts = content.rpartition(f"\n\n{COUNTS_HEADING}\n")
    if not mark:
        return content, "", ""
    instructions, mark, core = head.partition(f"\n\n{CORE_HEADING}")
    return instructions, (CORE_HEADING + core) if mark else "", COUNTS_HEADING + "\n" + counts


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
