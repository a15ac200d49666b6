"""Bulk ingestion of a school system's feed (Kafka): what each event becomes, at-least-once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import (  # noqa: E402
    FakeMarkStore,
    FakeStore,
    full_year,
    klass,
    mark,
    school,
    student,
    subject_assessment,
)
from hocba_assessment.application.intake import Item  # noqa: E402
from hocba_assessment.application.use_cases import AssessmentService  # noqa: E402
from hocba_assessment.domain.marks import mark_key  # noqa: E402
from hocba_assessment.domain.model import RosterEntry  # noqa: E402
from hocba_contracts import Envelope  # noqa: E402
from hocba_contracts.payloads.common import StudentProfile  # noqa: E402

pytestmark = pytest.mark.unit


def audited(values: dict[str, Any] | None) -> dict[str, Any]:
    assert values is not None
    return values


def service() -> tuple[AssessmentService, FakeStore, FakeMarkStore]:
    store = FakeStore()
    marks = FakeMarkStore(store)
    return AssessmentService(store, marks), store, marks


async def test_good_events_are_stored_and_each_bad_one_is_named_in_place() -> None:
    svc, store, _ = service()
    cls = klass(grade=3)
    await svc.record_class(cls.class_id, cls.grade)
    pupil = student()
    items = full_year(cls, pupil.student_id)
    bad_subject = mark(cls, pupil.student_id, "KH", "T")  # grade 3 has no Khoa học
    bad_score = items[0].model_copy(update={"score": 11})
    events: list[tuple[str, Item]] = [
        (f"e{i}", m) for i, m in enumerate([items[0], bad_subject, *items[1:], bad_score])
    ]
    outcomes = await svc.ingest(events)
    assert [o.status for o in outcomes] == [
        "accepted",
        "rejected",
        *["accepted"] * (len(items) - 1),
        "rejected",
    ]
    assert (
        outcomes[1].problems[0].field == "subject_code"
        and "grade 3" in outcomes[1].problems[0].problem
    )
    assert outcomes[-1].problems[0].field == "score"
    assert len(store.marks) == len(items)


async def test_a_redelivered_batch_changes_nothing_and_does_not_undo_a_later_correction() -> None:
    svc, store, marks = service()
    cls = klass(grade=1)
    pupil = student()
    first = mark(cls, pupil.student_id, "TV", "H", 7)
    corrected = first.model_copy(update={"rating": "T", "score": 9, "submitted_by": "GV-01"})
    assert [o.status for o in await svc.ingest([("a", first), ("b", corrected)])] == [
        "accepted",
        "accepted",
    ]
    key = mark_key(cls.class_id, cls.school_year, pupil.student_id, "subject", "TV", "end_of_year")
    assert subject_assessment(store.marks[key]).score == 9 and marks.events[key] == ("a", "b")
    assert [(e.action, audited(e.old)["score"], audited(e.new)["score"]) for e in store.audit] == [
        ("correction", 7, 9)
    ]
    # Kafka delivers event "a" again (a rebalance): it was applied already, the correction stands.
    assert [o.status for o in await svc.ingest([("a", first)])] == ["unchanged"]
    assert subject_assessment(store.marks[key]).score == 9
    # The whole batch again: nothing changes, and the correction is not audited twice.
    assert [o.status for o in await svc.ingest([("a", first), ("b", corrected)])] == [
        "unchanged",
        "unchanged",
    ]
    assert len(store.audit) == 1
    # The same value re-sent under a new event id is not a change either.
    assert [
        o.status for o in await svc.ingest([("c", corrected.model_copy(update={"comment": ""}))])
    ] == ["unchanged"]


async def test_after_the_close_a_resent_value_is_unchanged_and_a_new_value_is_refused() -> None:
    svc, store, _ = service()
    cls = klass(grade=1)
    pupil = student()
    await svc.record_enrollment(RosterEntry(pupil, school(), cls))
    items = full_year(cls, pupil.student_id)
    await svc.ingest([(f"e{i}", m) for i, m in enumerate(items)])
    assert await svc.close_class(cls.class_id, cls.school_year, "GV-01") == 1
    late = items[0].model_copy(update={"rating": "C", "score": 2})
    outcomes = await svc.ingest([("e0", items[0]), ("x", items[1].model_copy()), ("late", late)])
    assert [o.status for o in outcomes] == ["unchanged", "unchanged", "rejected"]
    assert outcomes[2].closed and "closed its school year" in outcomes[2].problems[0].problem
    key = mark_key(
        cls.class_id,
        cls.school_year,
        pupil.student_id,
        "subject",
        items[0].subject_code,
        "end_of_year",
    )
    assert subject_assessment(store.marks[key]).rating == items[0].rating


async def test_bulk_roster_keeps_grades_and_gives_a_late_student_of_a_closed_class_its_record() -> (
    None
):
    from hocba_contracts import make_envelope
    from hocba_contracts.payloads import records as rec

    svc, store, _ = service()
    cls = klass(grade=4)
    pupils = [student() for _ in range(2)]

    def enrolled(p: StudentProfile) -> Envelope[Any]:
        return make_envelope(
            rec.StudentEnrolled(
                enrollment_id=f"{cls.class_id}:{p.student_id}",
                school_year=cls.school_year,
                student=p,
                school=school(),
                class_info=cls,
            ),
            source="hocba/records",
        )

    assert (
        await svc.record_roster([], [(RosterEntry(pupils[0], school(), cls), enrolled(pupils[0]))])
        == 0
    )
    assert store.grades[cls.class_id] == 4
    await svc.ingest(
        [
            (f"{p.student_id}{i}", m)
            for p in pupils
            for i, m in enumerate(full_year(cls, p.student_id))
        ]
    )
    assert await svc.close_class(cls.class_id, cls.school_year, "GV-01") == 1
    late = enrolled(pupils[1])
    assert await svc.record_roster([], [(RosterEntry(pupils[1], school(), cls), late)]) == 1
    assert (
        await svc.record_roster([], [(RosterEntry(pupils[1], school(), cls), late)]) == 0
    )  # redelivered
    assert sorted(e.data.student.student_id for _, e in store.emitted) == sorted(
        p.student_id for p in pupils
    )


async def test_closing_many_classes_together_emits_each_record_once_and_a_redelivery_nothing() -> (
    None
):
    from hocba_assessment.application.use_cases import CloseRequest, Closing
    from hocba_contracts import make_envelope
    from hocba_contracts.payloads import assessment as ev

    svc, store, _ = service()
    classes = [klass(grade=g) for g in (1, 2)]
    for cls in classes:
        for p in [student() for _ in range(3)]:
            await svc.record_enrollment(RosterEntry(p, school(), cls))
            await svc.ingest(
                [(f"{p.student_id}{i}", m) for i, m in enumerate(full_year(cls, p.student_id))]
            )
    closes = [
        make_envelope(
            ev.ClassYearCloseRequested(
                class_id=c.class_id, school_year=c.school_year, requested_by="GV-01"
            ),
            source="school-system",
        )
        for c in classes
    ]
    requests = [
        CloseRequest(c.class_id, c.school_year, "GV-01", e)
        for c, e in zip(classes, closes, strict=True)
    ]
    assert await svc.close_classes([*requests, requests[0]]) == Closing(records=6)
    assert {e.causation_id for _, e in store.emitted} == {e.id for e in closes}
    assert await svc.close_classes(requests) == Closing()  # redelivered
    await svc.unlock(classes[0].class_id, classes[0].school_year, "HT-01", "sửa điểm Toán")
    assert (
        await svc.close_classes(requests[:1]) == Closing()
    )  # an old close redelivered does not close it again
    assert (classes[0].class_id, classes[0].school_year) not in store.closures
    assert sorted(e.action for e in store.audit) == ["close", "close", "unlock"]
