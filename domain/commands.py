"""The text answers of the read-only agent commands (`/memory`, `/dump N`)."""

from collections.abc import Mapping

from domain.messages import Message, plain_text


def memory_dump(core: Mapping[str, str], archival: int, roles: Mapping[str, int]) -> str:
    total = sum(roles.values())
    known = ("system", "user", "assistant", "function")
    lines = [
        "",
        "Dumping memory contents:",
        "",
        "",
        "### CORE MEMORY ###",
        "=== Persona ===",
        core["persona"],
        "",
        "=== Human ===",
        core["human"],
        "",
        "### ARCHIVAL MEMORY ###",
        "",
        f"Size: {archival}",
        "",
        "### RECALL MEMORY ###",
        "Statistics:",
        f"{total} total messages",
        *(f"{roles.get(role, 0)} {role}" for role in known),
        f"{total - sum(roles.get(role, 0) for role in known)} other",
    ]
    return "\n".join(lines)


def dump(messages: list[Message], count: int) -> str:
    """The last `count` in-context messages, oldest first, as a person would read them."""
    shown = messages[1:][-count:] if count > 0 else []
    if not shown:
        return "No messages in context."
    lines = []
    for m in shown:
        words = plain_text(m)
        if m.tool_call and m.tool_call.name != "send_message":
            words = f"{words} [{m.tool_call.name}({m.tool_call.arguments})]".strip()
        lines.append(f"[{m.created_at.isoformat()}] {m.role}: {words}")
    return "\n".join(lines)
