"""Every event type, its typed envelope, and the envelope union of each topic, for code that
works from a topic's name (the AsyncAPI documents, generic consumers, tests)."""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from hocba_contracts.envelope import Envelope, EventPayload
from hocba_contracts.events import envelope_model
from hocba_contracts.topics import all_event_types, topic
from hocba_contracts.versioning import upcast

__all__ = ["all_event_types", "envelope_model", "envelope_union", "parse_event", "topic_envelope"]


def envelope_union(events: tuple[type[EventPayload], ...]) -> Any:
    models = tuple(envelope_model(e) for e in events)
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007


@cache
def topic_envelope(topic_name: str) -> Any:
    """The type a consumer of `topic_name` validates against (hocba_contracts.events names each
    topic's union as a type, for a subscriber's signature)."""
    return envelope_union(topic(topic_name).events)


@cache
def _adapter(topic_name: str) -> TypeAdapter[Any]:
    return TypeAdapter(topic_envelope(topic_name))


def parse_event(topic_name: str, raw: bytes | dict[str, Any]) -> Envelope[Any]:
    """Validate a message of `topic_name`, upcasting older versions first."""
    adapter = _adapter(topic_name)
    if isinstance(raw, bytes | bytearray):
        raw = json.loads(raw)
    if not isinstance(raw, dict):
        raise ValueError("an event must be a JSON object")
    result: Envelope[Any] = adapter.validate_python(upcast(raw))
    return result
