"""Assessment's HTTP API: a class's gradebook as one batch, closing the year, the closed records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from hocba_contracts.payloads.assessment import SubjectAssessmentSubmitted
from hocba_contracts.payloads.common import Code, SchoolYear
from pydantic import BaseModel, Field

from hocba_assessment.application.ports import AssessmentReader
from hocba_assessment.application.use_cases import AssessmentService

router = APIRouter(tags=["assessment"])


def _service(request: Request) -> AssessmentService:
    return request.app.state.assessment  # type: ignore[no-any-return]


def _reader(request: Request) -> AssessmentReader:
    return request.app.state.reader  # type: ignore[no-any-return]


Service = Annotated[AssessmentService, Depends(_service)]
Reader = Annotated[AssessmentReader, Depends(_reader)]


class Batch(BaseModel):
    items: list[SubjectAssessmentSubmitted] = Field(min_length=1, max_length=20_000)


class RejectedItem(BaseModel):
    index: int
    student_id: str
    subject_code: str
    field: str
    problem: str


class BatchOut(BaseModel):
    accepted: int = Field(description="Items stored or changed")
    unchanged: int = Field(description="Items identical to what is stored (re-sent)")
    rejected: list[RejectedItem]


class CloseIn(BaseModel):
    school_year: SchoolYear
    requested_by: Code


class CloseOut(BaseModel):
    class_id: str
    school_year: str
    closed: bool
    records: int = Field(description="Year records emitted by this request")


class RecordOut(BaseModel):
    record_id: str
    record_version: int
    student_id: str
    level: str
    level_label: str


class ClassRecordsOut(BaseModel):
    class_id: str
    school_year: str
    closed: bool
    records: list[RecordOut]


@router.post("/assessments", response_model=BatchOut, summary="Submit a batch of subject assessments")
async def post_assessments(body: Batch, service: Service) -> BatchOut:
    """Each item is checked on its own; the valid ones are stored even when others are rejected."""
    result = await service.submit(body.items)
    return BatchOut(accepted=result.accepted, unchanged=result.unchanged,
                    rejected=[RejectedItem(**vars(r)) for r in result.rejected])


@router.post("/classes/{class_id}/close", response_model=CloseOut, summary="Close a class's school year")
async def close_class(class_id: Code, body: CloseIn, service: Service) -> CloseOut:
    emitted = await service.close_class(class_id, body.school_year, body.requested_by)
    return CloseOut(class_id=class_id, school_year=body.school_year, closed=True, records=emitted)


@router.get("/classes/{class_id}/records", response_model=ClassRecordsOut, summary="A class's closed year records")
async def class_records(class_id: Code, reader: Reader, school_year: Annotated[SchoolYear, Query()]) -> ClassRecordsOut:
    records = await reader.records(class_id, school_year)
    closure = await reader.closure(class_id, school_year)
    return ClassRecordsOut(class_id=class_id, school_year=school_year, closed=closure is not None,
                           records=[RecordOut(record_id=r.record_id, record_version=r.record_version,
                                              student_id=r.student_id, level=r.level, level_label=r.level_label)
                                    for r in records])
