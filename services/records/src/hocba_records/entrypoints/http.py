"""Records HTTP API: what a school system without Kafka integration calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from hocba_contracts.payloads.common import (
    ClassProfile,
    Code,
    SchoolProfile,
    SchoolYear,
    StudentProfile,
)
from pydantic import BaseModel

from hocba_records.adapters.mongo_records import MongoRecordsReader
from hocba_records.application.use_cases import RecordsService
from hocba_records.domain.model import UnknownStudent

router = APIRouter(tags=["records"])


def _service(request: Request) -> RecordsService:
    return request.app.state.records  # type: ignore[no-any-return]


def _reader(request: Request) -> MongoRecordsReader:
    return request.app.state.reader  # type: ignore[no-any-return]


Service = Annotated[RecordsService, Depends(_service)]
Reader = Annotated[MongoRecordsReader, Depends(_reader)]


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


@router.post("/schools", response_model=Changed, summary="Register or update a school")
async def post_school(body: SchoolProfile, service: Service) -> Changed:
    return Changed(id=body.school_id, changed=await service.register_school(body))


@router.post("/classes", response_model=Changed, summary="Register or update a class for a school year")
async def post_class(body: ClassProfile, service: Service) -> Changed:
    return Changed(id=body.class_id, changed=await service.register_class(body))


@router.post("/students", response_model=Changed, summary="Register or correct a student")
async def post_student(body: StudentIn, service: Service) -> Changed:
    profile = StudentProfile.model_validate(body.model_dump(exclude={"school_id"}))
    return Changed(id=body.student_id, changed=await service.register_student(profile))


@router.post("/enrollments", response_model=EnrollmentOut, summary="Enroll a student in a class")
async def post_enrollment(body: EnrollmentIn, service: Service) -> EnrollmentOut:
    e = await service.enroll_student(body.student_id, body.class_id, body.school_id, body.school_year)
    assert e is not None
    return EnrollmentOut(enrollment_id=e.enrollment_id, student_id=e.student_id, class_id=e.class_id,
                         school_year=e.school_year)


@router.get("/students/{student_id}", response_model=StudentProfile, summary="A student's profile")
async def get_student(student_id: str, reader: Reader) -> StudentProfile:
    student = await reader.student(student_id)
    if student is None:
        raise UnknownStudent(f"no student {student_id}")
    return student


@router.get("/classes/{class_id}/students", response_model=list[str], summary="Student ids enrolled in a class")
async def get_roster(class_id: str, reader: Reader) -> list[str]:
    return await reader.class_roster(class_id)
