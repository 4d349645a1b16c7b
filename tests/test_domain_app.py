"""The application service over in-memory persistence: commands, rules and events."""

from copy import deepcopy
from dataclasses import asdict
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from domain import catalogue, keys, step
from domain.agents import Agent
from domain.audit import CAUSE
from domain.errors import (
    AgentNameTaken,
    AgentNotFound,
    CatalogueNameTaken,
    DefaultPresetProtected,
    DefaultUserProtected,
    InvalidAgentName,
    KeyNotFound,
    PresetNotFound,
    UnknownCatalogueEntry,
    UserAlreadyExists,
    UserNotFound,
)
from domain.messages import Message, ToolCall
from domain.services.app import LAST_POSITION, CommandGroups, MemGPT
from domain.users import User

DEFAULT = UUID(int=0)


@pytest.fixture
def app() -> CommandGroups:
    return CommandGroups.on(MemGPT(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}))


def _agent(app: CommandGroups, user_id: UUID, name: str | None = None) -> Agent:
    app.accounts.ensure_user(user_id)
    return app.agents.create_agent(
        user_id, name, "memgpt_chat", "sam_pov", "basic", {"model": "m"}, {"embedding_dim": 3}
    )


def test_a_new_user_has_one_key_stored_only_as_a_digest(app: CommandGroups) -> None:
    user_id, key = app.accounts.create_user(None, "first")
    assert key.startswith("sk-") and len(key) == 51
    user: User = app.store.repository.get(user_id)
    [issued] = user.keys.values()
    assert issued.digest == keys.digest(key) and issued.name == "first"
    assert key not in str(vars(issued)) and issued.masked == keys.mask(key)


def test_user_ids_are_unique_and_deleted_users_refuse_commands(app: CommandGroups) -> None:
    user_id, _ = app.accounts.create_user(None, None)
    with pytest.raises(UserAlreadyExists):
        app.accounts.create_user(user_id, None)
    app.accounts.delete_user(user_id, DEFAULT)
    with pytest.raises(UserNotFound):
        app.accounts.issue_key(user_id, None)
    with pytest.raises(UserNotFound):
        app.accounts.delete_user(user_id, DEFAULT)


def test_deleting_a_user_deletes_what_they_own_and_ends_their_turns(app: CommandGroups) -> None:
    user_id, _ = app.accounts.create_user(None, None)
    agent = _agent(app, user_id, "doomed")
    source = app.sources.create_source(user_id, "notes", None, {"embedding_dim": 3})
    turn_id = app.turns.queue_turn(user_id, agent.id, "user", "hello")
    assert app.turns.start_next_turn(agent.id) is not None  # a turn is running when the user goes

    app.accounts.delete_user(user_id, DEFAULT)
    deleted = app.store.repository.get(agent.id)
    assert deleted.deleted and app.store.repository.get(source.id).deleted
    reply = step.Reply("Hi.", (ToolCall("call_1", "send_message", '{"message": "Hi"}'),))
    with pytest.raises(AgentNotFound):  # the step the model was answering is refused, not recorded
        app.turns.record_step(agent.id, turn_id, reply, step.Outcome("success", "None", shown="Hi"))
    app.turns.end_turn(agent.id, turn_id)  # and the turn's end records nothing either
    assert app.turns.start_next_turn(agent.id) is None
    with pytest.raises(AgentNotFound):
        app.agents.rename_agent(user_id, agent.id, "back")
    assert app.store.repository.get(agent.id).version == deleted.version


def test_a_deletion_begun_refuses_creations_and_can_be_finished(app: CommandGroups) -> None:
    user_id, _ = app.accounts.create_user(None, None)
    user: User = app.store.repository.get(user_id)
    user.begin_deletion()
    app.store.save(user)  # as if the server stopped between deletion's two saves
    with pytest.raises(UserNotFound):
        _agent(app, user_id)
    app.accounts.delete_user(user_id, DEFAULT)  # finishes it
    assert app.store.repository.get(user_id).deleted


def test_the_default_user_cannot_be_deleted(app: CommandGroups) -> None:
    app.accounts.ensure_user(DEFAULT)
    app.accounts.ensure_user(DEFAULT)  # idempotent
    with pytest.raises(DefaultUserProtected):
        app.accounts.delete_user(DEFAULT, DEFAULT)


