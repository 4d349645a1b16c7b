"""Agents: creation (with the boot sequence), renaming, core memory, archival passages over REST,
and the commands that edit the context (/pop, /retry, /rethink, /rewrite)."""

import json
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from domain import catalogue, memory, messages, names
from domain.agents import Agent
from domain.errors import NothingToStore, NothingToUndo
from domain.messages import Message, ToolCall
from domain.services.base import CommandGroup, lookup, retrying, utc_now


def boot_messages(system: str, now: datetime) -> list[Message]:
    """A new agent's context: the system message, a greeting sent through send_message (so the
    model sees how to talk), and the user's first login."""
    call = ToolCall(f"call_{uuid4().hex[:24]}", "send_message", '{"message": "Hello! I\'m here and ready to talk."}')
    return [
        Message(uuid4(), "system", system, now),
        Message(
            uuid4(),
            "assistant",
            "Boot sequence finished, persona loaded. Checking that messaging works.",
            now,
            tool_call=call,
        ),
        Message(
            uuid4(),
            "function",
            messages.function_result("OK", "None", now),
            now,
            name="send_message",
            tool_call_id=call.id,
        ),
        Message(uuid4(), "user", messages.login_text(now), now),
    ]


class AgentCommands(CommandGroup):
    @retrying
    def create_agent(
        self,
        user_id: UUID,
        name: str | None,
        preset: str,
        persona: str,
        human: str,
        llm_config: dict[str, Any],
        embedding_config: dict[str, Any],
    ) -> Agent:
        owner = self._user(user_id)
        presets = {
            **catalogue.PRESETS,
            **{n: catalogue.Preset(n, p["system"], tuple(p["functions"])) for n, p in owner.presets.items()},
        }
        chosen = lookup(presets, preset, "preset")
        agent_id = uuid4()
        name = names.check(name) if name is not None else names.generated(agent_id)
        agent = Agent(
            id=agent_id,
            user_id=user_id,
            name=name,
            preset=preset,
            persona_name=persona,
            human_name=human,
            system=chosen.system,
            functions=list(chosen.functions),
            core_memory=memory.initial(
                lookup({**catalogue.PERSONAS, **owner.personas}, persona, "persona"),
                lookup({**catalogue.HUMANS, **owner.humans}, human, "human"),
            ),
            llm_config=llm_config,
            embedding_config=embedding_config,
            messages=boot_messages(chosen.system, utc_now()),
        )
        owner.owns("agent", agent_id)  # conflicts with a racing deletion of the user (`User.owns`)
        self.save(agent, self._claim(user_id, agent_id, name), owner)
        return agent

    @retrying
    def rename_agent(self, user_id: UUID, agent_id: UUID, name: str) -> Agent:
        agent = self._agent(user_id, agent_id)
        names.check(name)
        if name == agent.name:
            return agent
        changed = [self._claim(user_id, agent_id, name)]
        if names.claim_id(user_id, name) != names.claim_id(user_id, agent.name):
            changed.append(self._release(user_id, agent.name))
        agent.rename(name)
        self.save(agent, *changed)
        return agent

    @retrying
    def edit_core_memory(
        self, user_id: UUID, agent_id: UUID, persona: str | None, human: str | None
    ) -> tuple[dict[str, str], dict[str, str]]:
        agent = self._agent(user_id, agent_id)
        old = dict(agent.core_memory)
        agent.edit_core_memory(persona, human)
        self.save(agent)
        return old, dict(agent.core_memory)

    @retrying
    def delete_agent(self, user_id: UUID, agent_id: UUID) -> None:
        agent = self._agent(user_id, agent_id)
        agent.delete()
        self.save(agent, self._release(user_id, agent.name))

    @retrying
    def insert_passages(self, user_id: UUID, agent_id: UUID, texts: list[str]) -> list[UUID]:
        agent = self._agent(user_id, agent_id)
        passages = [{"id": uuid4(), "text": text} for text in texts if text.strip()]
        if not passages:
            raise NothingToStore("There is nothing to store: the content is empty.")
        agent.insert_passages(passages)
        self.save(agent)
        return [p["id"] for p in passages]

    @retrying
    def delete_passage(self, user_id: UUID, agent_id: UUID, passage_id: UUID) -> None:
        agent = self._agent(user_id, agent_id)
        agent.delete_passage(passage_id)
        self.save(agent)

    @retrying
    def pop_messages(self, user_id: UUID, agent_id: UUID, count: int) -> int:
        agent = self._agent(user_id, agent_id)
        before = len(agent.messages)
        agent.pop(count)
        self.save(agent)
        return before - len(agent.messages)

    @retrying
    def retry_last(self, user_id: UUID, agent_id: UUID) -> UUID:
        """Take back the last user message and everything after it, then ask again."""
        agent = self._agent(user_id, agent_id)
        last = agent.last("user")
        ids = agent.message_ids
        agent.pop(len(ids) - ids.index(last.id))
        turn_id = uuid4()
        agent.queue_turn(turn_id, "user", messages.plain_text(last))
        self.save(agent)
        return turn_id

    @retrying
    def rethink(self, user_id: UUID, agent_id: UUID, text: str) -> None:
        """Replace the inner thoughts of the last assistant message."""
        agent = self._agent(user_id, agent_id)
        last = agent.last("assistant")
        agent.rewrite_message(replace(last, text=text))
        self.save(agent)

    @retrying
    def rewrite(self, user_id: UUID, agent_id: UUID, text: str) -> None:
        """Replace what the last send_message said."""
        agent = self._agent(user_id, agent_id)
        for m in reversed(agent.messages):
            if m.role == "assistant" and m.tool_call and m.tool_call.name == "send_message":
                call = replace(m.tool_call, arguments=json.dumps({"message": text}, ensure_ascii=False))
                agent.rewrite_message(replace(m, tool_call=call))
                self.save(agent)
                return
        raise NothingToUndo("There is no sent message in context to rewrite.")
