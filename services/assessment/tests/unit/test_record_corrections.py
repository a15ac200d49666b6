"""Every version of a year record after the first says why it exists (issue 15): the unlock's
reason, who approved it and when, or the summer re-assessment's; the first version says nothing.
With the in-memory store and FastStream's in-memory broker."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from faststream.kafka import TestKafkaBroker

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import (  # noqa: E402
    FakeMarkStore,
    FakeStore,
    full_year,
    klass,
    mark,
    school,
    secondary_year,
    student,
)
from hocba_assessment.application.use_cases import AssessmentService  # noqa: E402
from hocba_assessment.config import AssessmentSettings  # noqa: E402
from hocba_assessment.domain.model import InvalidAssessment, RosterEntry  # noqa: E402
from hocba_assessment.entrypoints import kafka  # noqa: E402
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads import assessment as ev  # noqa: E402
from hocba_contracts.payloads.common import ClassProfile  # noqa: E402
from hocba_contracts.topics import ASSESSMENT_INGEST  # noqa: E402
from hocba_devstack.testing import TEST_SCHOOL_SYSTEM, TEST_SCHOOL_SYSTEMS  # noqa: E402
from hocba_runtime.auth import SchoolSystems  # noqa: E402
from hocba_runtime.kafka import make_broker  # noqa: E402

pytestmark = pytest.mark.unit

REASON = "Sai điểm Toán cuối năm"
ADMIN = "079-TH-TEST-QT"


def service() -> tuple[AssessmentService, FakeStore]:
    store = FakeStore()
    return AssessmentService(store, FakeMarkStore(store)), store


def versions(store: FakeStore, student_id: str) -> list[ev.YearRecordClosed]:
    """The versions of one student's record emitted so far, in order."""
    return [
        e.data
        for _, e in store.emitted
        if isinstance(e.data, ev.YearRecordClosed) and e.data.student.student_id == student_id
    ]


def unlock_entries(store: FakeStore, cls: ClassProfile) -> list[tuple[str | None, object, str]]:
    return [
        (a.by, a.at, a.reason)
        for a in store.audit
        if a.action == "unlock" and a.class_id == cls.class_id
    ]


async def test_after_an_unlock_the_new_version_carries_its_reason_and_the_first_none() -> None:
    svc, store = service()
    cls = klass(grade=1)
    corrected, unchanged, late = student(), student(), student()
    for s in (corrected, unchanged, late):
        await svc.record_enrollment(RosterEntry(s, school(), cls))
    await svc.submit([*full_year(cls, corrected.student_id), *full_year(cls, unchanged.student_id)])
    assert await svc.close_class(cls.class_id, cls.school_year, "GV-01") == 2
    [first] = versions(store, corrected.student_id)
    assert (first.record_version, first.correction) == (1, None)

    await svc.unlock(cls.class_id, cls.school_year, ADMIN, f"  {REASON}\n")
    await svc.submit([mark(cls, corrected.student_id, "TOAN", "H", 6)], reason="phúc khảo")
    await svc.submit([*full_year(cls, late.student_id)])  # first assessed after the unlock
    assert await svc.close_class(cls.class_id, cls.school_year, "GV-01") == 2

    [(by, at, logged)] = unlock_entries(store, cls)
    second = versions(store, corrected.student_id)[-1]
    assert second.record_version == 2
    assert second.correction == ev.RecordCorrection(
        kind="unlock", reason=REASON, approved_by=ADMIN, at=at
    )
    assert (by, logged) == (ADMIN, REASON)  # trimmed, as the audit trail keeps it
    assert [v.record_version for v in versions(store, unchanged.student_id)] == [1]
    [only] = versions(store, late.student_id)  # a first version supersedes nothing
    assert (only.record_version, only.correction) == (1, None)

    # A second unlock: the next version carries its own reason, not the first one's.
    await svc.unlock(cls.class_id, cls.school_year, ADMIN, "Nhập nhầm điểm Toán lần hai")
    await svc.submit([mark(cls, corrected.student_id, "TOAN", "T", 8)], reason="sửa lại")
    assert await svc.close_class(cls.class_id, cls.school_year, "GV-01") == 1
    third = versions(store, corrected.student_id)[-1]
    assert third.record_version == 3 and third.correction is not None
    assert (third.correction.reason, third.correction.at) == (
        "Nhập nhầm điểm Toán lần hai",
        unlock_entries(store, cls)[-1][1],
    )


async def test_a_student_enrolled_after_the_reclose_gets_a_first_version_without_correction() -> (
    None
):
    svc, store = service()
    cls = klass(grade=2)
    pupil, newcomer = student(), student()
    await svc.record_enrollment(RosterEntry(pupil, school(), cls))
    await svc.submit([*full_year(cls, pupil.student_id)])
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    await svc.unlock(cls.class_id, cls.school_year, ADMIN, REASON)
    await svc.submit([*full_year(cls, newcomer.student_id), mark(cls, pupil.student_id, "TOAN")])
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    assert await svc.record_enrollment(RosterEntry(newcomer, school(), cls)) == 1
    [only] = versions(store, newcomer.student_id)
    assert (only.record_version, only.correction) == (1, None)