def test_revoking_a_key_removes_it(app: CommandGroups) -> None:
    user_id, _ = app.accounts.create_user(None, None)
    app.accounts.issue_key(user_id, "second")
    user: User = app.store.repository.get(user_id)
    first = next(iter(user.keys))
    app.accounts.revoke_key(user_id, first)
    assert first not in app.store.repository.get(user_id).keys
    with pytest.raises(KeyNotFound):
        app.accounts.revoke_key(user_id, first)


def test_agents_get_defaults_generated_names_and_core_memory(app: CommandGroups) -> None:
    user_id = uuid4()
    agent = _agent(app, user_id)
    assert 1 <= len(agent.name) <= 50
    assert agent.core_memory == {"persona": catalogue.PERSONAS["sam_pov"], "human": catalogue.HUMANS["basic"]}
    assert agent.functions[0] == "send_message" and len(agent.functions) == 8


def test_agent_names_follow_the_rule_and_are_unique_per_user(app: CommandGroups) -> None:
    alice, bob = uuid4(), uuid4()
    first = _agent(app, alice, "Helper")
    with pytest.raises(AgentNameTaken):
        _agent(app, alice, "helper")
    _agent(app, bob, "Helper")  # another user may use the name
    for bad in ("", "x" * 51, "semi;colon", "new\nline"):
        with pytest.raises(InvalidAgentName):
            _agent(app, alice, bad)
    app.agents.rename_agent(alice, first.id, "Renamed")
    _agent(app, alice, "Helper")  # released by the rename
    app.agents.delete_agent(alice, first.id)
    _agent(app, alice, "Renamed")  # released by the deletion


def test_another_users_agent_is_not_found(app: CommandGroups) -> None:
    agent = _agent(app, uuid4())
    with pytest.raises(AgentNotFound):
        app.agents.rename_agent(uuid4(), agent.id, "Mine")
    with pytest.raises(AgentNotFound):
        app.agents.delete_agent(uuid4(), agent.id)
    with pytest.raises(AgentNotFound):
        app.agents.edit_core_memory(uuid4(), uuid4(), "x", None)


def test_unknown_presets_personas_and_humans_are_refused(app: CommandGroups) -> None:
    user = uuid4()
    app.accounts.ensure_user(user)
    with pytest.raises(UnknownCatalogueEntry):
        app.agents.create_agent(user, None, "nope", "sam_pov", "basic", {}, {})
    with pytest.raises(UnknownCatalogueEntry):
        app.agents.create_agent(user, None, "memgpt_chat", "nope", "basic", {}, {})
    with pytest.raises(UserNotFound):
        app.agents.create_agent(uuid4(), None, "memgpt_chat", "sam_pov", "basic", {}, {})


def test_users_own_humans_personas_and_presets(app: CommandGroups) -> None:
    user, other = uuid4(), uuid4()
    app.accounts.ensure_user(user)
    app.accounts.ensure_user(other)
    app.accounts.save_text(user, "persona", "pirate", "I am a pirate.")
    app.accounts.save_text(user, "human", "ada", "Name: Ada")
    app.accounts.save_preset(user, "terse", "Be brief.", ["send_message", "core_memory_append"])
    agent = app.agents.create_agent(user, None, "terse", "pirate", "ada", {}, {})
    assert agent.core_memory == {"persona": "I am a pirate.", "human": "Name: Ada"}
    assert agent.system == "Be brief." and agent.functions == ["send_message", "core_memory_append"]
    with pytest.raises(UnknownCatalogueEntry):
        app.agents.create_agent(other, None, "memgpt_chat", "pirate", "basic", {}, {})  # not theirs
    with pytest.raises(CatalogueNameTaken):
        app.accounts.save_text(user, "persona", "sam_pov", "mine now")
    with pytest.raises(UnknownCatalogueEntry):
        app.accounts.save_preset(user, "broken", "x", ["fly"])
    app.accounts.delete_preset(user, "terse")
    with pytest.raises(UnknownCatalogueEntry):
        app.agents.create_agent(user, None, "terse", "pirate", "ada", {}, {})
    with pytest.raises(PresetNotFound):
        app.accounts.delete_preset(user, "terse")
    with pytest.raises(DefaultPresetProtected):
        app.accounts.delete_preset(user, "memgpt_chat")


