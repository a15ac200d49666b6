"""Records HTTP API: what a school system without Kafka integration calls. Who may call what is in
`policies.POLICIES`; each handler names the school, class or student its request touches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from hocba_contracts.payloads.common import (
    ClassProfile,
    Code,
    Frozen,
    Name,
    Parent,
    SchoolProfile,
    SchoolYear,
    Sex,
    StudentProfile,
)
from hocba_runtime.auth import Access, Resource, current_access
from pydantic import BaseModel, Field

from hocba_records.application.ports import RecordsReader
from hocba_records.application.use_cases import RecordsService

router = APIRouter(tags=["records"])


def _service(request: Request) -> RecordsService:
    return request.app.state.records  # type: ignore[no-any-return]


def _reader(request: Request) -> RecordsReader:
    return request.app.state.reader  # type: ignore[no-any-return]


Service = Annotated[RecordsService, Depends(_service)]
Reader = Annotated[RecordsReader, Depends(_reader)]
Caller = Annotated[Access, Depends(current_access)]


def _school(school_id: str) -> Resource:
    return Resource(school_id=school_id)


class Changed(BaseModel):
    id: str
    changed: bool


class StudentIn(StudentProfile):
    school_id: Code


class EnrollmentIn(BaseModel):
    school_id: Code
    student_id: Code
    class_id: Code
    school_year: SchoolYear


class EnrollmentOut(BaseModel):
    enrollment_id: str
    student_id: str
    class_id: str
    school_year: str


class StudentOut(Frozen):
    """A student's profile as the caller's role may see it."""

    student_id: str
    citizen_id: str | None = Field(
        default=None, description="Mã định danh cá nhân; not shown to teachers"
    )
    full_name: Name
    date_of_birth: str
    sex: Sex
    ethnicity: str
    place_of_birth: str
    parents: tuple[Parent, ...] = ()


@router.post("/schools", response_model=Changed, summary="Register or update a school")
async def post_school(body: SchoolProfile, service: Service, access: Caller) -> Changed:
    access.require(_school(body.school_id))
    return Changed(id=body.school_id, changed=await service.register_school(body))


@router.post(
    "/classes", response_model=Changed, summary="Register or update a class for a school year"
)
async def post_class(body: ClassProfile, service: Service, access: Caller) -> Changed:
    access.require(Resource(school_id=body.school_id, class_id=body.class_id))
    return Changed(id=body.class_id, changed=await service.register_class(body))


@router.post("/students", response_model=Changed, summary="Register or correct a student")
async def post_student(body: StudentIn, service: Service, access: Caller) -> Changed:
    access.require(Resource(school_id=body.school_id, student_ids=(body.student_id,)))
    profile = StudentProfile.model_validate(body.model_dump(exclude={"school_id"}))
    return Changed(
        id=body.student_id, changed=await service.register_student(profile, body.school_id)
    )


@router.post("/enrollments", response_model=EnrollmentOut, summary="Enroll a student in a class")
async def post_enrollment(body: EnrollmentIn, service: Service, access: Caller) -> EnrollmentOut:
    access.require(
        Resource(school_id=body.school_id, class_id=body.class_id, student_ids=(body.student_id,))
    )
    e = await service.enroll_student(
        body.student_id, body.class_id, body.school_id, body.school_year
    )
    assert e is not None
    return EnrollmentOut(
        enrollment_id=e.enrollment_id,
        student_id=e.student_id,
        class_id=e.class_id,
        school_year=e.school_year,
    )


@router.get(
    "/students/{student_id}",
    response_model=StudentOut,
    response_model_exclude_unset=True,
    summary="A student's profile (school staff; teachers of the student's classes without the personal ID)",
)
async def get_student(student_id: Code, reader: Reader, access: Caller) -> dict[str, object]:
    student = await reader.student(student_id)
    school_id = await reader.school_of_student(student_id) if student else None
    teachers = frozenset().union(
        *(c.teachers() for c in await reader.classes_of_student(student_id))
    )
    access.require(
        Resource(school_id=school_id, student_ids=(student_id,), teachers=teachers)
        if student
        else None,
        missing="no such student; check the student id (mã học sinh)",
    )
    assert student is not None
    return access.visible(student.model_dump(mode="json"))


@router.get(
    "/classes/{class_id}/students",
    response_model=list[str],
    summary="Student ids enrolled in a class",
)
async def get_roster(class_id: Code, reader: Reader, access: Caller) -> list[str]:
    cls = await reader.class_profile(class_id)
    access.require(
        Resource(school_id=cls.school_id, class_id=class_id, teachers=cls.teachers())
        if cls
        else None,
        missing="no such class; check the class id",
    )
    return await reader.class_roster(class_id)
