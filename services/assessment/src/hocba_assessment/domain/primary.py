"""Primary school evaluation: Thông tư 27/2020/TT-BGDĐT (2018 programme).

Each rule is a small function citing its article. Ratings of subjects and activities:
T = Hoàn thành tốt, H = Hoàn thành, C = Chưa hoàn thành (Art. 6). Qualities and competencies:
T = Tốt, D = Đạt, C = Cần cố gắng (Art. 6). Periodic tests: 10-point scale, whole numbers (Art. 7).

Not read against the circular's own text on this machine (no copy reachable): which grades test
Khoa học, and whether a test score of 0 is allowed; both follow ../shared/DOMAIN.md §5.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

RULES = "TT27/2020"

SUBJECT_NAMES = {
    "TV": "Tiếng Việt",
    "TOAN": "Toán",
    "DD": "Đạo đức",
    "TNXH": "Tự nhiên và Xã hội",
    "KH": "Khoa học",
    "LSDL": "Lịch sử và Địa lí",
    "TA": "Ngoại ngữ 1 (Tiếng Anh)",
    "TH": "Tin học và Công nghệ",
    "GDTC": "Giáo dục thể chất",
    "AN": "Âm nhạc",
    "MT": "Mĩ thuật",
    "HDTN": "Hoạt động trải nghiệm",
}

_CORE = ["TV", "TOAN", "DD"]
_ARTS = ["GDTC", "AN", "MT", "HDTN"]
SUBJECTS_BY_GRADE: dict[int, tuple[str, ...]] = {
    1: tuple(_CORE + ["TNXH", "TA"] + _ARTS),  # Ngoại ngữ 1 optional in grades 1-2
    2: tuple(_CORE + ["TNXH", "TA"] + _ARTS),
    3: tuple(_CORE + ["TNXH", "TA", "TH"] + _ARTS),
    4: tuple(_CORE + ["KH", "LSDL", "TA", "TH"] + _ARTS),
    5: tuple(_CORE + ["KH", "LSDL", "TA", "TH"] + _ARTS),
}
OPTIONAL_BY_GRADE: dict[int, frozenset[str]] = {1: frozenset({"TA"}), 2: frozenset({"TA"})}
TESTED = frozenset({"TV", "TOAN", "TA", "TH", "KH", "LSDL"})
RATING_LABELS = {"T": "Hoàn thành tốt", "H": "Hoàn thành", "C": "Chưa hoàn thành"}
QC_LABELS = {"T": "Tốt", "D": "Đạt", "C": "Cần cố gắng"}
QUALITIES = {
    "yeu_nuoc": "Yêu nước",
    "nhan_ai": "Nhân ái",
    "cham_chi": "Chăm chỉ",
    "trung_thuc": "Trung thực",
    "trach_nhiem": "Trách nhiệm",
}
COMPETENCIES = {
    "tu_chu_tu_hoc": "Tự chủ và tự học",
    "giao_tiep_hop_tac": "Giao tiếp và hợp tác",
    "giai_quyet_van_de": "Giải quyết vấn đề và sáng tạo",
    "ngon_ngu": "Ngôn ngữ",
    "tinh_toan": "Tính toán",
    "khoa_hoc": "Khoa học",
    "cong_nghe": "Công nghệ",
    "tin_hoc": "Tin học",
    "tham_mi": "Thẩm mĩ",
    "the_chat": "Thể chất",
}
LEVEL_LABELS = {
    "hoan_thanh_xuat_sac": "Hoàn thành xuất sắc",
    "hoan_thanh_tot": "Hoàn thành tốt",
    "hoan_thanh": "Hoàn thành",
    "chua_hoan_thanh": "Chưa hoàn thành",
}
LEVEL_ORDER = ("chua_hoan_thanh", "hoan_thanh", "hoan_thanh_tot", "hoan_thanh_xuat_sac")
PERIODS = ("mid_term_1", "end_term_1", "mid_term_2", "end_of_year")


@dataclass(frozen=True)
class Problem:
    field: str
    problem: str


@dataclass(frozen=True)
class SubjectMark:
    subject_code: str
    rating: str | None
    score: float | None
    comment: str = ""


@dataclass(frozen=True)
class PrimaryYear:
    """What the year-end result of one student is computed from (end-of-year assessments)."""

    grade: int
    subjects: tuple[SubjectMark, ...]
    qualities: Mapping[str, str] | None = None  # None: not assessed in this record
    competencies: Mapping[str, str] | None = None
    days_absent: int = 0
    nominated_outstanding: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


def subjects_for(grade: int) -> tuple[str, ...]:
    """Subjects and educational activities of a primary grade (TT27/2020 Art. 3; 2018 programme)."""
    if not 1 <= grade <= 5:
        raise ValueError(f"grade {grade} is not a primary grade (1-5)")
    return SUBJECTS_BY_GRADE[grade]


def test_periods(grade: int, subject_code: str) -> frozenset[str]:
    """Periods with a periodic test (TT27/2020 Art. 7.2): end of term I and end of year for Tiếng Việt,
    Toán, Ngoại ngữ 1, Khoa học, Lịch sử và Địa lí, Tin học và Công nghệ; in grades 4-5 also
    mid-term I and mid-term II for Tiếng Việt and Toán."""
    if subject_code not in TESTED or subject_code not in subjects_for(grade):
        return frozenset()
    periods = {"end_term_1", "end_of_year"}
    if grade in (4, 5) and subject_code in ("TV", "TOAN"):
        periods |= {"mid_term_1", "mid_term_2"}
    return frozenset(periods)


def has_periodic_test(grade: int, subject_code: str) -> bool:
    return bool(test_periods(grade, subject_code))


def check_mark(
    grade: int | None, subject_code: str, period: str, rating: str | None, score: float | None
) -> list[Problem]:
    """What is wrong with one subject mark, if anything (TT27/2020 Art. 6-7)."""
    problems = []
    in_grade = grade is None or subject_code in subjects_for(grade)
    if grade is not None and not in_grade:
        problems.append(
            Problem(
                "subject_code",
                f"grade {grade} has no subject {subject_code}; "
                f"expected one of {', '.join(subjects_for(grade))}",
            )
        )
    if rating is None and score is None:
        problems.append(Problem("rating", "give a rating (T, H or C), a score, or both"))
    if rating is not None and rating not in RATING_LABELS:
        problems.append(
            Problem(
                "rating", "rating must be T (Hoàn thành tốt), H (Hoàn thành) or C (Chưa hoàn thành)"
            )
        )
    if score is not None:
        if not 0 <= score <= 10:
            problems.append(Problem("score", "score must be between 0 and 10"))
        elif score != int(score):
            problems.append(
                Problem(
                    "score", "primary test scores are whole numbers (TT27/2020 Art. 7); no decimals"
                )
            )
        if grade is not None and in_grade and period not in test_periods(grade, subject_code):
            when = ", ".join(sorted(test_periods(grade, subject_code))) or "no period"
            problems.append(
                Problem(
                    "score",
                    f"{subject_code} in grade {grade} has a periodic test at {when}, "
                    f"not at {period}; send a rating only",
                )
            )
    return problems


def check_quality(code: str, level: str) -> list[Problem]:
    """Qualities and competencies are rated T (Tốt), D (Đạt) or C (Cần cố gắng) (TT27/2020 Art. 6.2)."""
    problems = []
    if code not in QUALITIES and code not in COMPETENCIES:
        problems.append(
            Problem("quality", f"{code} is not one of the 5 qualities or 10 competencies")
        )
    if level not in QC_LABELS:
        problems.append(Problem("level", "level must be T (Tốt), D (Đạt) or C (Cần cố gắng)"))
    return problems


def missing_subjects(grade: int, marks: Iterable[SubjectMark]) -> list[str]:
    """Compulsory subjects of the grade without an end-of-year rating (Art. 3; optional ones excepted)."""
    have = {m.subject_code for m in marks if m.rating is not None}
    optional = OPTIONAL_BY_GRADE.get(grade, frozenset())
    return [s for s in subjects_for(grade) if s not in have and s not in optional]


class Assessed(Protocol):
    """What the year-end level reads of a subject's assessment (a SubjectMark, or a stored mark)."""

    @property
    def rating(self) -> str | None: ...
    @property
    def score(self) -> float | None: ...


