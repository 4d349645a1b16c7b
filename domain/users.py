"""The User aggregate: a tenant and the API keys that act as it."""

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import KeyNotFound, UserNotFound


@dataclass(frozen=True)
class IssuedKey:
    key_id: UUID
    digest: str
    masked: str
    name: str | None


class User(Aggregate):
    TOPIC = "memgpt.User"

    @event("Created", topic="memgpt.User.Created")
    def __init__(self, id: UUID) -> None:  # noqa: A002 - the library's name for a chosen id
        self.keys: dict[UUID, IssuedKey] = {}
        self.deleted = False

    def _check_active(self) -> None:
        if self.deleted:
            raise UserNotFound(f"User {self.id} not found")

    def issue_key(self, key_id: UUID, digest: str, masked: str, name: str | None) -> None:
        self._check_active()
        self._key_issued(key_id=key_id, digest=digest, masked=masked, name=name)

    @event("KeyIssued", topic="memgpt.User.KeyIssued")
    def _key_issued(self, key_id: UUID, digest: str, masked: str, name: str | None) -> None:
        self.keys[key_id] = IssuedKey(key_id, digest, masked, name)

    def revoke_key(self, key_id: UUID) -> None:
        self._check_active()
        if key_id not in self.keys:
            raise KeyNotFound("API key not found")
        self._key_revoked(key_id=key_id)

    @event("KeyRevoked", topic="memgpt.User.KeyRevoked")
    def _key_revoked(self, key_id: UUID) -> None:
        del self.keys[key_id]

    def delete(self) -> None:
        self._check_active()
        self._deleted()

    @event("Deleted", topic="memgpt.User.Deleted")
    def _deleted(self) -> None:
        self.deleted = True
        self.keys.clear()
