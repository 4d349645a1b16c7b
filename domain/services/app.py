"""The application service: each method loads aggregates, calls one command, and saves.

Writes retry on optimistic-concurrency conflicts (two requests changing one aggregate at once):
the loser re-reads and re-applies its command, so clients never see a version conflict. The
methods live in one module per concern; this class puts them together.
"""

from domain.agents import Agent
from domain.services.accounts import Accounts
from domain.services.agents import Agents, boot_messages
from domain.services.assistants import Assistants
from domain.services.base import LAST_POSITION
from domain.services.sources import Sources
from domain.services.turns import Turns

__all__ = ["LAST_POSITION", "MemGPT", "boot_messages"]


class MemGPT(Accounts, Agents, Turns, Assistants, Sources):
    name = "memgpt"
    snapshotting_intervals = {Agent: 100}  # noqa: RUF012 - the library reads a class attribute
