"""The post-deployment smoke check: one new student, sent as a school system sends it, must come
out of the lookup as a published record whose signatures verify; given the school administrator's
token, the school also issues the student's access code and a parent signs in and sees it."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from hocba_contracts import make_envelope
from hocba_contracts.payloads import assessment as asm
from hocba_contracts.payloads import records as rec
from hocba_contracts.payloads.common import StaffMember
from hocba_contracts.topics import ASSESSMENT_INGEST, RECORDS_INGEST

from hocba_devstack import client, demo

SOURCE = "smoke-check"
SMOKE_SCHOOL = "079-TH-SMOKE"


@dataclass
class SmokeResult:
    document_id: str
    student_id: str
    record_id: str
    document: dict[str, Any]


def events(
    run: str, *, grade: int = 5, school_year: str = demo.SCHOOL_YEAR
) -> tuple[list[Any], list[Any], rec.StudentRegistrationSubmitted]:
    """The events for one new student in a class of its own (run = a unique suffix)."""
    rng = random.Random(run)
    principal = StaffMember(staff_id=f"{SMOKE_SCHOOL}-HT", full_name="Trần Thị Thu Hương")
    teacher = StaffMember(staff_id=f"{SMOKE_SCHOOL}-GV", full_name="Lê Văn Đức")
    class_id = f"SMOKE-{run}"
    student_id = f"HS-SMOKE-{run}"
    student = demo.student_payload(rng, student_id, SMOKE_SCHOOL, grade, school_year)
    records = [
        rec.SchoolRegistrationSubmitted(
            school_id=SMOKE_SCHOOL,
            name="Trường Tiểu học Kiểm Thử Sau Triển Khai",
            level="primary",
            province_code="079",
            province_name="Thành phố Hồ Chí Minh",
            district="Quận 1",
            principal=principal,
        ),
        rec.ClassRegistrationSubmitted(
            class_id=class_id,
            school_id=SMOKE_SCHOOL,
            school_year=school_year,
            grade=grade,
            name=f"{grade}S",
            homeroom_teacher=teacher,
        ),
        student,
        rec.EnrollmentSubmitted(
            student_id=student_id,
            class_id=class_id,
            school_id=SMOKE_SCHOOL,
            school_year=school_year,
        ),
    ]
    assessments: list[Any] = demo.assessments_for(
        rng, class_id, student_id, grade, school_year, teacher.staff_id
    )
    assessments.append(
        asm.ClassYearCloseRequested(
            class_id=class_id, school_year=school_year, requested_by=teacher.staff_id
        )
    )
    return records, assessments, student


async def run_smoke(
    bootstrap: str,
    lookup_url: str,
    *,
    timeout: float = 180.0,
    run: str | None = None,
    admin_headers: dict[str, str] | None = None,
) -> SmokeResult:
    run = run or uuid.uuid4().hex[:10]
    records, assessments, student = events(run)
    await client.publish(
        bootstrap, RECORDS_INGEST.name, [make_envelope(p, source=SOURCE) for p in records]
    )
    await client.publish(
        bootstrap, ASSESSMENT_INGEST.name, [make_envelope(p, source=SOURCE) for p in assessments]
    )
    person = (student.citizen_id, student.date_of_birth)
    found = await client.wait_verified(lookup_url, [person], timeout=timeout, bootstrap=bootstrap)
    doc = found[person]
    if admin_headers is not None:
        async with httpx.AsyncClient(timeout=30) as http:
            code = await client.issue_code(http, lookup_url, student.student_id, admin_headers)
        async with httpx.AsyncClient(timeout=30) as parent:
            portal = await client.parent_records(parent, lookup_url, *person, code)
        shown = {v["document_id"] for y in portal["years"] for v in y["versions"]}
        if doc["document_id"] not in shown:
            raise RuntimeError("the signed-in parent does not see the published record")
    return SmokeResult(doc["document_id"], student.student_id, doc.get("record_id", ""), doc)


async def diagnose(urls: dict[str, str]) -> list[str]:
    """Which services answer ready: what an operator checks first when the smoke fails."""
    lines = []
    async with httpx.AsyncClient(timeout=3) as http:
        for name, url in urls.items():
            try:
                r = await http.get(url + "/health/ready")
                lines.append(
                    f"  {name:<11} {url}  {r.json().get('status')} {r.json().get('checks', '')}"
                )
            except httpx.HTTPError as exc:
                lines.append(f"  {name:<11} {url}  not answering ({type(exc).__name__})")
    return lines


def main_smoke(
    bootstrap: str,
    urls: dict[str, str],
    timeout: float,
    admin_headers: dict[str, str] | None = None,
) -> int:
    try:
        result = asyncio.run(
            run_smoke(bootstrap, urls["lookup"], timeout=timeout, admin_headers=admin_headers)
        )
    except Exception as exc:  # noqa: BLE001 - the operator needs a verdict, whatever went wrong
        print(f"SMOKE FAILED: {exc}")
        for line in asyncio.run(diagnose(urls)):
            print(line)
        return 1
    print(
        f"SMOKE OK: student {result.student_id} is published and verified as document {result.document_id}"
    )
    print(f"  verify: {urls['lookup']}/verify/{result.document_id}")
    if admin_headers is not None:
        print("  a parent signed in with the school's access code and saw it")
    return 0
