"""Users, their API keys, and their own humans, personas and presets."""

from typing import Any
from uuid import UUID, uuid4

from domain import keys
from domain.agents import Agent
from domain.errors import DefaultUserProtected, UserAlreadyExists
from domain.services.base import CommandGroup, retrying
from domain.users import User


class AccountCommands(CommandGroup):
    @retrying
    def ensure_user(self, user_id: UUID) -> None:
        """Create the user if the log has never seen it (the default user at start-up)."""
        if not self._exists(user_id):
            self.save(User(id=user_id))

    @staticmethod
    def _issue(user: User, name: str | None) -> str:
        key = keys.new_key()
        user.issue_key(uuid4(), keys.digest(key), keys.mask(key), name)
        return key

    @retrying
    def create_user(self, user_id: UUID | None, key_name: str | None) -> tuple[UUID, str]:
        if user_id is not None and self._exists(user_id):
            raise UserAlreadyExists(f"User {user_id} already exists")
        user = User(id=user_id or uuid4())
        key = self._issue(user, key_name)
        self.save(user)
        return user.id, key

    @retrying
    def issue_key(self, user_id: UUID, name: str | None) -> str:
        user = self._user(user_id)
        key = self._issue(user, name)
        self.save(user)
        return key

    @retrying
    def revoke_key(self, user_id: UUID, key_id: UUID) -> None:
        user = self._user(user_id)
        user.revoke_key(key_id)
        self.save(user)

    def delete_user(self, user_id: UUID, default_user_id: UUID) -> None:
        """Delete the user with everything they own. Their agents, sources, assistants and threads
        are deleted in the same atomic save as the user, `User.Deleted` last: a turn step, an
        upload or a creation racing the deletion either lands before it or conflicts with it and
        then finds its aggregate deleted, so nothing of the user is committed after `Deleted`."""
        if user_id == default_user_id:
            raise DefaultUserProtected("The default user cannot be deleted")
        self._begin_deletion(user_id)
        self._finish_deletion(user_id)

    @retrying
    def _begin_deletion(self, user_id: UUID) -> None:
        user = self._user(user_id)
        if not user.closing:  # else a deletion that stopped half-way is being finished
            user.begin_deletion()
            self.save(user)

    @retrying
    def _finish_deletion(self, user_id: UUID) -> None:
        user = self._user(user_id)
        gone: list[Any] = []
        for item in map(self._owned_or_none, user.owned):
            if item is None or item.deleted:
                continue
            item.delete()
            gone.append(item)
            if isinstance(item, Agent):
                gone.append(self._release(user_id, item.name))
        user.delete()
        self.save(*gone, user)

    @retrying
    def save_text(self, user_id: UUID, kind: str, name: str, text: str) -> None:
        """Store a human or persona text under a name, for this user's new agents."""
        user = self._user(user_id)
        user.save_text(kind, name, text)
        self.save(user)

    @retrying
    def save_preset(self, user_id: UUID, name: str, system: str, functions: list[str]) -> None:
        user = self._user(user_id)
        user.save_preset(name, system, functions)
        self.save(user)

    @retrying
    def delete_preset(self, user_id: UUID, name: str) -> None:
        user = self._user(user_id)
        user.delete_preset(name)
        self.save(user)