def year_level(
    marks: Iterable[Assessed],
    qualities: Mapping[str, str] | None = None,
    competencies: Mapping[str, str] | None = None,
) -> str:
    """Year-end educational result (TT27/2020 Art. 9.2):
    - Hoàn thành xuất sắc: every subject Hoàn thành tốt, every quality and competency Tốt, every
      end-of-year test >= 9;
    - Hoàn thành tốt: the same with every test >= 7;
    - Hoàn thành: every subject at least Hoàn thành, every quality and competency at least Đạt,
      every test >= 5;
    - Chưa hoàn thành: otherwise.
    Qualities and competencies given as None were not assessed in this record and do not count."""
    marks = list(marks)
    if not marks:
        return "chua_hoan_thanh"
    ratings = [m.rating for m in marks]
    scores = [m.score for m in marks if m.score is not None]
    qc = [*(qualities or {}).values(), *(competencies or {}).values()]
    all_t = all(r == "T" for r in ratings) and all(q == "T" for q in qc)
    if all_t and all(s >= 9 for s in scores):
        return "hoan_thanh_xuat_sac"
    if all_t and all(s >= 7 for s in scores):
        return "hoan_thanh_tot"
    if (
        all(r in ("T", "H") for r in ratings)
        and all(q in ("T", "D") for q in qc)
        and all(s >= 5 for s in scores)
    ):
        return "hoan_thanh"
    return "chua_hoan_thanh"


def completes_grade(level: str) -> bool:
    """Hoàn thành chương trình lớp học: a result of Hoàn thành or better (TT27/2020 Art. 11.1)."""
    return level != "chua_hoan_thanh"


def completes_primary(grade: int, level: str) -> bool:
    """Hoàn thành chương trình tiểu học: completing the grade-5 programme (TT27/2020 Art. 11.2)."""
    return grade == 5 and completes_grade(level)


def commendation(level: str, nominated_outstanding: bool = False) -> str | None:
    """Giấy khen cuối năm (TT27/2020 Art. 15.1): Học sinh Xuất sắc for Hoàn thành xuất sắc;
    Học sinh Tiêu biểu for Hoàn thành tốt with outstanding achievement the teacher nominates."""
    if level == "hoan_thanh_xuat_sac":
        return "Học sinh Xuất sắc"
    if level == "hoan_thanh_tot" and nominated_outstanding:
        return "Học sinh Tiêu biểu hoàn thành tốt trong học tập và rèn luyện"
    return None


@dataclass(frozen=True)
class PrimaryResult:
    level: str
    level_label: str
    completed_grade: bool
    completed_primary: bool
    commendation: str | None
    days_absent: int


def evaluate_year(year: PrimaryYear) -> PrimaryResult:
    """Everything the record book states at the end of a primary year (TT27/2020 Art. 9, 11, 15)."""
    level = year_level(year.subjects, year.qualities, year.competencies)
    return PrimaryResult(
        level,
        LEVEL_LABELS[level],
        completes_grade(level),
        completes_primary(year.grade, level),
        commendation(level, year.nominated_outstanding),
        year.days_absent,
    )
