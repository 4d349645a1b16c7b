"""The User aggregate: a tenant and the API keys that act as it."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import catalogue
from domain.errors import (
    CatalogueNameTaken,
    DefaultPresetProtected,
    KeyNotFound,
    PresetNotFound,
    UnknownCatalogueEntry,
    UserNotFound,
)
from domain.functions import SCHEMAS


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
        self.humans: dict[str, str] = {}
        self.personas: dict[str, str] = {}
        self.presets: dict[str, dict[str, Any]] = {}  # name -> {"system", "functions"}
        self.owned: dict[UUID, str] = {}  # what the user created (agents, sources, ...): id -> kind
        self.closing = False  # being deleted: takes nothing new
        self.deleted = False

    def _check_active(self) -> None:
        if self.deleted or self.closing:
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

    # the user's own humans, personas and presets (the shared defaults live in domain.catalogue)

    def save_text(self, kind: str, name: str, text: str) -> None:
        self._check_active()
        if name in (catalogue.HUMANS if kind == "human" else catalogue.PERSONAS):
            raise CatalogueNameTaken(f"{name!r} is a shared default {kind}; choose another name.")
        self._text_saved(kind=kind, name=name, text=text)

    @event("TextSaved", topic="memgpt.User.TextSaved")
    def _text_saved(self, kind: str, name: str, text: str) -> None:
        (self.humans if kind == "human" else self.personas)[name] = text

    def save_preset(self, name: str, system: str, functions: list[str]) -> None:
        self._check_active()
        if name in catalogue.PRESETS:
            raise CatalogueNameTaken(f"{name!r} is a shared default preset; choose another name.")
        unknown = [f for f in functions if f not in SCHEMAS]
        if unknown or not functions:
            raise UnknownCatalogueEntry(f"Unknown functions: {', '.join(unknown) or '(none given)'}")
        self._preset_saved(name=name, system=system, functions=functions)

    @event("PresetSaved", topic="memgpt.User.PresetSaved")
    def _preset_saved(self, name: str, system: str, functions: list[str]) -> None:
        self.presets[name] = {"system": system, "functions": list(functions)}

    def delete_preset(self, name: str) -> None:
        self._check_active()
        if name in catalogue.PRESETS:
            raise DefaultPresetProtected("The shared default presets cannot be deleted.")
        if name not in self.presets:
            raise PresetNotFound(f"No preset of yours is named {name!r}")
        self._preset_deleted(name=name)

    @event("PresetDeleted", topic="memgpt.User.PresetDeleted")
    def _preset_deleted(self, name: str) -> None:
        del self.presets[name]

    def owns(self, kind: str, item_id: UUID) -> None:
        """Record a new agent or source of this user, saved in the same atomic save as the item:
        the user's version then moves with every creation, so a creation racing the user's
        deletion conflicts with it (optimistic concurrency) instead of landing after `Deleted`."""
        self._check_active()
        self._owned(kind, item_id)

    @event("Owned", topic="memgpt.User.Owned")
    def _owned(self, kind: str, item_id: UUID) -> None:
        self.owned[item_id] = kind

    def begin_deletion(self) -> None:
        """The first of deletion's two saves, a small one: it wins against creations racing it
        (each moves this user's version), and from then on the user takes nothing new, so the
        second save (`delete`, with everything the user owns) cannot be starved by them."""
        self._check_active()
        self._deletion_begun()

    @event("DeletionBegun", topic="memgpt.User.DeletionBegun")
    def _deletion_begun(self) -> None:
        self.closing = True

    def delete(self) -> None:
        if self.deleted:
            raise UserNotFound(f"User {self.id} not found")
        self._deleted()

    @event("Deleted", topic="memgpt.User.Deleted")
    def _deleted(self) -> None:
        self.deleted = True
        self.keys.clear()
