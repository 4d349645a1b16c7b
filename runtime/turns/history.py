"""A turn as the model saw it: every request of the turn rebuilt from the log, as its adapter lays
it out, beside what came back (`domain.turn_history` does the rebuilding, without I/O).

The turn's events are read from the event store between the versions the turns view keeps for
it, and the agent is loaded at the version each request was built from (snapshots keep that
cheap on long-lived agents). The adapter is the one the agent's configuration names at that
version; its `body` is the same function its requests are made with.
"""

import asyncio
from typing import Any, NamedTuple
from uuid import UUID

from domain import prompt, turn_history
from domain.agents import Agent
from domain.configs import LLMConfig
from domain.services.base import MemGPT
from projections.views import Views
from runtime.adapters.llm import LLMUnavailable, ModelSource, chat_body

EMBEDDED, OPENAI = "embedded", "openai"


class Read(NamedTuple):
    opening: dict[str, str]  # {"role", "text"} of the TurnQueued
    requests: list[dict[str, Any]]
    unanswered: dict[str, Any] | None


class TurnHistory:
    def __init__(self, store: MemGPT, views: Views, models: ModelSource | None) -> None:
        self._store = store
        self._views = views
        self._models = models

    async def read(self, row: dict[str, Any]) -> Read:
        """The turn of `row` (its turns-view row): the message it was queued with, its model
        calls in the order they were sent, and a failed turn's last request that got no answer."""
        agent_id = row["agent_id"]
        positions = await self._views.positions(agent_id, row["queued_version"], row["ended_version"])
        opening, (calls, unanswered) = await asyncio.to_thread(self._calls, row, positions)
        pending = self._unanswered(unanswered) if unanswered is not None else None
        return Read(opening, [self._entry(call) for call in calls], pending)

    def _calls(self, row: dict[str, Any], positions: dict[int, int]) -> tuple[dict[str, str], turn_history.TurnCalls]:
        agent_id: UUID = row["agent_id"]
        version = row["queued_version"]
        queued = next(iter(self._store.events.get(agent_id, gt=version - 1, lte=version)))
        opening = {"role": queued.role, "text": queued.text}
        if row["started_version"] is None:
            return opening, turn_history.TurnCalls([], None)
        events = self._store.events.get(agent_id, gt=row["started_version"] - 1, lte=row["ended_version"])
        loaded: dict[int, Agent] = {}

        def agent_at(v: int) -> Agent:
            if v not in loaded:
                loaded[v] = self._store.repository.get(agent_id, version=v)
            return loaded[v]

        numbered = ((positions.get(e.originator_version), e) for e in events)
        return opening, turn_history.model_calls(row["id"], numbered, agent_at)

    def _body(self, call: turn_history.ModelCall) -> tuple[str, dict[str, Any] | None]:
        """The request body as the agent's adapter builds it; None when no adapter can be had now
        (a provider since removed): the OpenAI layout without a model name then stands in."""
        layout = EMBEDDED if LLMConfig.from_dict(call.llm_config).embedded else OPENAI
        if self._models is None:
            return layout, None
        try:
            model = self._models.for_agent(call.llm_config)
        except LLMUnavailable:
            return layout, None
        return layout, model.body(call.messages, call.tools)

    def _unanswered(self, agent: Agent) -> dict[str, Any] | None:
        """The request a failed turn sent (or was sending) from `agent`, as the runner decides it
        (`TurnRunner._fit`): a summary while the prompt overflows the window, else a step. None
        when no request could have been made: no adapter for the agent's model, or a prompt that
        overflows with nothing left to summarise."""
        if self._models is None:
            return None
        try:
            model = self._models.for_agent(agent.llm_config)
        except LLMUnavailable:
            return None
        kind, messages, tools = turn_history.COMPLETE, prompt.chat_messages(agent), prompt.tools(agent)
        if model.count_tokens(messages, tools) > LLMConfig.from_dict(agent.llm_config).window:
            hidden = prompt.summarisable(agent.messages)
            if not hidden:
                return None
            kind, messages, tools = turn_history.SUMMARIZE, prompt.summary_request(hidden), None
        body = model.body(messages, tools)
        return {
            "kind": kind,
            "layout": EMBEDDED if LLMConfig.from_dict(agent.llm_config).embedded else OPENAI,
            "model": body.get("model") or agent.llm_config.get("model"),
            "messages": body["messages"],
            "tools": body.get("tools"),
            "params": {k: v for k, v in body.items() if k not in ("messages", "tools")},
            "prompt_version": agent.version,
        }

    def _entry(self, call: turn_history.ModelCall) -> dict[str, Any]:
        layout, body = self._body(call)
        known = body is not None
        body = body if body is not None else chat_body(None, call.messages, call.tools)
        params = {k: v for k, v in body.items() if k not in ("messages", "tools")}
        return {
            "kind": call.kind,
            "layout": layout,
            "model": body.get("model") or call.llm_config.get("model"),
            "exact": known,
            "messages": body["messages"],
            "tools": body.get("tools"),
            "params": params,
            "prompt_version": call.version,
            "position": call.position,
            "answered_at": call.answered_at.isoformat(),
            "new_messages": call.new_messages,
            "reply": call.reply,
            "function": call.function,
            "usage": call.usage,
            "timing": call.timing,
        }
