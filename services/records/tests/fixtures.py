"""Sample data (fictional people) and an in-memory unit of work for the records tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from hocba_contracts import Envelope
from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StaffMember, StudentProfile
from hocba_records.domain.model import Enrollment
from pymongo.errors import DuplicateKeyError


def school(school_id: str | None = None) -> SchoolProfile:
    sid = school_id or f"SCH-{uuid.uuid4().hex[:6]}"
    return SchoolProfile(
        school_id=sid,
        name="Trường Tiểu học Lê Văn Tám",
        level="primary",
        province_code="079",
        province_name="Thành phố Hồ Chí Minh",
        district="Quận 1",
        principal=StaffMember(staff_id=f"{sid}-HT", full_name="Nguyễn Thị Hồng Nhung"),
    )


def klass(
    school_id: str, class_id: str | None = None, grade: int = 1, year: str = "2024-2025"
) -> ClassProfile:
    return ClassProfile(
        class_id=class_id or f"{school_id}-1A",
        school_id=school_id,
        school_year=year,
        grade=grade,
        name="1A",
        homeroom_teacher=StaffMember(staff_id=f"{school_id}-GV1", full_name="Trần Văn Đức"),
    )


def student(student_id: str | None = None, citizen_id: str | None = None) -> StudentProfile:
    n = uuid.uuid4().int
    return StudentProfile(
        student_id=student_id or f"HS{n % 10**10:010d}",
        citizen_id=citizen_id or f"0792{18:02d}{n % 10**6:06d}"[:12],
        full_name="Phạm Ngọc Ánh Dương",
        date_of_birth=date(2018, 3, 14),
        sex="female",
        ethnicity="Kinh",
        place_of_birth="Thành phố Hồ Chí Minh",
    )


class FakeTx:
    """The records transaction in memory (hocba_records.application.ports.RecordsTx)."""

    def __init__(
        self, store: dict[str, dict[str, Any]], duplicate: bool, announced: list[Envelope[Any]]
    ) -> None:
        self.s = store
        self.duplicate = duplicate
        self.announced = announced
        self.emitted: list[tuple[str, Envelope[Any]]] = []

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None:
        """As the outbox, whose entries are keyed by event id: an event is recorded once."""
        if any(e.id == envelope.id for e in [*self.announced, *(e for _, e in self.emitted)]):
            raise DuplicateKeyError(f"event {envelope.id} is in the outbox already", 11000)
        self.emitted.append((topic, envelope))

    async def get_school(self, school_id: str) -> SchoolProfile | None:
        return self.s["schools"].get(school_id)

    async def save_school(self, school: SchoolProfile) -> None:
        self.s["schools"][school.school_id] = school

    async def get_class(self, class_id: str) -> ClassProfile | None:
        return self.s["classes"].get(class_id)

    async def save_class(self, cls: ClassProfile) -> None:
        self.s["classes"][cls.class_id] = cls

    async def get_student(self, student_id: str) -> StudentProfile | None:
        return self.s["students"].get(student_id)

    async def save_student(self, student: StudentProfile, school_id: str) -> None:
        """As the unique index on `students.citizen_id`: a personal ID number is one student's."""
        owner = await self.student_id_for_citizen(student.citizen_id)
        if owner is not None and owner != student.student_id:
            raise DuplicateKeyError("citizen_id belongs to another student", 11000)
        self.s["students"][student.student_id] = student
        self.s["student_schools"][student.student_id] = school_id

    async def school_of_student(self, student_id: str) -> str | None:
        return self.s["student_schools"].get(student_id)

    async def get_enrollment(self, enrollment_id: str) -> Enrollment | None:
        return self.s["enrollments"].get(enrollment_id)

    async def save_enrollment(self, enrollment: Enrollment) -> None:
        self.s["enrollments"][enrollment.enrollment_id] = enrollment

    async def student_id_for_citizen(self, citizen_id: str) -> str | None:
        return next((k for k, v in self.s["students"].items() if v.citizen_id == citizen_id), None)


class FakeUow:
    """The records unit of work in memory: `store` by collection, `events` committed in order."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {
            k: {} for k in ("schools", "classes", "students", "enrollments", "student_schools")
        }
        self.processed: set[str] = set()
        self.events: list[Envelope[Any]] = []

    @asynccontextmanager
    async def __call__(self, processing: str | None = None) -> AsyncIterator[FakeTx]:
        snapshot = {k: dict(v) for k, v in self.store.items()}
        tx = FakeTx(self.store, processing in self.processed, self.events)
        try:
            yield tx
        except BaseException:
            self.store.clear()
            self.store.update(snapshot)
            raise
        if processing:
            self.processed.add(processing)
        self.events += [e for _, e in tx.emitted]
