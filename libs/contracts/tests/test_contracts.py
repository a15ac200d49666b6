"""The contracts guard consumers: snapshots, compatibility, upcasting, the topic registry."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hocba_contracts import TOPICS, make_envelope, parse_event
from hocba_contracts.catalog import all_event_types
from hocba_contracts.events import RecordRevokedEvent
from hocba_contracts.payloads import assessment, records
from hocba_contracts.payloads.common import StudentProfile
from hocba_contracts.payloads.publishing import REVOCATION_REASON_MAX_LENGTH, RecordRevoked
from hocba_contracts.schemas import (
    SNAPSHOT_DIR,
    breaking_changes,
    payload_schema,
    render,
    snapshot_path,
)
from hocba_contracts.versioning import _UPCASTERS, UnknownEventVersion, upcast
from pydantic import ValidationError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("event_type", sorted(all_event_types()))
def test_no_payload_changes_incompatibly_without_a_version_bump(event_type: str) -> None:
    model = all_event_types()[event_type]
    path = snapshot_path(event_type, model.version)
    assert path.exists(), (
        f"{event_type} v{model.version} has no committed schema snapshot; run `make schemas` "
        "(a new version also needs an upcaster from the previous one)"
    )
    old = json.loads(path.read_text(encoding="utf-8"))
    problems = breaking_changes(old, payload_schema(model))
    assert not problems, (
        f"{event_type} changed incompatibly without a version bump: {problems}. Bump its version, "
        "register an upcaster in hocba_contracts.versioning and run `make schemas`."
    )


@pytest.mark.parametrize("event_type", sorted(all_event_types()))
def test_snapshots_are_current(event_type: str) -> None:
    model = all_event_types()[event_type]
    path = snapshot_path(event_type, model.version)
    assert path.read_text(encoding="utf-8") == render(payload_schema(model)), (
        f"the snapshot of {event_type} v{model.version} is stale; run `make schemas` and commit it"
    )


def test_every_older_version_has_an_upcaster_chain() -> None:
    for snapshot in SNAPSHOT_DIR.glob("*.json"):
        event_type, _, version = snapshot.stem.rpartition(".v")
        current = all_event_types()[event_type].version
        for v in range(int(version), current):
            assert (event_type, v) in _UPCASTERS, f"{event_type}: no upcaster from v{v}"


def test_the_compatibility_check_catches_what_breaks_a_consumer() -> None:
    base: dict[str, Any] = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["a"],
    }
    assert breaking_changes(base, base) == []
    added_optional = {**base, "properties": {**base["properties"], "c": {"type": "string"}}}
    assert breaking_changes(base, added_optional) == []
    removed = {**base, "properties": {"a": {"type": "string"}}}
    assert any("field removed" in p for p in breaking_changes(base, removed))
    retyped = {**base, "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
    assert breaking_changes(base, retyped)
    now_required = {**base, "required": ["a", "b"]}
    assert any("now required" in p for p in breaking_changes(base, now_required))
    new_required = {**added_optional, "required": ["a", "c"]}
    assert any("new required field" in p for p in breaking_changes(base, new_required))


def test_a_v1_assessment_is_upcast_to_the_current_shape() -> None:
    v1 = {
        "id": "e1",
        "type": assessment.SubjectAssessmentSubmitted.event_type,
        "version": 1,
        "source": "vnedu",
        "time": "2025-05-20T08:00:00Z",
        "subject": "C1",
        "correlation_id": "e1",
        "data": {
            "class_id": "C1",
            "school_year": "2024-2025",
            "student_id": "S1",
            "subject": "toan",
            "period": "end_of_year",
            "rating": "T",
            "score": 9,
        },
    }
    event = parse_event("hocba.assessment.ingest", json.dumps(v1).encode())
    assert event.version == assessment.SubjectAssessmentSubmitted.version == 2
    assert event.data.subject_code == "toan"


def test_a_version_newer_than_known_is_refused_with_a_clear_error() -> None:
    raw = {"type": records.SchoolRegistered.event_type, "version": 99, "data": {}}
    with pytest.raises(UnknownEventVersion, match="upgrade hocba-contracts"):
        upcast(raw)


def test_envelope_subject_is_the_payloads_aggregate_and_round_trips() -> None:
    st = StudentProfile(
        student_id="HS1",
        citizen_id="079218000123",
        full_name="Lê Thị Mỹ Duyên",
        date_of_birth=date(2018, 1, 2),
        sex="female",
        place_of_birth="TP.HCM",
    )
    env = make_envelope(records.StudentRegistered(**st.model_dump()), source="hocba/records")
    assert env.subject == "HS1" and env.correlation_id == env.id
    back = parse_event("hocba.records.events", env.model_dump_json().encode())
    assert back == env


def test_invalid_personal_id_is_refused_saying_what_is_expected() -> None:
    with pytest.raises(ValidationError) as err:
        StudentProfile(
            student_id="HS1",
            citizen_id="07921800012",
            full_name="A",
            date_of_birth=date(2018, 1, 2),
            sex="male",
            place_of_birth="X",
        )
    assert "12 digits" in str(err.value)


def test_every_topic_has_an_owner_a_key_and_a_dead_letter_topic() -> None:
    names = [t.name for t in TOPICS]
    assert len(names) == len(set(names))
    owners = {"records", "assessment", "signing", "publishing", "lookup"}
    for spec in TOPICS:
        assert spec.owner in owners and spec.key and spec.events
        assert spec.dead_letter == spec.name + ".dlt"
        assert spec.name.startswith(f"hocba.{spec.owner}.")
    types = [e.event_type for t in TOPICS for e in t.events]
    assert len(types) == len(set(types)), "an event type travels on exactly one topic"


def test_changes_inside_lists_of_objects_are_judged_field_by_field() -> None:
    from hocba_contracts.schemas import breaking_changes

    def schema(**props: dict[str, object]) -> dict[str, object]:
        item = {"type": "object", "properties": props, "required": ["role"]}
        return {"type": "object", "properties": {"signatures": {"type": "array", "items": item}}}

    old = schema(role={"type": "string"})
    assert breaking_changes(old, schema(role={"type": "string"}, batch={"type": "object"})) == []
    assert breaking_changes(old, schema(other={"type": "string"})) == [
        "data.signatures[].role: field removed"
    ]
    assert breaking_changes(old, schema(role={"type": "integer"})) == [
        "data.signatures[].role: type or constraints changed"
    ]


def _revoked(**change: Any) -> RecordRevoked:
    fields: dict[str, Any] = {
        "document_id": "HB-2024-ABCD-EFGH-JKMN",
        "record_id": "HS1.2024-2025",
        "record_version": 1,
        "student_id": "HS1",
        "revoked_by": "079-TH-P-HT",
        "reason": "Cấp nhầm học bạ của học sinh khác",
        "revoked_at": datetime(2025, 6, 2, 9, 0, tzinfo=UTC),
    }
    return RecordRevoked(**(fields | change))


def test_a_revocation_travels_on_the_publishing_topic_keyed_by_the_student_like_a_publication() -> (
    None
):
    env = make_envelope(_revoked(), source="hocba/publishing")
    assert env.subject == "HS1" and env.type == "hocba.publishing.record_revoked"
    back = parse_event("hocba.publishing.events", env.model_dump_json().encode())
    assert isinstance(back, RecordRevokedEvent) and back == env
    spec = next(t for t in TOPICS if t.name == "hocba.publishing.events")
    assert RecordRevoked in spec.events and spec.key == "student_id"


@pytest.mark.parametrize(
    "reason",
    ["", "   \n\t", "x" * (REVOCATION_REASON_MAX_LENGTH + 1)],
    ids=["empty", "blank", "long"],
)
def test_a_revocation_without_a_reason_or_with_an_overlong_one_is_refused(reason: str) -> None:
    with pytest.raises(ValidationError) as err:
        _revoked(reason=reason)
    assert err.value.errors()[0]["loc"] == ("reason",)
    assert _revoked(reason="x" * REVOCATION_REASON_MAX_LENGTH).reason.startswith("x")


def _year_record(**change: Any) -> dict[str, Any]:
    """A closed year record as a producer sends it (JSON), before this package knew corrections."""
    principal = {"staff_id": "079-TH-P-HT", "full_name": "Phan Thị Kim Oanh"}
    fields: dict[str, Any] = {
        "record_id": "HS1.2024-2025",
        "record_version": 1,
        "school_year": "2024-2025",
        "student": {
            "student_id": "HS1",
            "citizen_id": "079218000123",
            "full_name": "Lê Thị Mỹ Duyên",
            "date_of_birth": "2018-01-02",
            "sex": "female",
            "place_of_birth": "TP.HCM",
        },
        "school": {
            "school_id": "079-TH-P",
            "name": "Trường Tiểu học Phú Lâm",
            "level": "primary",
            "province_code": "079",
            "province_name": "Thành phố Hồ Chí Minh",
            "district": "Quận 6",
            "principal": principal,
        },
        "class_info": {
            "class_id": "079-TH-P-1A",
            "school_id": "079-TH-P",
            "school_year": "2024-2025",
            "grade": 1,
            "name": "1A",
            "homeroom_teacher": {"staff_id": "GV-1A", "full_name": "Vũ Đức Thắng"},
        },
        "subjects": [{"subject_code": "TOAN", "subject_name": "Toán", "rating": "H", "score": 6}],
        "result": {
            "level": "hoan_thanh",
            "level_label": "Hoàn thành",
            "completed_programme": True,
            "rules": "TT27/2020",
        },
        "closed_at": "2025-06-10T08:00:00Z",
    }
    return fields | change


UNLOCKED = {
    "kind": "unlock",
    "reason": "Sai điểm Toán cuối năm",
    "approved_by": "079-TH-P-QT",
    "at": "2025-06-12T09:30:00Z",
}


def _year_record_event(data: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": "e-record",
            "type": assessment.YearRecordClosed.event_type,
            "version": assessment.YearRecordClosed.version,
            "source": "hocba/assessment",
            "time": "2025-06-12T09:31:00Z",
            "subject": "HS1",
            "correlation_id": "e-record",
            "data": data,
        }
    ).encode()


def test_a_year_record_sent_before_corrections_existed_still_parses_and_corrects_nothing() -> None:
    event = parse_event("hocba.assessment.events", _year_record_event(_year_record()))
    assert isinstance(event.data, assessment.YearRecordClosed)
    assert event.version == 1 and event.data.correction is None


def test_a_later_version_carries_its_correction_through_the_topic_unchanged() -> None:
    raw = _year_record_event(_year_record(record_version=2, correction=UNLOCKED))
    event = parse_event("hocba.assessment.events", raw)
    correction = event.data.correction
    assert isinstance(correction, assessment.RecordCorrection)
    assert (correction.kind, correction.reason, correction.approved_by, correction.at) == (
        "unlock",
        "Sai điểm Toán cuối năm",
        "079-TH-P-QT",
        datetime(2025, 6, 12, 9, 30, tzinfo=UTC),
    )
    assert parse_event("hocba.assessment.events", event.model_dump_json().encode()) == event


def test_version_one_supersedes_nothing_so_it_carries_no_correction() -> None:
    with pytest.raises(ValidationError, match="version 1"):
        assessment.YearRecordClosed.model_validate(_year_record(correction=UNLOCKED))


@pytest.mark.parametrize(
    "change",
    [
        {"reason": ""},
        {"reason": " \n\t"},
        {"reason": "x" * (assessment.CORRECTION_REASON_MAX_LENGTH + 1)},
        {"kind": "revocation"},
        {"approved_by": "not a staff id"},
    ],
    ids=["empty", "blank", "long", "kind", "staff"],
)
def test_a_correction_without_a_reason_a_known_kind_or_a_staff_id_is_refused(
    change: dict[str, str],
) -> None:
    with pytest.raises(ValidationError) as err:
        assessment.YearRecordClosed.model_validate(
            _year_record(record_version=2, correction=UNLOCKED | change)
        )
    assert err.value.errors()[0]["loc"][:2] == ("correction", next(iter(change)))
    longest = UNLOCKED | {"reason": "x" * assessment.CORRECTION_REASON_MAX_LENGTH}
    assert assessment.YearRecordClosed.model_validate(
        _year_record(record_version=2, correction=longest)
    ).correction
