"""Demo data for the local stack: one city (TP.HCM, 079), a few primary schools and classes and a
few hundred students with Vietnamese names, sent as a school system would send them (Kafka events
on the ingest topics), then closed so that the records travel the whole way to the lookup.

All data are synthetic and deterministic: event ids are derived from the content, so loading
twice changes nothing.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from hocba_contracts import Envelope, make_envelope
from hocba_contracts.payloads import assessment as asm
from hocba_contracts.payloads import records as rec
from hocba_contracts.payloads.common import Parent, StaffMember
from hocba_contracts.topics import ASSESSMENT_INGEST, RECORDS_INGEST

SOURCE = "demo-school-system"
"""The demo school system's client id: it names itself as the source of its events."""
SCHOOL_YEAR = "2024-2025"
NAMESPACE = uuid.UUID("5b0c3a52-8f0e-4b7e-9a51-4d1f3c9a2e10")

FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
    "Trương",
    "Đinh",
    "Lâm",
    "Mai",
]
MIDDLE_M = ["Văn", "Minh", "Quốc", "Gia", "Đức", "Hữu", "Thành", "Anh", "Bảo", "Hoàng"]
MIDDLE_F = ["Thị", "Ngọc", "Thu", "Bảo", "Khánh", "Minh", "Thảo", "Phương", "Mỹ", "Hồng"]
GIVEN_M = [
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Đạt",
    "Huy",
    "Khoa",
    "Khôi",
    "Long",
    "Nam",
    "Phúc",
    "Quân",
    "Sơn",
    "Tài",
    "Thắng",
    "Trí",
    "Tuấn",
    "Việt",
    "Vĩnh",
    "Hiếu",
    "Nhân",
    "Lộc",
]
GIVEN_F = [
    "Anh",
    "Châu",
    "Diệp",
    "Giang",
    "Hà",
    "Hân",
    "Hương",
    "Lan",
    "Linh",
    "Mai",
    "My",
    "Ngân",
    "Nhi",
    "Oanh",
    "Phương",
    "Quỳnh",
    "Thảo",
    "Trâm",
    "Tuyết",
    "Uyên",
    "Vy",
    "Yến",
    "Ánh",
]
OCCUPATIONS = [
    "Công nhân",
    "Giáo viên",
    "Kỹ sư",
    "Buôn bán",
    "Nhân viên văn phòng",
    "Bác sĩ",
    "Tài xế",
    "Nội trợ",
    "Kế toán",
    "Lao động tự do",
]
PLACES = [
    "TP. Hồ Chí Minh",
    "Bình Dương",
    "Đồng Nai",
    "Long An",
    "Tiền Giang",
    "Cần Thơ",
    "Đắk Lắk",
    "Nghệ An",
    "Thanh Hóa",
    "Hà Nội",
]
ETHNICITIES = ["Kinh"] * 17 + ["Hoa", "Khmer", "Chăm"]

SCHOOLS = [
    ("079-TH-NBK", "Trường Tiểu học Nguyễn Bỉnh Khiêm", "Quận 1"),
    ("079-TH-LVT", "Trường Tiểu học Lê Văn Tám", "Quận Bình Thạnh"),
    ("079-TH-KD", "Trường Tiểu học Kim Đồng", "Quận Gò Vấp"),
]
CLASSES = [(1, "1A"), (5, "5A")]  # per school
STUDENTS_PER_CLASS = 35

# Subjects of the Thông tư 27/2020 primary programme by grade, and which have a periodic test.
SUBJECTS_BY_GRADE = {
    1: ["TV", "TOAN", "DD", "TNXH", "GDTC", "AN", "MT", "HDTN"],
    2: ["TV", "TOAN", "DD", "TNXH", "GDTC", "AN", "MT", "HDTN"],
    3: ["TV", "TOAN", "DD", "TNXH", "TA", "TH", "GDTC", "AN", "MT", "HDTN"],
    4: ["TV", "TOAN", "DD", "KH", "LSDL", "TA", "TH", "GDTC", "AN", "MT", "HDTN"],
    5: ["TV", "TOAN", "DD", "KH", "LSDL", "TA", "TH", "GDTC", "AN", "MT", "HDTN"],
}
TESTED = {
    1: {"TV", "TOAN"},
    2: {"TV", "TOAN"},
    3: {"TV", "TOAN", "TA", "TH"},
    4: {"TV", "TOAN", "KH", "LSDL", "TA", "TH"},
    5: {"TV", "TOAN", "KH", "LSDL", "TA", "TH"},
}


@dataclass
class DemoStudent:
    student_id: str
    citizen_id: str
    full_name: str
    date_of_birth: date
    class_id: str
    school_id: str


@dataclass
class DemoData:
    records: list[Envelope[Any]] = field(default_factory=list)
    assessments: list[Envelope[Any]] = field(default_factory=list)
    students: list[DemoStudent] = field(default_factory=list)


def _envelope(payload: Any) -> Envelope[Any]:
    key = f"{payload.event_type}:{payload.model_dump_json()}"
    return make_envelope(payload, source=SOURCE, event_id=str(uuid.uuid5(NAMESPACE, key)))


def person_name(rng: random.Random, male: bool) -> str:
    return " ".join(
        (
            rng.choice(FAMILY),
            rng.choice(MIDDLE_M if male else MIDDLE_F),
            rng.choice(GIVEN_M if male else GIVEN_F),
        )
    )


_ISSUED: set[str] = set()
"""Every citizen id drawn in this process: records keeps citizen ids unique, so two students of one
run (the demo, or the tests sharing one stack) must never draw the same one."""


