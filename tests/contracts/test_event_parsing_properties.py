"""Property-based tests of how the contracts parse what arrives on a topic: whatever the bytes, a
consumer gets a valid envelope or a validation error that names fields and never quotes values; a
valid event survives serialising and parsing unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hocba_contracts import TOPICS, parse_event
from hocba_contracts.catalog import all_event_types
from hocba_contracts.payloads.common import StudentProfile
from hocba_contracts.versioning import _UPCASTERS, UnknownEventVersion
from hocba_devstack import demo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

pytestmark = pytest.mark.unit

REFUSALS = (ValidationError, UnknownEventVersion, ValueError)
"""What a consumer may get besides an envelope; anything else would crash the subscriber."""
TOPIC_NAMES = [t.name for t in TOPICS]
EVENT_TYPES = sorted(all_event_types())
SAMPLES = demo.build(seed=7)
VALID = [json.loads(e.model_dump_json()) for e in SAMPLES.records[:40] + SAMPLES.assessments[:40]]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    sorted({k for e in VALID for k in e["data"]} | {"student", "school", "class_info"})
)
envelope_like = st.fixed_dictionaries(
    {
        "id": st.text(max_size=40) | st.integers(),
        "type": st.sampled_from(EVENT_TYPES) | st.text(max_size=20),
        "version": st.integers(min_value=-2, max_value=5) | st.text(max_size=3),
        "source": json_values,
        "time": st.sampled_from(["2024-06-01T08:00:00Z", "yesterday", ""]) | json_values,
        "subject": json_values,
        "correlation_id": json_values,
        "data": st.dictionaries(field_names, json_values, max_size=8) | json_values,
    }
)


def _parse(topic: str, raw: Any) -> Any:
    try:
        return parse_event(topic, raw)
    except REFUSALS as exc:
        return exc


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    topic=st.sampled_from(TOPIC_NAMES),
    raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()),
)
def test_any_bytes_give_an_envelope_or_a_refusal_never_a_crash(topic: str, raw: bytes) -> None:
    _parse(topic, raw)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(topic=st.sampled_from(TOPIC_NAMES), raw=envelope_like)
def test_envelope_shaped_junk_is_refused_with_field_names_not_values(
    topic: str, raw: dict[str, Any]
) -> None:
    result = _parse(topic, raw)
    if isinstance(result, ValidationError):
        for error in result.errors(include_input=False, include_url=False):
            assert "input" not in error and error["loc"] is not None


UPCAST = sorted({event_type for event_type, _ in _UPCASTERS})


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(event_type=st.sampled_from(UPCAST), data=json_values)
def test_an_old_version_with_any_data_is_upcast_and_parsed_or_refused_never_a_crash(
    event_type: str, data: Any
) -> None:
    topic = next(t.name for t in TOPICS if event_type in {e.event_type for e in t.events})
    _parse(
        topic,
        {
            "id": "e",
            "type": event_type,
            "version": 1,
            "source": "s",
            "time": "2024-06-01T08:00:00Z",
            "subject": "x",
            "correlation_id": "e",
            "data": data,
        },
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(min_value=0, max_value=len(VALID) - 1), field=field_names, value=json_values
)
def test_a_valid_event_with_one_field_changed_is_parsed_or_refused_and_what_parses_round_trips(
    index: int, field: str, value: Any
) -> None:
    raw = json.loads(json.dumps(VALID[index]))
    topic = next(t.name for t in TOPICS if raw["type"] in {e.event_type for e in t.events})
    raw["data"][field] = value
    result = _parse(topic, raw)
    if not isinstance(result, Exception):
        again = parse_event(topic, result.model_dump_json().encode())
        assert again == result


def test_every_sample_event_round_trips_through_its_topic() -> None:
    for raw in VALID:
        topic = next(t.name for t in TOPICS if raw["type"] in {e.event_type for e in t.events})
        parsed = parse_event(topic, json.dumps(raw).encode())
        assert json.loads(parsed.model_dump_json()) == json.loads(json.dumps(raw))


@given(digits=st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_a_personal_id_number_is_twelve_digits_whose_fourth_gives_century_and_sex(
    digits: str,
) -> None:
    base = StudentProfile.model_validate(VALID[2]["data"]).model_dump()
    try:
        StudentProfile.model_validate({**base, "citizen_id": digits})
        assert digits[3] in "0123"
    except ValidationError as exc:
        assert digits[3] not in "0123"
        assert digits not in str(exc.errors(include_input=False)), (
            "the refusal does not quote the number"
        )


@given(text=st.text(max_size=14))
def test_anything_but_twelve_digits_is_not_a_personal_id_number(text: str) -> None:
    base = StudentProfile.model_validate(VALID[2]["data"]).model_dump()
    if len(text) == 12 and text.isascii() and text.isdigit():
        return
    with pytest.raises(ValidationError):
        StudentProfile.model_validate({**base, "citizen_id": text})
