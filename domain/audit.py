"""Who caused an event: every stored event carries the user and request behind it.

The HTTP layer sets `CAUSE` for each request; `AuditedMapper` stamps it into each event's stored
state as `caused_by` when the event is written. Keeping this in the mapper keeps transport details
out of every command signature, and replay ignores the extra field.
"""

from contextvars import ContextVar
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent

CAUSE: ContextVar[dict[str, str] | None] = ContextVar("CAUSE", default=None)


class AuditedMapper(Mapper[UUID]):
    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        cause = CAUSE.get()
        state = vars(domain_event)
        if cause is not None and "caused_by" not in state:
            state["caused_by"] = dict(cause)  # frozen dataclass: only its __dict__ can take it
        return super().to_stored_event(domain_event)
