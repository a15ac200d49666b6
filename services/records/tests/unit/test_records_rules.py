"""Records use cases against an in-memory unit of work."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from fixtures import klass, school, student  # noqa: E402
from hocba_records.application.use_cases import RecordsService  # noqa: E402
from hocba_records.domain.model import (  # noqa: E402
    EnrollmentRejected,
    IdentityConflict,
    OtherSchools,
    UnknownClass,
)
from hocba_runtime.errors import DomainError  # noqa: E402

pytestmark = pytest.mark.unit


class FakeTx:
    def __init__(self, store: dict[str, dict[str, Any]], duplicate: bool) -> None:
        self.s = store
        self.duplicate = duplicate
        self.emitted: list[Any] = []

    async def emit(self, topic: str, envelope: Any) -> None:
        self.emitted.append((topic, envelope))

    async def get_school(self, i: str) -> Any:
        return self.s["schools"].get(i)

    async def save_school(self, v: Any) -> None:
        self.s["schools"][v.school_id] = v

    async def get_class(self, i: str) -> Any:
        return self.s["classes"].get(i)

    async def save_class(self, v: Any) -> None:
        self.s["classes"][v.class_id] = v

    async def get_student(self, i: str) -> Any:
        return self.s["students"].get(i)

    async def save_student(self, v: Any, school_id: str) -> None:
        self.s["students"][v.student_id] = v
        self.s["student_schools"][v.student_id] = school_id

    async def school_of_student(self, i: str) -> str | None:
        return self.s["student_schools"].get(i)

    async def get_enrollment(self, i: str) -> Any:
        return self.s["enrollments"].get(i)

    async def save_enrollment(self, v: Any) -> None:
        self.s["enrollments"][v.enrollment_id] = v

    async def student_id_for_citizen(self, c: str) -> str | None:
        return next((k for k, v in self.s["students"].items() if v.citizen_id == c), None)


class FakeUow:
    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {
            k: {} for k in ("schools", "classes", "students", "enrollments", "student_schools")
        }
        self.processed: set[str] = set()
        self.events: list[Any] = []

    @asynccontextmanager
    async def __call__(self, processing: str | None = None) -> AsyncIterator[FakeTx]:
        snapshot = {k: dict(v) for k, v in self.store.items()}
        tx = FakeTx(self.store, processing in self.processed)
        try:
            yield tx
        except BaseException:
            self.store.clear()
            self.store.update(snapshot)
            raise
        if processing:
            self.processed.add(processing)
        self.events += [e for _, e in tx.emitted]


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
