"""Sample data for the records tests (fictional people)."""

from __future__ import annotations

import uuid
from datetime import date

from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StaffMember, StudentProfile


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
