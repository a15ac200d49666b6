"""Value objects shared by several services' payloads."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SCHOOL_YEAR = re.compile(r"^(\d{4})-(\d{4})$")


def _check_school_year(value: str) -> str:
    m = SCHOOL_YEAR.match(value)
    if not m or int(m.group(2)) != int(m.group(1)) + 1:
        raise ValueError("school year must look like 2024-2025 (two consecutive years)")
    return value


def _check_citizen_id(value: str) -> str:
    if not re.fullmatch(r"\d{12}", value):
        raise ValueError("personal identification number must be exactly 12 digits")
    if value[3] not in "0123":
        raise ValueError(
            "4th digit of the personal identification number (century and sex) must be 0-3"
        )
    return value


SchoolYear = Annotated[str, AfterValidator(_check_school_year)]
CitizenId = Annotated[
    str,
    AfterValidator(_check_citizen_id),
    Field(description="Mã định danh cá nhân: 12 digits. Sensitive personal data."),
]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Sex = Literal["male", "female"]
SchoolLevel = Literal["primary", "lower_secondary", "upper_secondary"]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StaffMember(Frozen):
    """A teacher or principal, by the id the school system gives them."""

    staff_id: Code
    full_name: Name


class Parent(Frozen):
    relation: Literal["father", "mother", "guardian"]
    full_name: Name
    occupation: str | None = None
    phone: str | None = None


class SchoolProfile(Frozen):
    school_id: Code
    name: Name
    level: SchoolLevel
    province_code: Annotated[str, Field(pattern=r"^\d{3}$", description="e.g. 079 TP.HCM")]
    province_name: Name
    district: Name
    principal: StaffMember


class SubjectTeacher(Frozen):
    """Who teaches a subject in a class (phân công giảng dạy): they assess it, and sign for it in
    secondary school."""

    subject_code: Code
    staff_id: Code
    full_name: Name


class ClassProfile(Frozen):
    class_id: Code
    school_id: Code
    school_year: SchoolYear
    grade: Annotated[int, Field(ge=1, le=12)]
    name: Annotated[str, Field(min_length=1, max_length=20, description="e.g. 1A")]
    homeroom_teacher: StaffMember
    subject_teachers: tuple[SubjectTeacher, ...] = Field(
        default=(),
        max_length=40,
        description="The teachers of the class's subjects, where another teacher than the "
        "homeroom teacher teaches one; they may assess (and read) only their subjects",
    )

    def teachers(self, subject_code: str | None = None) -> frozenset[str]:
        """Staff ids who teach the class: the homeroom teacher, with the teachers of `subject_code`
        (of every subject when None)."""
        return frozenset(
            {self.homeroom_teacher.staff_id}
            | {
                t.staff_id
                for t in self.subject_teachers
                if subject_code is None or t.subject_code == subject_code
            }
        )


class StudentProfile(Frozen):
    """What the record book's first page says about the student."""

    student_id: Annotated[Code, Field(description="Mã học sinh from the education database")]
    citizen_id: CitizenId
    full_name: Name
    date_of_birth: date
    sex: Sex
    ethnicity: Name = "Kinh"
    place_of_birth: Name
    parents: tuple[Parent, ...] = ()
