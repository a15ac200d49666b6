"""Records use cases. Each runs in one transaction and announces what changed on
`hocba.records.events`; re-sending the same data changes nothing and announces nothing."""

from __future__ import annotations

from typing import Any

from hocba_contracts import Envelope, make_envelope
from hocba_contracts.payloads import records as ev
from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StudentProfile
from hocba_contracts.topics import RECORDS_EVENTS

from hocba_records.application.ports import RecordsTx, RecordsUnitOfWork
from hocba_records.domain.model import (
    Enrollment,
    IdentityConflict,
    UnknownClass,
    UnknownSchool,
    UnknownStudent,
    check_class_fits_school,
    check_same_school,
    enroll,
)

SOURCE = "hocba/records"


class RecordsService:
    def __init__(self, uow: RecordsUnitOfWork) -> None:
        self.uow = uow

    def _announce(self, data: Any, cause: Envelope[Any] | None) -> Envelope[Any]:
        if cause is None:
            return make_envelope(data, source=SOURCE)
        return make_envelope(
            data, source=SOURCE, correlation_id=cause.correlation_id, causation_id=cause.id
        )

    async def register_school(
        self, school: SchoolProfile, cause: Envelope[Any] | None = None
    ) -> bool:
        """Register or update a school. Returns whether anything changed."""
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate or await tx.get_school(school.school_id) == school:
                return False
            await tx.save_school(school)
            await tx.emit(
                RECORDS_EVENTS.name,
                self._announce(ev.SchoolRegistered(**school.model_dump()), cause),
            )
            return True

    async def register_class(self, cls: ClassProfile, cause: Envelope[Any] | None = None) -> bool:
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate:
                return False
            school = await tx.get_school(cls.school_id)
            if school is None:
                raise UnknownSchool(
                    f"school {cls.school_id} is not registered; register the school first"
                )
            check_class_fits_school(cls, school)
            current = await tx.get_class(cls.class_id)
            check_same_school(
                f"class {cls.class_id}", current.school_id if current else None, cls.school_id
            )
            if current == cls:
                return False
            await tx.save_class(cls)
            await tx.emit(
                RECORDS_EVENTS.name, self._announce(ev.ClassRegistered(**cls.model_dump()), cause)
            )
            return True

    async def register_student(
        self, student: StudentProfile, school_id: str, cause: Envelope[Any] | None = None
    ) -> bool:
        """Register or correct a student's profile for the school registering them (mã học sinh is the
        key; the personal ID number belongs to one student only; another school may not correct them)."""
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate:
                return False
            check_same_school(
                f"student {student.student_id}",
                await tx.school_of_student(student.student_id),
                school_id,
            )
            owner = await tx.student_id_for_citizen(student.citizen_id)
            if owner is not None and owner != student.student_id:
                raise IdentityConflict(
                    f"student {student.student_id}: this personal ID number is already registered to another "
                    "student; check the number with the family"
                )
            if await tx.get_student(student.student_id) == student:
                return False
            await tx.save_student(student, school_id)
            await tx.emit(
                RECORDS_EVENTS.name,
                self._announce(ev.StudentRegistered(**student.model_dump()), cause),
            )
            return True

    async def enroll_student(
        self,
        student_id: str,
        class_id: str,
        school_id: str,
        school_year: str,
        cause: Envelope[Any] | None = None,
    ) -> Enrollment | None:
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate:
                return None
            return await self._enroll(tx, student_id, class_id, school_id, school_year, cause)

    async def _enroll(
        self,
        tx: RecordsTx,
        student_id: str,
        class_id: str,
        school_id: str,
        school_year: str,
        cause: Envelope[Any] | None,
    ) -> Enrollment:
        student = await tx.get_student(student_id)
        if student is None:
            raise UnknownStudent(
                f"student {student_id} is not registered; register the student first"
            )
        cls = await tx.get_class(class_id)
        if cls is None:
            raise UnknownClass(f"class {class_id} is not registered; register the class first")
        school = await tx.get_school(school_id)
        if school is None:
            raise UnknownSchool(f"school {school_id} is not registered; register the school first")
        check_same_school(
            f"student {student_id}", await tx.school_of_student(student_id), school_id
        )
        enrollment = enroll(student, cls, school_id, school_year)
        if await tx.get_enrollment(enrollment.enrollment_id) == enrollment:
            return enrollment
        await tx.save_enrollment(enrollment)
        await tx.emit(
            RECORDS_EVENTS.name,
            self._announce(
                ev.StudentEnrolled(
                    enrollment_id=enrollment.enrollment_id,
                    school_year=school_year,
                    student=student,
                    school=school,
                    class_info=cls,
                ),
                cause,
            ),
        )
        return enrollment
