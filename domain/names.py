"""Agent names: the rule they follow, the ones generated when none is given, and their claims.

Names are unique per user (case-insensitively), as in MemGPT, where clients address agents by
name. Uniqueness is kept on the write side by an `AgentName` claim aggregate whose id is derived
from (user, name): two agents claiming one name collide on the claim's first version, so the log
itself refuses the second.
"""

import re
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import AgentNameTaken, InvalidAgentName

NAME_PATTERN = re.compile(r"^[A-Za-z0-9 _-]{1,50}$")
_NAMESPACE = UUID("6f3c1f1e-8d7a-4d51-9a53-2b7f5c0e4a11")

_ADJECTIVES = (
    "Amber",
    "Brave",
    "Calm",
    "Dapper",
    "Eager",
    "Fuzzy",
    "Gentle",
    "Happy",
    "Jolly",
    "Keen",
    "Lively",
    "Merry",
    "Nimble",
    "Plucky",
    "Quiet",
    "Rustic",
    "Sunny",
    "Tidy",
    "Witty",
    "Zesty",
)
_NOUNS = (
    "Badger",
    "Comet",
    "Falcon",
    "Gecko",
    "Heron",
    "Koala",
    "Lynx",
    "Marmot",
    "Narwhal",
    "Otter",
    "Panda",
    "Puffin",
    "Quokka",
    "Raven",
    "Sparrow",
    "Tapir",
    "Walrus",
    "Wombat",
    "Yak",
    "Zebra",
)


def check(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidAgentName("Agent names are 1-50 characters: letters, digits, spaces, '-' and '_'.")
    return name


def generated(agent_id: UUID) -> str:
    """A readable default name, derived from the agent id so replays agree with the original."""
    n = agent_id.int
    return f"{_ADJECTIVES[n % 20]}{_NOUNS[(n // 20) % 20]}{(n // 400) % 1000:03d}"


def claim_id(user_id: UUID, name: str) -> UUID:
    return uuid5(_NAMESPACE, f"{user_id}/{name.casefold()}")


class AgentName(Aggregate):
    """Who holds one (user, name) pair; released names can be claimed again."""

    TOPIC = "memgpt.AgentName"

    @event("Created", topic="memgpt.AgentName.Created")
    def __init__(self, id: UUID, agent_id: UUID) -> None:  # noqa: A002
        self.agent_id: UUID | None = agent_id

    def claim(self, agent_id: UUID, name: str) -> None:
        if self.agent_id is not None and self.agent_id != agent_id:
            raise AgentNameTaken(f"An agent named {name!r} already exists")
        self._claimed(agent_id=agent_id)

    @event("Claimed", topic="memgpt.AgentName.Claimed")
    def _claimed(self, agent_id: UUID) -> None:
        self.agent_id = agent_id

    def release(self) -> None:
        self._released()

    @event("Released", topic="memgpt.AgentName.Released")
    def _released(self) -> None:
        self.agent_id = None
