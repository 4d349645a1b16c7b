"""Named domain exceptions; the HTTP layer maps each family to one status code."""


class DomainError(Exception):
    """Base class: a command was refused by a domain rule."""


class NotFound(DomainError):
    """The thing does not exist, or belongs to someone else (indistinguishable on purpose)."""


class UserNotFound(NotFound):
    pass


class AgentNotFound(NotFound):
    pass


class KeyNotFound(NotFound):
    pass


class Conflict(DomainError):
    """The command contradicts the current state (duplicate ids or names, protected records)."""


class UserAlreadyExists(Conflict):
    pass


class AgentNameTaken(Conflict):
    pass


class DefaultUserProtected(Conflict):
    pass


class DefaultPresetProtected(Conflict):
    """The shared default presets belong to every user; none may delete them."""


class PresetNotFound(NotFound):
    """The user has no preset of that name."""


class CatalogueNameTaken(Conflict):
    pass


class InvalidValue(DomainError):
    """A value is well-typed but breaks a rule (length, pattern, unknown catalogue name)."""


class InvalidAgentName(InvalidValue):
    pass


class UnknownCatalogueEntry(InvalidValue):
    pass


class CoreMemoryLimitExceeded(InvalidValue):
    pass


class CoreMemorySectionUnknown(InvalidValue):
    pass


class CoreMemoryNoMatch(InvalidValue):
    pass


class NothingToUndo(Conflict):
    """/pop, /retry, /rethink or /rewrite with nothing in context to act on."""


class TurnRefused(InvalidValue):
    pass


class NothingToStore(InvalidValue):
    pass


class AgentBusy(Conflict):
    """A change that cannot be made while the agent has a turn running or queued."""


class NotYetThere(NotFound):
    """A past position or time at which the agent did not exist yet (or one past the log's end)."""


class ForkTooLarge(InvalidValue):
    """A fork would copy more history than one event may carry."""