def citizen_id(rng: random.Random, province: str, born: date, male: bool) -> str:
    """A citizen id (CCCD: province, century and sex, year of birth, a six-digit serial) that no
    student drawn before in this process has: the serial is drawn again while it is taken."""
    century = 0 if born.year < 2000 else 2
    prefix = f"{province}{century + (0 if male else 1)}{born.year % 100:02d}"
    while (drawn := f"{prefix}{rng.randrange(10**6):06d}") in _ISSUED:
        pass
    _ISSUED.add(drawn)
    return drawn


def student_payload(
    rng: random.Random, student_id: str, school_id: str, grade: int, school_year: str = SCHOOL_YEAR
) -> rec.StudentRegistrationSubmitted:
    male = rng.random() < 0.5
    first_year = int(school_year[:4])
    born = date(first_year - 5 - grade, rng.randint(1, 12), rng.randint(1, 28))
    family = rng.choice(FAMILY)
    name = f"{family} {rng.choice(MIDDLE_M if male else MIDDLE_F)} {rng.choice(GIVEN_M if male else GIVEN_F)}"
    father = f"{family} {rng.choice(MIDDLE_M)} {rng.choice(GIVEN_M)}"
    mother = person_name(rng, male=False)
    return rec.StudentRegistrationSubmitted(
        school_id=school_id,
        student_id=student_id,
        citizen_id=citizen_id(rng, "079", born, male),
        full_name=name,
        date_of_birth=born,
        sex="male" if male else "female",
        ethnicity=rng.choice(ETHNICITIES),
        place_of_birth=rng.choice(PLACES),
        parents=(
            Parent(relation="father", full_name=father, occupation=rng.choice(OCCUPATIONS)),
            Parent(relation="mother", full_name=mother, occupation=rng.choice(OCCUPATIONS)),
        ),
    )


def assessments_for(
    rng: random.Random,
    class_id: str,
    student_id: str,
    grade: int,
    school_year: str = SCHOOL_YEAR,
    submitted_by: str | None = None,
) -> list[asm.SubjectAssessmentSubmitted]:
    strength = rng.random()
    items = []
    for code in SUBJECTS_BY_GRADE[grade]:
        roll = rng.random() * 0.6 + strength * 0.4
        rating = "T" if roll > 0.55 else ("H" if roll > 0.08 else "C")
        score = None
        if code in TESTED[grade]:
            base = {"T": 8, "H": 6, "C": 4}[rating]
            score = float(min(10, max(0, base + rng.randint(-1, 2))))
        comment = {
            "T": "Hoàn thành tốt nội dung môn học, tích cực phát biểu.",
            "H": "Hoàn thành nội dung môn học; cần cẩn thận hơn khi làm bài.",
            "C": "Chưa hoàn thành một số nội dung; cần ôn tập thêm trong hè.",
        }[rating]
        items.append(
            asm.SubjectAssessmentSubmitted(
                class_id=class_id,
                school_year=school_year,
                student_id=student_id,
                subject_code=code,
                period="end_of_year",
                rating=rating,
                score=score,
                comment=comment,
                submitted_by=submitted_by,
            )
        )
    return items


def build(seed: int = 2024) -> DemoData:
    rng = random.Random(seed)
    data = DemoData()
    for s_index, (school_id, school_name, district) in enumerate(SCHOOLS, start=1):
        principal = StaffMember(
            staff_id=f"{school_id}-HT", full_name=person_name(rng, rng.random() < 0.5)
        )
        data.records.append(
            _envelope(
                rec.SchoolRegistrationSubmitted(
                    school_id=school_id,
                    name=school_name,
                    level="primary",
                    province_code="079",
                    province_name="Thành phố Hồ Chí Minh",
                    district=district,
                    principal=principal,
                )
            )
        )
        for grade, class_name in CLASSES:
            class_id = f"{school_id}-{SCHOOL_YEAR[:4]}-{class_name}"
            teacher = StaffMember(
                staff_id=f"{school_id}-GV{class_name}",
                full_name=person_name(rng, rng.random() < 0.3),
            )
            data.records.append(
                _envelope(
                    rec.ClassRegistrationSubmitted(
                        class_id=class_id,
                        school_id=school_id,
                        school_year=SCHOOL_YEAR,
                        grade=grade,
                        name=class_name,
                        homeroom_teacher=teacher,
                    )
                )
            )
            for n in range(1, STUDENTS_PER_CLASS + 1):
                student_id = f"HS079{s_index:02d}{grade}{n:03d}"
                student = student_payload(rng, student_id, school_id, grade)
                data.records.append(_envelope(student))
                data.records.append(
                    _envelope(
                        rec.EnrollmentSubmitted(
                            student_id=student_id,
                            class_id=class_id,
                            school_id=school_id,
                            school_year=SCHOOL_YEAR,
                        )
                    )
                )
                data.students.append(
                    DemoStudent(
                        student_id,
                        student.citizen_id,
                        student.full_name,
                        student.date_of_birth,
                        class_id,
                        school_id,
                    )
                )
                data.assessments.extend(
                    _envelope(a)
                    for a in assessments_for(
                        rng, class_id, student_id, grade, submitted_by=teacher.staff_id
                    )
                )
            data.assessments.append(
                _envelope(
                    asm.ClassYearCloseRequested(
                        class_id=class_id, school_year=SCHOOL_YEAR, requested_by=teacher.staff_id
                    )
                )
            )
    return data


TOPIC_OF = {"records": RECORDS_INGEST.name, "assessments": ASSESSMENT_INGEST.name}