def test_core_memory_edits_return_old_and_new_and_replay(app: CommandGroups) -> None:
    user_id = uuid4()
    agent = _agent(app, user_id)
    old, new = app.agents.edit_core_memory(user_id, agent.id, "I am Sam.", None)
    assert old["persona"] == catalogue.PERSONAS["sam_pov"]
    assert new == {"persona": "I am Sam.", "human": old["human"]}
    assert app.store.repository.get(agent.id).core_memory == new


def test_saves_report_their_position_and_events_carry_their_cause(app: CommandGroups) -> None:
    CAUSE.set({"request_id": "r-1", "user_id": "u-1"})
    user_id, _ = app.accounts.create_user(None, None)
    position = LAST_POSITION.get()
    assert position > 0
    [notification] = [n for n in app.store.notification_log.select(start=position, limit=1)]
    assert b'"caused_by"' in notification.state and b'"r-1"' in notification.state
    assert app.store.repository.get(user_id).id == user_id  # replays despite the extra field


def test_a_cached_agent_copied_for_a_command_shares_no_state_it_could_change(app: CommandGroups) -> None:
    agent = _agent(app, uuid4())
    copied = deepcopy(agent)
    assert copied.__dict__ == agent.__dict__ and type(copied) is Agent
    copied.queue_turn(uuid4(), "user", "Hello.")
    copied.core_memory["human"] = "Changed."
    copied.llm_config["model"] = "changed"
    assert agent.queued == [] and agent.core_memory != copied.core_memory and agent.llm_config != copied.llm_config
    assert agent.messages is not copied.messages and agent.messages == copied.messages
    assert len(agent.collect_events()) == 0 and agent.version == copied.version - 1


def test_a_message_as_a_dict_has_every_field_and_reads_back() -> None:
    now = datetime.now(UTC)
    for message in (
        Message(
            uuid4(), "assistant", "Thinking.", now, tool_call=ToolCall("call_1", "send_message", '{"message": "Hi"}')
        ),
        Message(uuid4(), "function", '{"status": "OK"}', now, name="send_message", tool_call_id="call_1"),
    ):
        assert message.to_dict() == asdict(message)
        assert Message.from_dict(message.to_dict()) == message


def test_a_last_step_saves_the_turns_end_with_it_only_when_told_it_finishes(app: CommandGroups) -> None:
    agent = _agent(app, uuid4())
    reply = step.Reply("Answering.", (ToolCall("call_1", "send_message", '{"message": "Hi"}'),))
    outcome = step.Outcome("success", "None", shown="Hi")
    seen: list[Agent] = []
    for finishes in (False, True):
        turn_id = app.turns.queue_turn(agent.user_id, agent.id, "user", "hello")
        assert app.turns.start_next_turn(agent.id) is not None
        before = app.store.recorder.max_notification_id() or 0
        after = app.turns.record_step(
            agent.id, turn_id, reply, outcome, finishes=lambda a, done=finishes: seen.append(a) or done
        )
        notes = app.store.recorder.select_notifications(before + 1, 10)
        saved = [type(app.store.mapper.to_domain_event(n)).__name__ for n in notes]
        assert seen[-1].messages[-1].role == "function"  # it is asked once the step's messages are in
        if finishes:
            assert after.current_turn is None and saved == ["AssistantSpoke", "FunctionReturned", "TurnCompleted"]
        else:
            assert after.current_turn == turn_id and saved == ["AssistantSpoke", "FunctionReturned"]
            app.turns.end_turn(agent.id, turn_id)


def test_a_message_opens_its_turn_in_the_same_save_only_when_nothing_runs_or_waits(app: CommandGroups) -> None:
    user_id, _ = app.accounts.create_user(None, None)
    agent = _agent(app, user_id, "eager")
    first, opened = app.turns.queue_and_open_turn(user_id, agent.id, "user", "hello")
    assert opened is not None and opened.current_turn == first and not opened.queued
    assert app.store.repository.get(agent.id).current_turn == first  # saved, queued and opened at once
    second, waiting = app.turns.queue_and_open_turn(user_id, agent.id, "user", "and then?")
    assert waiting is None  # the first turn still runs: the second only waits its turn
    stored = app.store.repository.get(agent.id)
    assert stored.current_turn == first and [t["turn_id"] for t in stored.queued] == [second]
    app.turns.end_turn(agent.id, first)
    started = app.turns.start_next_turn(agent.id)
    assert started is not None and started.current_turn == second
    with pytest.raises(AgentNotFound):  # another user's agent is refused as before
        app.turns.queue_and_open_turn(uuid4(), agent.id, "user", "mine now")
