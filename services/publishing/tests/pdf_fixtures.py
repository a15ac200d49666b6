"""Year records of both school levels in the form publishing receives them: a closed-year record
(the assessment contract's `YearRecordClosed`, dumped to JSON as signing does) tagged with its
document type, and the signatures as the publishing use case hands them to the renderer. Fictional
people; the results follow Thông tư 27/2020 (primary) and Thông tư 22/2021 (secondary)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from hocba_contracts.payloads import assessment as ev
from hocba_contracts.payloads.common import (
    ClassProfile,
    Parent,
    SchoolProfile,
    StaffMember,
    StudentProfile,
    SubjectTeacher,
)

STUDENT = StudentProfile(
    student_id="HS07901005",
    citizen_id="079218004321",
    full_name="Huỳnh Ngọc Bảo Trâm",
    date_of_birth=date(2013, 9, 14),
    sex="female",
    ethnicity="Kinh",
    place_of_birth="Thành phố Cần Thơ",
    parents=(
        Parent(relation="father", full_name="Huỳnh Quốc Việt", occupation="Kỹ sư xây dựng"),
        Parent(relation="mother", full_name="Trần Thị Mỹ Duyên", occupation="Điều dưỡng"),
    ),
)

Rating = Literal["T", "H", "C"]
TraitLevel = Literal["T", "D", "C"]
PRIMARY_SUBJECTS: tuple[tuple[str, str, Rating, float | None, str], ...] = (
    # code, name, rating, end-of-year test score (TT27/2020 Art. 7: whole numbers), comment
    ("TV", "Tiếng Việt", "T", 9.0, "Đọc diễn cảm, viết đúng chính tả; bài văn giàu cảm xúc."),
    ("TOAN", "Toán", "T", 10.0, "Tính nhanh, giải toán có lời văn chính xác."),
    ("DD", "Đạo đức", "T", None, "Lễ phép, biết giúp đỡ bạn bè."),
    ("TNXH", "Tự nhiên và Xã hội", "T", None, "Biết quan sát, yêu thiên nhiên."),
    ("KH", "Khoa học", "H", 8.0, "Hiểu bài; cần mạnh dạn phát biểu hơn."),
    ("LSDL", "Lịch sử và Địa lí", "T", 9.0, "Nhớ tốt các sự kiện lịch sử, đọc được bản đồ."),
    ("TA", "Ngoại ngữ 1 (Tiếng Anh)", "T", 9.0, "Phát âm chuẩn, giao tiếp tự tin."),
    ("TH", "Tin học và Công nghệ", "H", 7.0, "Sử dụng máy tính thành thạo; cần cẩn thận hơn."),
    ("GDTC", "Giáo dục thể chất", "T", None, "Tích cực luyện tập, bơi lội giỏi."),
    ("AN", "Âm nhạc", "H", None, "Hát đúng giai điệu."),
    ("MT", "Mĩ thuật", "T", None, "Vẽ có bố cục đẹp, phối màu hài hòa."),
    ("HDTN", "Hoạt động trải nghiệm", "T", None, "Nhiệt tình tham gia các hoạt động của lớp."),
)
SUBJECTS_BY_GRADE = {
    # DOMAIN.md §5 (2018 programme); Ngoại ngữ 1 is optional in grades 1-2 and taken here.
    1: ("TV", "TOAN", "DD", "TNXH", "TA", "GDTC", "AN", "MT", "HDTN"),
    2: ("TV", "TOAN", "DD", "TNXH", "TA", "GDTC", "AN", "MT", "HDTN"),
    3: ("TV", "TOAN", "DD", "TNXH", "TA", "TH", "GDTC", "AN", "MT", "HDTN"),
    4: ("TV", "TOAN", "DD", "KH", "LSDL", "TA", "TH", "GDTC", "AN", "MT", "HDTN"),
    5: ("TV", "TOAN", "DD", "KH", "LSDL", "TA", "TH", "GDTC", "AN", "MT", "HDTN"),
}
RATING_LABELS = {"T": "Hoàn thành tốt", "H": "Hoàn thành", "C": "Chưa hoàn thành"}
QC_LABELS = {"T": "Tốt", "D": "Đạt", "C": "Cần cố gắng"}
QUALITIES: tuple[tuple[str, str, TraitLevel], ...] = (
    ("yeu_nuoc", "Yêu nước", "T"),
    ("nhan_ai", "Nhân ái", "T"),
    ("cham_chi", "Chăm chỉ", "D"),
    ("trung_thuc", "Trung thực", "T"),
    ("trach_nhiem", "Trách nhiệm", "T"),
)
COMPETENCIES: tuple[tuple[str, str, TraitLevel], ...] = (
    ("tu_chu_tu_hoc", "Tự chủ và tự học", "T"),
    ("giao_tiep_hop_tac", "Giao tiếp và hợp tác", "D"),
    ("giai_quyet_van_de", "Giải quyết vấn đề và sáng tạo", "T"),
    ("ngon_ngu", "Ngôn ngữ", "T"),
    ("tinh_toan", "Tính toán", "T"),
    ("khoa_hoc", "Khoa học", "D"),
    ("cong_nghe", "Công nghệ", "T"),
    ("tin_hoc", "Tin học", "D"),
    ("tham_mi", "Thẩm mĩ", "T"),
    ("the_chat", "Thể chất", "D"),
)

# Lower secondary (Thông tư 22/2021): scored subjects with term I and term II averages, and the
# subjects assessed by comment (Đạt / Chưa đạt for the year), each with its subject teacher.
SECONDARY_SCORED = (
    ("NV", "Ngữ văn", "8.0", "8.6", "Diễn đạt mạch lạc, lập luận chặt chẽ."),
    ("TOAN", "Toán", "8.4", "9.1", "Tư duy tốt, trình bày rõ ràng."),
    ("NN1", "Ngoại ngữ 1", "7.6", "8.3", "Kỹ năng nghe tiến bộ rõ."),
    ("GDCD", "Giáo dục công dân", "9.0", "9.2", ""),
    ("LSDL", "Lịch sử và Địa lí", "6.8", "7.5", "Cần ôn tập thêm phần địa lí tự nhiên."),
    ("KHTN", "Khoa học tự nhiên", "8.8", "9.4", "Làm thí nghiệm cẩn thận, chính xác."),
    ("CN", "Công nghệ", "7.9", "8.0", ""),
    ("TIN", "Tin học", "9.5", "9.7", "Lập trình tốt."),
)
SECONDARY_COMMENT = (
    ("GDTC", "Giáo dục thể chất", True, "Tích cực luyện tập."),
    ("NT", "Nghệ thuật", True, ""),
    ("HDTN", "Hoạt động trải nghiệm, hướng nghiệp", True, "Tham gia đầy đủ, có trách nhiệm."),
    ("GDDP", "Nội dung giáo dục của địa phương", True, ""),
)
SECONDARY_TEACHERS = {
    "NV": ("GV-S-NV", "Lê Thị Thanh Hương"),
    "TOAN": ("GV-S-TOAN", "Phạm Minh Khôi"),
    "NN1": ("GV-S-NN", "Ngô Thùy Dương"),
    "GDCD": ("GV-S-NV", "Lê Thị Thanh Hương"),
    "LSDL": ("GV-S-SD", "Đặng Quốc Bảo"),
    "KHTN": ("GV-S-KH", "Vũ Đức Thắng"),
    "CN": ("GV-S-KH", "Vũ Đức Thắng"),
    "TIN": ("GV-S-TIN", "Hồ Gia Huy"),
    "GDTC": ("GV-S-TD", "Bùi Văn Tài"),
    "NT": ("GV-S-NT", "Mai Phương Thảo"),
    "HDTN": ("GV-S", "Đinh Thị Kim Oanh"),
    "GDDP": ("GV-S-SD", "Đặng Quốc Bảo"),
}
"""The homeroom teacher (GV-S) teaches Hoạt động trải nghiệm herself."""


def _round1(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _school(level: str, school_id: str) -> SchoolProfile:
    primary = level == "primary"
    return SchoolProfile(
        school_id=school_id,
        name="Trường Tiểu học Lê Quý Đôn" if primary else "Trường THCS Nguyễn Du",
        level=level,
        province_code="079",
        province_name="Thành phố Hồ Chí Minh",
        district="Quận Phú Nhuận" if primary else "Quận 3",
        principal=StaffMember(
            staff_id=f"{school_id}-HT",
            full_name="Trương Văn Lộc" if primary else "Nguyễn Thị Hồng Nhung",
        ),
    )


def _class(school_id: str, school_year: str, grade: int, teachers: bool) -> ClassProfile:
    primary = grade <= 5
    return ClassProfile(
        class_id=f"{school_id}-{school_year[:4]}-{grade}A",
        school_id=school_id,
        school_year=school_year,
        grade=grade,
        name=f"{grade}A{1 if primary else 2}",
        homeroom_teacher=StaffMember(
            staff_id="GV-P" if primary else "GV-S",
            full_name="Lý Thị Ngọc Hân" if primary else "Đinh Thị Kim Oanh",
        ),
        subject_teachers=tuple(
            SubjectTeacher(subject_code=code, staff_id=sid, full_name=name)
            for code, (sid, name) in SECONDARY_TEACHERS.items()
            if teachers and sid != "GV-S"
        ),
    )


def _tagged(record: ev.YearRecordClosed) -> dict[str, Any]:
    """The signed document: what signing builds from the closed record (build_document)."""
    return {
        "document_type": "hocba.year_record",
        "format_version": 1,
        **record.model_dump(mode="json"),
    }


def year_of(grade: int, last_grade: int, last_year: str) -> str:
    start = int(last_year[:4]) - (last_grade - grade)
    return f"{start}-{start + 1}"


def primary_document(
    grade: int = 5, school_year: str = "2024-2025", excellent: bool = False
) -> dict[str, Any]:
    """A primary year as assessment closes it (TT27/2020): each subject of the grade with its
    end-of-year level, test score and comment; the qualities and competencies; the year's result,
    commendation, completion of the grade (and of primary school in grade 5) and days absent.
    `excellent`: every subject Hoàn thành tốt, every quality and competency Tốt, every test at least
    9, so Hoàn thành xuất sắc with its commendation; otherwise a mixed year, Hoàn thành."""
    school = _school("primary", "079-TH-LQD")
    wanted = SUBJECTS_BY_GRADE[grade]
    tested = {"TV", "TOAN", "TA", "TH", "KH", "LSDL"} if grade >= 3 else {"TV", "TOAN"}
    subjects = tuple(
        ev.SubjectResult(
            subject_code=code,
            subject_name=name,
            rating="T" if excellent else rating,
            rating_label=RATING_LABELS["T" if excellent else rating],
            score=(max(score, 9.0) if excellent else score) if code in tested and score else None,
            comment=comment,
        )
        for code, name, rating, score, comment in PRIMARY_SUBJECTS
        if code in wanted
    )

    def traits(found: tuple[tuple[str, str, TraitLevel], ...]) -> tuple[ev.TraitResult, ...]:
        return tuple(
            ev.TraitResult(
                code=c,
                name=n,
                level="T" if excellent else lv,
                level_label=QC_LABELS["T" if excellent else lv],
            )
            for c, n, lv in found
        )

    level, label = (
        ("hoan_thanh_xuat_sac", "Hoàn thành xuất sắc")
        if excellent
        else (
            "hoan_thanh",
            "Hoàn thành",
        )
    )
    result = ev.YearResult(
        level=level,
        level_label=label,
        completed_programme=True,
        rules="TT27/2020",
        qualities=traits(QUALITIES),
        competencies=traits(COMPETENCIES),
        completed_primary=True if grade == 5 else None,
        commendation="Học sinh Xuất sắc" if excellent else None,
        days_absent=3,
    )
    return _tagged(
        ev.YearRecordClosed(
            record_id=f"{STUDENT.student_id}.{school_year}",
            record_version=1,
            school_year=school_year,
            student=STUDENT,
            school=school,
            class_info=_class(school.school_id, school_year, grade, teachers=False),
            subjects=subjects,
            result=result,
            closed_at=datetime(int(school_year[5:]), 5, 28, 9, 0, tzinfo=UTC),
        )
    )


def secondary_document(
    grade: int = 7, school_year: str = "2024-2025", shift: Decimal = Decimal(0)
) -> dict[str, Any]:
    """A lower-secondary year as assessment closes it (TT22/2021): term I, term II and year averages
    of the scored subjects (`shift` moves every average, so the years of a book differ), Đạt for the
    comment subjects, each subject's teacher; the academic result and conduct of each term and the
    year, the title, promotion and days absent."""
    school = _school("lower_secondary", "079-THCS-ND")
    subjects = []
    for code, name, t1s, t2s, comment in SECONDARY_SCORED:
        t1 = min(Decimal(10), Decimal(t1s) + shift)
        t2 = min(Decimal(10), Decimal(t2s) + shift)
        year = _round1((t1 + 2 * t2) / 3)
        subjects.append(
            ev.SubjectResult(
                subject_code=code,
                subject_name=name,
                comment=comment,
                term1_average=float(t1),
                term2_average=float(t2),
                year_average=float(year),
                result_label=f"{year:.1f}",
                teacher_id=SECONDARY_TEACHERS[code][0],
            )
        )
    for code, name, passed, comment in SECONDARY_COMMENT:
        subjects.append(
            ev.SubjectResult(
                subject_code=code,
                subject_name=name,
                comment=comment,
                passed=passed,
                result_label="Đạt" if passed else "Chưa đạt",
                teacher_id=SECONDARY_TEACHERS[code][0],
            )
        )

    def academic(level: str, label: str) -> ev.AcademicResult:
        return ev.AcademicResult(level=level, level_label=label, unadjusted_level=level)

    result = ev.YearResult(
        level="tot",
        level_label="Tốt",
        completed_programme=True,
        rules="TT22/2021",
        commendation="Học sinh Giỏi",
        days_absent=4,
        term1_level="kha",
        term2_level="tot",
        academic_term1=academic("kha", "Khá"),
        academic_term2=academic("tot", "Tốt"),
        academic_full_year=academic("tot", "Tốt"),
        conduct_term1="kha",
        conduct_term2="tot",
        conduct="tot",
        conduct_label="Tốt",
        promotion="len_lop",
        promotion_label="Được lên lớp",
    )
    return _tagged(
        ev.YearRecordClosed(
            record_id=f"{STUDENT.student_id}.{school_year}",
            record_version=1,
            school_year=school_year,
            student=STUDENT,
            school=school,
            class_info=_class(school.school_id, school_year, grade, teachers=True),
            subjects=tuple(subjects),
            result=result,
            closed_at=datetime(int(school_year[5:]), 5, 28, 9, 0, tzinfo=UTC),
        )
    )


def signatures_for(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The signatures in the order signing collects them (subject teachers, for secondary, then the
    homeroom teacher, the principal and the school's seal), as the use case hands them over."""
    at = datetime.fromisoformat(document["closed_at"].replace("Z", "+00:00")) + timedelta(days=2)
    out: list[tuple[str, str, str]] = []
    if document["result"]["rules"].startswith("TT22"):
        homeroom = document["class_info"]["homeroom_teacher"]["staff_id"]
        names = {t["staff_id"]: t["full_name"] for t in document["class_info"]["subject_teachers"]}
        for s in document["subjects"]:
            sid = s["teacher_id"]
            if sid and sid != homeroom and all(sid != o[1] for o in out):
                out.append(("subject_teacher", sid, names[sid]))
    homeroom_teacher = document["class_info"]["homeroom_teacher"]
    out.append(("homeroom_teacher", homeroom_teacher["staff_id"], homeroom_teacher["full_name"]))
    principal = document["school"]["principal"]
    out.append(("principal", principal["staff_id"], principal["full_name"]))
    out.append(("school_seal", document["school"]["school_id"], document["school"]["name"]))
    return [
        {
            "role": role,
            "signer_id": sid,
            "signer_name": name,
            "signed_at": (at + timedelta(minutes=i)).isoformat(),
            "cms": "",
            "batch": None,
        }
        for i, (role, sid, name) in enumerate(out)
    ]
