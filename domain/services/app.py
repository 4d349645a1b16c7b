"""The application: one event store and the command groups built on it.

Writes retry on optimistic-concurrency conflicts (two requests changing one aggregate at once):
the loser re-reads and re-applies its command, so clients never see a version conflict. Each
part of the server is handed only the group it uses: the turn runner the turn commands, the
admin routes the account commands, and so on.
"""

from dataclasses import dataclass

from domain.services.accounts import AccountCommands
from domain.services.agents import AgentCommands
from domain.services.assistants import AssistantCommands
from domain.services.base import LAST_POSITION, MemGPT
from domain.services.history import HistoryCommands
from domain.services.sources import SourceCommands
from domain.services.turns import TurnCommands

__all__ = ["LAST_POSITION", "CommandGroups", "MemGPT"]


@dataclass(frozen=True)
class CommandGroups:
    store: MemGPT
    accounts: AccountCommands
    agents: AgentCommands
    turns: TurnCommands
    assistants: AssistantCommands
    sources: SourceCommands
    history: HistoryCommands

    @classmethod
    def on(cls, store: MemGPT) -> "CommandGroups":
        return cls(
            store,
            AccountCommands(store),
            AgentCommands(store),
            TurnCommands(store),
            AssistantCommands(store),
            SourceCommands(store),
            HistoryCommands(store),
        )
