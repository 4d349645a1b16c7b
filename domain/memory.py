"""Core memory: the two always-in-context sections and the rules for editing them.

Core memory is a plain mapping ``{"persona": str, "human": str}``; the functions here return a
new mapping and never mutate their input, so aggregates can record the result as an event.
"""

from collections.abc import Mapping

from domain.errors import (
    CoreMemoryLimitExceeded,
    CoreMemoryNoMatch,
    CoreMemorySectionUnknown,
)

SECTIONS = ("persona", "human")
SECTION_LIMIT = 2000  # characters per section, as in MemGPT


def _checked(memory: Mapping[str, str], section: str, text: str) -> dict[str, str]:
    if section not in SECTIONS:
        raise CoreMemorySectionUnknown(f"Unknown core memory section {section!r}: use 'persona' or 'human'.")
    if len(text) > SECTION_LIMIT:
        raise CoreMemoryLimitExceeded(f"Edit failed: exceeds {SECTION_LIMIT} character limit (requested {len(text)}).")
    return {**memory, section: text}


def initial(persona: str, human: str) -> dict[str, str]:
    """A fresh core memory; texts over the limit are refused rather than truncated."""
    return _checked(_checked({"persona": "", "human": ""}, "persona", persona), "human", human)


def overwrite(memory: Mapping[str, str], section: str, text: str) -> dict[str, str]:
    """Replace a whole section (the REST `POST /api/agents/memory` edit)."""
    return _checked(memory, section, text)


def append(memory: Mapping[str, str], section: str, content: str) -> dict[str, str]:
    """MemGPT's `core_memory_append`: add a line to a section."""
    current = memory.get(section, "")
    return _checked(memory, section, f"{current}\n{content}" if current else content)


def replace(memory: Mapping[str, str], section: str, old: str, new: str) -> dict[str, str]:
    """MemGPT's `core_memory_replace`: swap every exact occurrence of `old` for `new`."""
    current = memory.get(section, "")
    if section in SECTIONS and (not old or old not in current):
        raise CoreMemoryNoMatch(f"Content not found in {section} (must be an exact match).")
    return _checked(memory, section, current.replace(old, new))


def before_edit(text: str, function: str, params: Mapping[str, object]) -> str | None:
    """What a section held before a `core_memory_append`/`core_memory_replace` that left it as
    `text`, or None when that is not certain (a replace that erased, or matched twice): the
    candidate is kept only if redoing the edit on it gives `text` back."""
    if function == "core_memory_append":
        content = params.get("content")
        if not isinstance(content, str):
            return None
        candidate = "" if text == content else text.removesuffix(f"\n{content}")
        redo = f"{candidate}\n{content}" if candidate else content
    elif function == "core_memory_replace":
        old, new = params.get("old_content"), params.get("new_content")
        if not isinstance(old, str) or not isinstance(new, str) or not old or not new or text.count(new) != 1:
            return None
        candidate = text.replace(new, old)
        redo = candidate.replace(old, new)
    else:
        return None
    return candidate if redo == text and candidate != text else None
