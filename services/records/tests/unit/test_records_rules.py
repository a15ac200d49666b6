"""Records use cases against an in-memory unit of work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from fixtures import FakeUow, klass, school, student  # noqa: E402
from hocba_records.application.use_cases import RecordsService  # noqa: E402
from hocba_records.domain.model import (  # noqa: E402
    EnrollmentRejected,
    IdentityConflict,
    OtherSchools,
    UnknownClass,
)
from hocba_runtime.errors import DomainError  # noqa: E402

pytestmark = pytest.mark.unit


async def test_enrollment_announces_a_snapshot_for_downstream() -> None:
    uow = FakeUow()
    svc = RecordsService(uow)
    sch = school()
    await svc.register_school(sch)
    await svc.register_class(klass(sch.school_id))
    st = student()
    await svc.register_student(st, sch.school_id)
    await svc.enroll_student(st.student_id, f"{sch.school_id}-1A", sch.school_id, "2024-2025")
    enrolled = uow.events[-1]
    assert enrolled.type == "hocba.records.student_enrolled"
    assert enrolled.subject == st.student_id
    assert enrolled.data.class_info.homeroom_teacher.full_name == "Trần Văn Đức"
    assert enrolled.data.school.principal.staff_id == f"{sch.school_id}-HT"


async def test_resending_the_same_data_announces_nothing() -> None:
    uow = FakeUow()
    svc = RecordsService(uow)
    sch = school()
    assert await svc.register_school(sch) is True
    assert await svc.register_school(sch) is False
    assert len(uow.events) == 1


async def test_a_personal_id_belongs_to_one_student() -> None:
    uow = FakeUow()
    svc = RecordsService(uow)
    first = student()
    await svc.register_student(first, "SCH-A")
    with pytest.raises(IdentityConflict) as err:
        await svc.register_student(student(citizen_id=first.citizen_id), "SCH-A")
    assert first.citizen_id not in str(err.value)


async def test_enrollment_needs_a_class_of_that_school_year() -> None:
    uow = FakeUow()
    svc = RecordsService(uow)
    sch = school()
    await svc.register_school(sch)
    await svc.register_class(klass(sch.school_id, year="2023-2024"))
    st = student()
    await svc.register_student(st, sch.school_id)
    with pytest.raises(EnrollmentRejected, match="2023-2024 class"):
        await svc.enroll_student(st.student_id, f"{sch.school_id}-1A", sch.school_id, "2024-2025")
    with pytest.raises(UnknownClass):
        await svc.enroll_student(st.student_id, "NOPE", sch.school_id, "2024-2025")
    assert uow.store["enrollments"] == {}


async def test_a_primary_school_has_no_grade_7() -> None:
    uow = FakeUow()
    svc = RecordsService(uow)
    sch = school()
    await svc.register_school(sch)
    with pytest.raises(DomainError, match="grade 7 is not taught"):
        await svc.register_class(klass(sch.school_id, grade=7))


async def test_another_school_can_neither_correct_nor_enroll_a_school_s_student_or_take_its_class() -> (
    None
):
    uow = FakeUow()
    svc = RecordsService(uow)
    mine, theirs = school(), school()
    for sch in (mine, theirs):
        await svc.register_school(sch)
    await svc.register_class(klass(mine.school_id))
    await svc.register_class(klass(theirs.school_id))
    st = student()
    await svc.register_student(st, mine.school_id)
    with pytest.raises(OtherSchools):
        await svc.register_student(
            st.model_copy(update={"full_name": "Tên Khác"}), theirs.school_id
        )
    with pytest.raises(OtherSchools):
        await svc.enroll_student(
            st.student_id, f"{theirs.school_id}-1A", theirs.school_id, "2024-2025"
        )
    with pytest.raises(OtherSchools):
        await svc.register_class(klass(theirs.school_id, class_id=f"{mine.school_id}-1A"))
    assert uow.store["students"][st.student_id].full_name == st.full_name
    assert uow.store["enrollments"] == {}
    assert uow.store["classes"][f"{mine.school_id}-1A"].school_id == mine.school_id