async def test_a_reclose_requested_over_kafka_carries_the_unlocks_correction() -> None:
    settings = AssessmentSettings(environment="development", retry_backoff_seconds=0.0)
    svc, store = service()
    broker = make_broker(settings)
    kafka.register(broker, settings, svc, SchoolSystems(TEST_SCHOOL_SYSTEMS))
    cls = klass(grade=1)
    pupil = student()
    await svc.record_enrollment(RosterEntry(pupil, school(), cls))

    def close() -> dict[str, object]:
        request = ev.ClassYearCloseRequested(
            class_id=cls.class_id, school_year=cls.school_year, requested_by="GV-01"
        )
        return make_envelope(request, source=TEST_SCHOOL_SYSTEM).model_dump(mode="json")

    async with TestKafkaBroker(broker) as br:
        key = cls.class_id.encode()
        for m in full_year(cls, pupil.student_id):
            await br.publish(
                make_envelope(m, source=TEST_SCHOOL_SYSTEM).model_dump(mode="json"),
                ASSESSMENT_INGEST.name,
                key=key,
            )
        await br.publish(close(), ASSESSMENT_INGEST.name, key=key)
        await svc.unlock(cls.class_id, cls.school_year, ADMIN, REASON)  # HTTP, in the service
        fix = mark(cls, pupil.student_id, "TOAN", "H", 6)
        await br.publish(
            make_envelope(fix, source=TEST_SCHOOL_SYSTEM).model_dump(mode="json"),
            ASSESSMENT_INGEST.name,
            key=key,
        )
        await br.publish(close(), ASSESSMENT_INGEST.name, key=key)
    first, second = versions(store, pupil.student_id)
    assert (first.record_version, first.correction) == (1, None)
    assert second.record_version == 2 and second.correction is not None
    assert (second.correction.kind, second.correction.reason, second.correction.approved_by) == (
        "unlock",
        REASON,
        ADMIN,
    )


@pytest.mark.parametrize(
    ("reason", "approved_by", "code"),
    [
        ("x" * (ev.CORRECTION_REASON_MAX_LENGTH + 1), ADMIN, "reason_too_long"),
        (REASON, "admin@school", "invalid_staff_id"),
        (" \t", ADMIN, "reason_required"),
    ],
    ids=["long", "staff", "blank"],
)
async def test_an_unlock_the_new_version_could_not_state_is_refused_and_the_class_stays_closed(
    reason: str, approved_by: str, code: str
) -> None:
    svc, store = service()
    cls = klass(grade=1)
    pupil = student()
    await svc.record_enrollment(RosterEntry(pupil, school(), cls))
    await svc.submit([*full_year(cls, pupil.student_id)])
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    with pytest.raises(InvalidAssessment) as refused:
        await svc.unlock(cls.class_id, cls.school_year, approved_by, reason)
    assert refused.value.code == code
    assert (cls.class_id, cls.school_year) in store.closures and not store.unlocks
    assert unlock_entries(store, cls) == []
    # The longest reason a record states is taken whole.
    await svc.unlock(cls.class_id, cls.school_year, ADMIN, "x" * ev.CORRECTION_REASON_MAX_LENGTH)
    assert (cls.class_id, cls.school_year) not in store.closures


async def test_a_summer_reassessment_version_carries_its_own_reason_or_what_was_reassessed() -> (
    None
):
    svc, store = service()
    cls = klass(grade=8)
    await svc.record_class(cls.class_id, 8)
    weak, unruly = student(), student()
    await svc.record_roster([], [(RosterEntry(p, school(), cls), None) for p in (weak, unruly)])
    feed = [
        *secondary_year(cls, weak.student_id, 8.5, overrides={"TOAN": 3.0, "NV": 3.0}),
        *secondary_year(cls, unruly.student_id, 8.5, conduct=("dat", "chua_dat")),
    ]
    await svc.ingest([(f"e{i}", item) for i, item in enumerate(feed)])
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    reason = "Kết quả kiểm tra lại môn Toán và Ngữ văn trong hè"
    assert (
        await svc.reassess(
            cls.class_id,
            cls.school_year,
            weak.student_id,
            "GV-TOAN",
            {"TOAN": 5, "NV": 6},
            None,
            f" {reason} ",
        )
        == 1
    )
    assert await svc.reassess(cls.class_id, cls.school_year, unruly.student_id, "GV-01", {}, "dat")

    retaken = versions(store, weak.student_id)
    assert [(v.record_version, v.correction is None) for v in retaken] == [(1, True), (2, False)]
    correction = retaken[-1].correction
    assert correction is not None
    logged = [a for a in store.audit if a.action == "summer_reassessment" and a.key]
    assert (correction.kind, correction.reason, correction.approved_by) == (
        "summer_reassessment",
        reason,
        "GV-TOAN",
    )
    assert correction.at == logged[0].at and logged[0].reason == reason
    trained = versions(store, unruly.student_id)[-1].correction
    assert trained is not None
    assert (trained.kind, trained.reason, trained.approved_by) == (
        "summer_reassessment",
        "Đánh giá lại sau rèn luyện trong kỳ nghỉ hè",
        "GV-01",
    )


async def test_a_summer_reassessment_with_a_reason_too_long_changes_nothing() -> None:
    svc, store = service()
    cls = klass(grade=8)
    await svc.record_class(cls.class_id, 8)
    weak = student()
    await svc.record_roster([], [(RosterEntry(weak, school(), cls), None)])
    await svc.ingest(
        [
            (f"e{i}", item)
            for i, item in enumerate(
                secondary_year(cls, weak.student_id, 8.5, overrides={"TOAN": 3.0, "NV": 3.0})
            )
        ]
    )
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    marks, emitted = dict(store.marks), len(store.emitted)
    with pytest.raises(InvalidAssessment) as refused:
        await svc.reassess(
            cls.class_id,
            cls.school_year,
            weak.student_id,
            "GV-TOAN",
            {"TOAN": 5, "NV": 6},
            None,
            "x" * (ev.CORRECTION_REASON_MAX_LENGTH + 1),
        )
    assert refused.value.code == "reason_too_long"
    assert store.marks == marks and len(store.emitted) == emitted
