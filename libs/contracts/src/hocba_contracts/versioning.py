"""Upcasters: consumers always see the newest version of a payload.

A breaking change to a payload bumps its `version` and registers a function that turns the raw
`data` of version N into version N+1. `upcast` applies the chain before validation, so handlers
only ever see the newest shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hocba_contracts.topics import all_event_types

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UnknownEventVersion(ValueError):
    pass


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register `fn` as the step from `from_version` to `from_version + 1` of `event_type`."""

    def register(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in _UPCASTERS:
            raise ValueError(f"an upcaster for {event_type} v{from_version} exists already")
        _UPCASTERS[key] = fn
        return fn

    return register


def current_version(event_type: str) -> int | None:
    model = all_event_types().get(event_type)
    return model.version if model else None


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a raw envelope's `data` to the current version of its type."""
    event_type = raw.get("type")
    version = raw.get("version")
    if not isinstance(event_type, str) or not isinstance(version, int):
        return raw  # validation will say what is missing
    target = current_version(event_type)
    if target is None or version == target:
        return raw
    if version > target:
        raise UnknownEventVersion(
            f"{event_type} v{version} is newer than this service knows (v{target}); upgrade hocba-contracts"
        )
    if not isinstance(raw.get("data"), dict):
        return raw  # validation will say that data must be an object
    data = dict(raw["data"])
    while version < target:
        step = _UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownEventVersion(f"no upcaster from {event_type} v{version} to v{version + 1}")
        data = step(data)
        version += 1
    return {**raw, "version": version, "data": data}


# Registered upcasters live below, oldest first, one per breaking change.


@upcaster("hocba.assessment.subject_assessment_submitted", 1)
def _subject_assessment_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 named the school subject `subject`, which clashed with the envelope's subject."""
    data = dict(data)
    if "subject" in data and "subject_code" not in data:
        data["subject_code"] = data.pop("subject")
    return data


@upcaster("hocba.signing.record_signed", 1)
def _record_signed_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 admits the role `school_seal` (the school's organizational signature); v1 data is valid v2."""
    return dict(data)


@upcaster("hocba.publishing.record_published", 1)
def _record_published_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 admits the role `school_seal` in signatures; v1 data is valid v2."""
    return dict(data)


@upcaster("hocba.publishing.record_published", 2)
def _record_published_v2_v3(data: dict[str, Any]) -> dict[str, Any]:
    """v3 may leave out `pdf_sha256` (the PDF is rendered after the publication); v2 data, which
    always has it, is valid v3."""
    return dict(data)
