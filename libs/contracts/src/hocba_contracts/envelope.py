"""The one envelope every Hocba event travels in (CloudEvents field names), and the base of every
payload. The typed envelope of each event type, and `make_envelope`, are in hocba_contracts.events.

`subject` is the aggregate id and the Kafka key, so one aggregate's events stay in order.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class EventPayload(BaseModel):
    """Base of every event's `data`. Subclasses set `event_type` and `version`.

    Adding an optional field needs no version bump; anything that would break a consumer
    (removing or renaming a field, making one required, changing a type) bumps `version` and
    ships an upcaster in `hocba_contracts.versioning`.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1

    def subject(self) -> str:
        """The aggregate id this event belongs to; also the Kafka key."""
        raise NotImplementedError(f"{type(self).__name__} must say which aggregate it belongs to")


P = TypeVar("P", bound=EventPayload)


class Envelope(BaseModel, Generic[P]):
    """CloudEvents-shaped envelope."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Unique event id; consumers use it to drop redeliveries.")
    type: str = Field(description="Event type, e.g. hocba.records.student_registered.")
    version: int = Field(ge=1, description="Version of the payload schema.")
    source: str = Field(description="Who emitted it: a Hocba service or a school system's id.")
    time: datetime
    subject: str = Field(min_length=1, description="Aggregate id; also the Kafka key.")
    correlation_id: str = Field(description="Shared by every event caused by one request.")
    causation_id: str | None = Field(default=None, description="Id of the event that caused it.")
    data: P


def new_event_id() -> str:
    return str(uuid.uuid4())
