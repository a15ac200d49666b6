"""Every event type, its typed envelope, and the envelope union of each topic."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, create_model

from hocba_contracts.envelope import Envelope, EventPayload


def all_event_types() -> dict[str, type[EventPayload]]:
    from hocba_contracts.topics import TOPICS

    return {event.event_type: event for spec in TOPICS for event in spec.events}


@cache
def envelope_model(payload: type[EventPayload]) -> type[Envelope[Any]]:
    """`Envelope[payload]` with `type` fixed to the payload's event type (a discriminator)."""
    model: type[Envelope[Any]] = create_model(  # type: ignore[call-overload]
        f"{payload.__name__}Event",
        __base__=Envelope[payload],  # type: ignore[valid-type]
        __doc__=payload.__doc__,
        type=(Literal[payload.event_type], Field(description="Event type")),  # type: ignore[valid-type]
    )
    return model


def envelope_union(events: tuple[type[EventPayload], ...]) -> Any:
    models = tuple(envelope_model(e) for e in events)
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007


@cache
def topic_envelope(topic_name: str) -> Any:
    """The type a consumer of `topic_name` validates against."""
    from hocba_contracts.topics import topic

    return envelope_union(topic(topic_name).events)


@cache
def _adapter(topic_name: str) -> TypeAdapter[Any]:
    return TypeAdapter(topic_envelope(topic_name))


def parse_event(topic_name: str, raw: bytes | dict[str, Any]) -> Envelope[Any]:
    """Validate a message of `topic_name`, upcasting older versions first."""
    from hocba_contracts.versioning import upcast

    adapter = _adapter(topic_name)
    if isinstance(raw, bytes | bytearray):
        import json

        raw = json.loads(raw)
    if not isinstance(raw, dict):
        raise ValueError("an event must be a JSON object")
    result: Envelope[Any] = adapter.validate_python(upcast(raw))
    return result
