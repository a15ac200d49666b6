"""Schools, classes, students and enrollments, and the rules that tie them together."""

from __future__ import annotations

from dataclasses import dataclass

from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StudentProfile
from hocba_runtime.errors import DomainError, NotFound

GRADES = {"primary": range(1, 6), "lower_secondary": range(6, 10), "upper_secondary": range(10, 13)}


class UnknownSchool(NotFound):
    code = "unknown_school"


class UnknownClass(NotFound):
    code = "unknown_class"


class UnknownStudent(NotFound):
    code = "unknown_student"


class EnrollmentRejected(DomainError):
    code = "enrollment_rejected"


class OtherSchools(DomainError):
    """A school system or school writing what belongs to another school."""

    status = 403
    code = "another_schools_data"


class IdentityConflict(DomainError):
    """A personal ID number already belongs to another student."""

    status = 409
    code = "identity_conflict"


def check_class_fits_school(cls: ClassProfile, school: SchoolProfile) -> None:
    if cls.grade not in GRADES[school.level]:
        allowed = GRADES[school.level]
        raise DomainError(
            f"class {cls.class_id}: grade {cls.grade} is not taught at a {school.level.replace('_', ' ')} school "
            f"(grades {allowed.start}-{allowed.stop - 1})",
            code="grade_not_in_school",
        )


def enrollment_id(student_id: str, school_year: str) -> str:
    """One enrollment per student and school year (a move to another class replaces it)."""
    return f"{student_id}:{school_year}"


@dataclass(frozen=True)
class Enrollment:
    enrollment_id: str
    student_id: str
    class_id: str
    school_id: str
    school_year: str


def check_same_school(what: str, owner: str | None, school_id: str) -> None:
    """A school's class or student is written only for that school (a student changes school by a
    transfer, not by another school registering them again)."""
    if owner is not None and owner != school_id:
        raise OtherSchools(
            f"{what} belongs to another school; a school may register and correct only its own"
        )


def enroll(
    student: StudentProfile, cls: ClassProfile, school_id: str, school_year: str
) -> Enrollment:
    if cls.school_id != school_id:
        raise EnrollmentRejected(
            f"class {cls.class_id} belongs to school {cls.school_id}, not {school_id}"
        )
    if cls.school_year != school_year:
        raise EnrollmentRejected(
            f"class {cls.class_id} is a {cls.school_year} class; enroll for that school year or choose a {school_year} class"
        )
    return Enrollment(
        enrollment_id(student.student_id, school_year),
        student.student_id,
        cls.class_id,
        school_id,
        school_year,
    )
