"""The OpenAI-Assistants-compatible surface: assistants, threads, and runs on agents."""

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from domain import catalogue, memory, names
from domain.agents import Agent
from domain.assistants import Assistant, AssistantNotFound, Thread, ThreadNotFound
from domain.services.agents import boot_messages
from domain.services.base import CommandGroup, retrying, utc_now


class AssistantCommands(CommandGroup):
    def _owned(self, cls: type[Any], aggregate_id: UUID, user_id: UUID) -> Any:
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            found = None
        if not isinstance(found, cls):
            raise (AssistantNotFound if cls is Assistant else ThreadNotFound)(
                f"No {cls.__name__.lower()} found with id {aggregate_id}"
            )
        found.check_owner(user_id)
        return found

    @retrying
    def create_assistant(
        self,
        user_id: UUID,
        name: str,
        model: str,
        instructions: str,
        description: str | None,
        tools: list[str],
        metadata: dict[str, Any],
    ) -> Assistant:
        owner = self._user(user_id)
        assistant = Assistant(user_id, name, model, instructions, description, tools, metadata)
        owner.owns("assistant", assistant.id)  # conflicts with a racing deletion of the user (`User.owns`)
        self.save(assistant, owner)
        return assistant

    @retrying
    def delete_assistant(self, user_id: UUID, assistant_id: UUID) -> None:
        assistant = self._owned(Assistant, assistant_id, user_id)
        assistant.delete()
        self.save(assistant)

    @retrying
    def create_thread(self, user_id: UUID, messages: list[str], metadata: dict[str, Any]) -> Thread:
        owner = self._user(user_id)
        thread = Thread(user_id, metadata)
        for content in messages:
            thread.add_message(uuid4(), "user", content, {})
        owner.owns("thread", thread.id)  # conflicts with a racing deletion of the user (`User.owns`)
        self.save(thread, owner)
        return thread

    @retrying
    def add_thread_message(
        self, user_id: UUID, thread_id: UUID, role: str, content: str, metadata: dict[str, Any]
    ) -> UUID:
        thread = self._owned(Thread, thread_id, user_id)
        message_id = uuid4()
        thread.add_message(message_id, role, content, metadata)
        self.save(thread)
        return message_id

    @retrying
    def delete_thread(self, user_id: UUID, thread_id: UUID) -> None:
        thread = self._owned(Thread, thread_id, user_id)
        thread.delete()
        self.save(thread)

    @retrying
    def start_run(
        self,
        user_id: UUID,
        thread_id: UUID,
        assistant_id: UUID,
        instructions: str | None,
        llm_config: dict[str, Any],
        embedding_config: dict[str, Any],
    ) -> UUID:
        """One turn of the thread's agent on the waiting messages; the first run makes the agent
        from the assistant (its instructions become the agent's persona)."""
        thread = self._owned(Thread, thread_id, user_id)
        assistant = self._owned(Assistant, assistant_id, user_id)
        changed: list[Any] = [thread]
        if thread.agent_id is None:
            agent_id = uuid4()
            preset = catalogue.PRESETS[catalogue.DEFAULT_PRESET]
            agent = Agent(
                id=agent_id,
                user_id=user_id,
                name=names.generated(agent_id),
                preset=preset.name,
                persona_name=f"assistant:{assistant.id}",
                human_name=catalogue.DEFAULT_HUMAN,
                system=preset.system,
                functions=list(preset.functions),
                core_memory=memory.initial(
                    assistant.instructions[: memory.SECTION_LIMIT], catalogue.HUMANS[catalogue.DEFAULT_HUMAN]
                ),
                llm_config={**llm_config, "model": assistant.model or llm_config.get("model")},
                embedding_config=embedding_config,
                messages=boot_messages(preset.system, utc_now()),
            )
            owner = self._user(user_id)
            owner.owns("agent", agent_id)  # conflicts with a racing deletion of the user (`User.owns`)
            changed += [agent, self._claim(user_id, agent_id, agent.name), owner]
        else:
            agent = self._agent(user_id, thread.agent_id)
            changed.append(agent)
        run_id, turn_id = uuid4(), uuid4()
        text = thread.start_run(run_id, assistant.id, agent.id, turn_id, instructions)
        agent.queue_turn(turn_id, "user", text)
        self.save(*changed)
        return run_id
