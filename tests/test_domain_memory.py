import pytest

from domain import memory
from domain.errors import CoreMemoryLimitExceeded, CoreMemoryNoMatch, CoreMemorySectionUnknown


def test_append_adds_a_line_and_leaves_the_input_alone() -> None:
    before = {"persona": "I am Sam.", "human": ""}
    after = memory.append(before, "persona", "I like tea.")
    assert after == {"persona": "I am Sam.\nI like tea.", "human": ""}
    assert before["persona"] == "I am Sam."
    assert memory.append(after, "human", "Name: Ada")["human"] == "Name: Ada"


def test_replace_swaps_exact_text_and_empty_new_content_deletes() -> None:
    core = {"persona": "I am Sam.", "human": "Likes tea. Lives in Oslo."}
    assert memory.replace(core, "human", "tea", "coffee")["human"] == "Likes coffee. Lives in Oslo."
    assert memory.replace(core, "human", " Lives in Oslo.", "")["human"] == "Likes tea."


def test_replace_without_an_exact_match_is_an_error() -> None:
    with pytest.raises(CoreMemoryNoMatch):
        memory.replace({"persona": "", "human": "Likes tea."}, "human", "Tea", "coffee")
    with pytest.raises(CoreMemoryNoMatch):
        memory.replace({"persona": "", "human": "x"}, "human", "", "y")


def test_sections_are_limited_to_2000_characters() -> None:
    core = memory.initial("p" * 1995, "")
    with pytest.raises(CoreMemoryLimitExceeded):
        memory.append(core, "persona", "12345")  # newline + 5 = 2001
    assert len(memory.append(core, "persona", "1234")["persona"]) == 2000
    with pytest.raises(CoreMemoryLimitExceeded):
        memory.overwrite(core, "human", "h" * 2001)
    with pytest.raises(CoreMemoryLimitExceeded):
        memory.initial("p" * 2001, "")


def test_only_persona_and_human_exist() -> None:
    with pytest.raises(CoreMemorySectionUnknown):
        memory.append({"persona": "", "human": ""}, "system", "x")
    with pytest.raises(CoreMemorySectionUnknown):
        memory.replace({"persona": "", "human": ""}, "notes", "a", "b")


def test_before_edit_undoes_what_it_can_be_sure_of() -> None:
    appended = memory.append({"human": "Name: Ada"}, "human", "Lives in Lisbon")["human"]
    assert memory.before_edit(appended, "core_memory_append", {"content": "Lives in Lisbon"}) == "Name: Ada"
    assert memory.before_edit("Lives in Lisbon", "core_memory_append", {"content": "Lives in Lisbon"}) == ""
    replaced = memory.replace({"human": "Name: Ada, sails"}, "human", "sails", "rows")["human"]
    assert memory.before_edit(replaced, "core_memory_replace", {"old_content": "sails", "new_content": "rows"}) == (
        "Name: Ada, sails"
    )
    # a deletion, a text the edit could not have left, or a replacement found twice: not certain
    assert memory.before_edit("Name: Ada", "core_memory_replace", {"old_content": "x", "new_content": ""}) is None
    assert memory.before_edit("Name: Ada", "core_memory_append", {"content": "Lisbon"}) is None
    twice = "rows; rows"
    assert memory.before_edit(twice, "core_memory_replace", {"old_content": "sails", "new_content": "rows"}) is None
    assert memory.before_edit("Name: Ada", "archival_memory_insert", {"content": "Ada"}) is None
