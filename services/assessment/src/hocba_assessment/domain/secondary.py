"""Secondary school evaluation: Thông tư 22/2021/TT-BGDĐT (lower and upper secondary).

Each rule is a small function citing its article. Scores are on the 10-point scale, a whole
number or one decimal (Art. 6.3); averages are rounded half up to one decimal. Comment subjects are
rated Đạt / Chưa đạt. Levels of academic result and conduct: Tốt, Khá, Đạt, Chưa đạt.

Not read against the circular's own text on this machine (no copy reachable); where
../shared/DOMAIN.md §6 says "verify", the docstring says what was assumed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from hocba_assessment.domain.primary import Problem

RULES = "TT22/2021"
LEVELS = ("chua_dat", "dat", "kha", "tot")
LEVEL_LABELS = {"tot": "Tốt", "kha": "Khá", "dat": "Đạt", "chua_dat": "Chưa đạt"}
ABSENCE_LIMIT = 45

# Subjects assessed by comment (Art. 5.1.a); every other subject is scored (Art. 5.1.b).
COMMENT_SUBJECTS = {
    "GDTC": "Giáo dục thể chất",
    "NT": "Nghệ thuật",
    "AN": "Âm nhạc",
    "MT": "Mĩ thuật",
    "GDDP": "Nội dung giáo dục của địa phương",
    "HDTN": "Hoạt động trải nghiệm, hướng nghiệp",
}
SCORED_SUBJECTS = {
    "NV": "Ngữ văn",
    "TOAN": "Toán",
    "NN1": "Ngoại ngữ 1",
    "GDCD": "Giáo dục công dân",
    "LSDL": "Lịch sử và Địa lí",
    "KHTN": "Khoa học tự nhiên",
    "CN": "Công nghệ",
    "TIN": "Tin học",
    "LS": "Lịch sử",
    "DL": "Địa lí",
    "VL": "Vật lí",
    "HH": "Hóa học",
    "SH": "Sinh học",
    "GDKTPL": "Giáo dục kinh tế và pháp luật",
    "GDQPAN": "Giáo dục quốc phòng và an ninh",
}
TENTH = Decimal("0.1")
SUBJECT_NAMES = {**SCORED_SUBJECTS, **COMMENT_SUBJECTS}

# Periods per school year of each subject in the 2018 general education programme (Thông tư
# 32/2018), from which the number of regular assessments follows (Art. 7.1.b).
_LOWER = {
    "NV": 140,
    "TOAN": 140,
    "NN1": 105,
    "GDCD": 35,
    "LSDL": 105,
    "KHTN": 140,
    "CN": 35,
    "TIN": 35,
    "GDTC": 70,
    "NT": 70,
    "HDTN": 105,
    "GDDP": 35,
}
_UPPER_CORE = {
    "NV": 105,
    "TOAN": 105,
    "NN1": 105,
    "LS": 52,
    "GDTC": 70,
    "GDQPAN": 35,
    "HDTN": 105,
    "GDDP": 35,
}
_UPPER_ELECTIVE = {
    "DL": 70,
    "GDKTPL": 70,
    "VL": 70,
    "HH": 70,
    "SH": 70,
    "CN": 70,
    "TIN": 70,
    "AN": 70,
    "MT": 70,
}
PERIODS_PER_YEAR: dict[int, dict[str, int]] = {
    6: _LOWER,
    7: _LOWER,
    8: {**_LOWER, "CN": 52},
    9: {**_LOWER, "CN": 52},
    10: {**_UPPER_CORE, **_UPPER_ELECTIVE},
    11: {**_UPPER_CORE, **_UPPER_ELECTIVE},
    12: {**_UPPER_CORE, **_UPPER_ELECTIVE},
}
ELECTIVE_BY_GRADE: dict[int, frozenset[str]] = {g: frozenset(_UPPER_ELECTIVE) for g in (10, 11, 12)}
ELECTIVES_CHOSEN = 4
KINDS = ("regular", "mid_term", "end_term")
COMMENT_RATINGS = {"D": "Đạt", "CD": "Chưa đạt"}


def subjects_for(grade: int) -> tuple[str, ...]:
    """Subjects of a secondary grade (2018 programme): lower secondary (grades 6-9) studies every one
    of its subjects; upper secondary (10-12) its compulsory subjects and the electives each student
    chose, which are all accepted here (the school system knows who chose what)."""
    if not 6 <= grade <= 12:
        raise ValueError(f"grade {grade} is not a secondary grade (6-12)")
    return tuple(PERIODS_PER_YEAR[grade])


def regular_needed(grade: int, subject_code: str) -> int:
    """Regular assessments the subject needs per term in this grade (Art. 7.1.b)."""
    return required_regular_scores(PERIODS_PER_YEAR[grade][subject_code])


def round1(value: Decimal) -> Decimal:
    """Round half up to one decimal, as averages are written (Art. 6.3, 10)."""
    return value.quantize(TENTH, rounding=ROUND_HALF_UP)


def level_index(level: str) -> int:
    return LEVELS.index(level)


def is_comment_subject(code: str) -> bool:
    return code in COMMENT_SUBJECTS


def required_regular_scores(periods_per_year: int) -> int:
    """Regular assessments (ĐĐGtx) per term (Art. 7.1.b): 2 for subjects of up to 35 periods a year,
    3 for more than 35 up to 70, 4 above 70."""
    if periods_per_year <= 0:
        raise ValueError("periods per year must be positive")
    if periods_per_year <= 35:
        return 2
    if periods_per_year <= 70:
        return 3
    return 4


def check_score(value: float | Decimal) -> str | None:
    """A score is 0-10, a whole number or one decimal (Art. 6.3). Returns what is wrong, if anything."""
    d = Decimal(str(value))
    if not Decimal(0) <= d <= Decimal(10):
        return "score must be between 0 and 10"
    if d != d.quantize(TENTH):
        return "scores have at most one decimal (TT22/2021 Art. 6.3), e.g. 7.5"
    return None


def check_assessment(
    grade: int | None,
    subject_code: str,
    kind: str,
    index: int,
    score: float | None,
    rating: str | None,
) -> list[Problem]:
    """What is wrong with one secondary assessment, if anything (Art. 5-7): the subject must be the
    grade's; a scored subject takes a score (0-10, one decimal), a comment subject a rating (Đ/CĐ);
    a term has as many regular assessments as the subject's periods call for."""
    problems: list[Problem] = []
    if grade is not None and not 6 <= grade <= 12:
        return [
            Problem(
                "class_id",
                f"the class is in grade {grade}, a primary grade: send "
                "subject_assessment_submitted events (Thông tư 27/2020) for it",
            )
        ]
    known = subject_code in (subjects_for(grade) if grade is not None else SUBJECT_NAMES)
    if not known:
        expected = (
            ", ".join(subjects_for(grade))
            if grade is not None
            else ", ".join(sorted(SUBJECT_NAMES))
        )
        where = f"grade {grade}" if grade is not None else "secondary school"
        return [
            Problem(
                "subject_code", f"{where} has no subject {subject_code}; expected one of {expected}"
            )
        ]
    if is_comment_subject(subject_code):
        if score is not None:
            problems.append(
                Problem(
                    "score",
                    f"{subject_code} is assessed by comment (Art. 5.1.a): send rating D "
                    "(Đạt) or CD (Chưa đạt), not a score",
                )
            )
        elif rating is None:
            problems.append(Problem("rating", "give the rating: D (Đạt) or CD (Chưa đạt)"))
    else:
        if rating is not None:
            problems.append(
                Problem(
                    "rating", f"{subject_code} is scored (Art. 5.1.b): send a score, not a rating"
                )
            )
        elif score is None:
            problems.append(Problem("score", "give the score, 0 to 10 with at most one decimal"))
        else:
            wrong = check_score(score)
            if wrong:
                problems.append(Problem("score", wrong))
    if kind == "regular" and grade is not None:
        needed = regular_needed(grade, subject_code)
        if index > needed:
            problems.append(
                Problem(
                    "index",
                    f"{subject_code} in grade {grade} has {needed} regular assessments a "
                    f"term (Art. 7.1.b); index must be 1 to {needed}",
                )
            )
    elif kind != "regular" and index != 1:
        problems.append(Problem("index", "only regular assessments are numbered; leave index at 1"))
    return problems


class TooFewScores(ValueError):
    """A term average needs every required assessment (Art. 7)."""


def term_average(
    regular: Sequence[float | Decimal],
    mid: float | Decimal | None,
    end: float | Decimal | None,
    required_regular: int,
) -> Decimal:
    """ĐTBmhk = (Σ ĐĐGtx + 2·ĐĐGgk + 3·ĐĐGck) / (number of ĐĐGtx + 5), one decimal (Art. 10.1).
    The regular scores are summed, not averaged first."""
    if len(regular) < required_regular:
        raise TooFewScores(f"{len(regular)} regular scores, {required_regular} needed")
    if mid is None or end is None:
        raise TooFewScores("the mid-term and end-of-term scores are both needed")
    total = (
        sum((Decimal(str(r)) for r in regular), Decimal(0))
        + 2 * Decimal(str(mid))
        + 3 * Decimal(str(end))
    )
    return round1(total / Decimal(len(regular) + 5))


def year_average(term1: Decimal, term2: Decimal) -> Decimal:
    """ĐTBmcn = (ĐTBmhkI + 2·ĐTBmhkII) / 3, one decimal (Art. 10.2)."""
    return round1((term1 + 2 * term2) / 3)


def comment_subject_term(ratings: Sequence[bool], required: int) -> bool:
    """A comment subject is Đạt for a term when the student has every required assessment and
    each is Đạt (Art. 9.1.a; DOMAIN §6 asks to verify: assumed as written there)."""
    return len(ratings) >= required and all(ratings)


def comment_subject_year(term2: bool) -> bool:
    """For the year, a comment subject's term II result stands (Art. 9.1.b)."""
    return term2


def _base_level(scored: Sequence[Decimal], comment: Sequence[bool]) -> str:
    """Art. 9.2 without the adjustment of 9.3."""
    failed_comments = sum(1 for ok in comment if not ok)

    def at_least(bound: Decimal) -> int:
        return sum(1 for s in scored if s >= bound)

    if (
        failed_comments == 0
        and all(s >= Decimal("6.5") for s in scored)
        and at_least(Decimal("8.0")) >= 6
    ):
        return "tot"
    if (
        failed_comments == 0
        and all(s >= Decimal("5.0") for s in scored)
        and at_least(Decimal("6.5")) >= 6
    ):
        return "kha"
    if (
        failed_comments <= 1
        and at_least(Decimal("5.0")) >= 6
        and all(s >= Decimal("3.5") for s in scored)
    ):
        return "dat"
    return "chua_dat"


# The every-subject floor of the two levels Art. 9.3 measures against: a scored subject's average,
# and for a comment subject Đạt (Art. 9.2.a-b).
FLOORS = {"tot": Decimal("6.5"), "kha": Decimal("5.0")}


@dataclass(frozen=True)
class AcademicResult:
    """The academic result of a term or of the year (Art. 9): `level` is what the record states;
    `unadjusted` what Art. 9.2 alone gives; when Art. 9.3 raised it, `adjusted_for` is the one
    subject that pulled it down."""

    level: str
    unadjusted: str
    adjusted_for: str | None = None

    @property
    def adjusted(self) -> bool:
        return self.adjusted_for is not None


def but_for_one(
    scored: Mapping[str, Decimal], comment: Mapping[str, bool], level: str
) -> str | None:
    """The one subject that alone keeps the result from `level` (Tốt or Khá), if there is one
    (Art. 9.3, as ../shared/DOMAIN.md §6 words it): every other subject meets every condition of
    that level, the counts of six included, and this subject fails only the level's every-subject
    floor (6.5 for Tốt, 5.0 for Khá, Đạt for a comment subject). Tested by lifting the subject to
    the floor, not above, so it never adds to an "at least six" count (the floors lie below the
    counts' bounds: 6.5 < 8.0, 5.0 < 6.5)."""
    floor = FLOORS[level]
    below = [c for c, v in scored.items() if v < floor] + [c for c, ok in comment.items() if not ok]
    if len(below) != 1:
        return None
    (code,) = below
    lifted_scores = [floor if c == code else v for c, v in scored.items()]
    lifted_comments = [True if c == code else ok for c, ok in comment.items()]
    return (
        code
        if level_index(_base_level(lifted_scores, lifted_comments)) >= level_index(level)
        else None
    )


def academic_result(scored: Mapping[str, Decimal], comment: Mapping[str, bool]) -> AcademicResult:
    """Academic result of a term or the year (Art. 9.2), from term or year averages:
    - Tốt: every comment subject Đạt; every scored subject >= 6.5 and at least six >= 8.0;
    - Khá: every comment subject Đạt; every scored subject >= 5.0 and at least six >= 6.5;
    - Đạt: at most one comment subject Chưa đạt; at least six scored subjects >= 5.0; none < 3.5;
    - Chưa đạt: otherwise.
    Adjustment (Art. 9.3): when the result falls two or more levels below Tốt or Khá only because
    of one single subject (see `but_for_one`), it is raised to the adjacent level: Tốt pulled to
    Đạt becomes Khá, Tốt or Khá pulled to Chưa đạt becomes Đạt. Each term and the year are judged
    on their own averages, so each has its own adjustment."""
    level = _base_level(list(scored.values()), list(comment.values()))
    for target in ("tot", "kha"):
        if level_index(target) - level_index(level) < 2:
            continue
        code = but_for_one(scored, comment, target)
        if code is not None:
            return AcademicResult(LEVELS[level_index(level) + 1], level, code)
    return AcademicResult(level, level)


def academic_level(scored: Mapping[str, Decimal], comment: Mapping[str, bool]) -> str:
    """The level `academic_result` states (Art. 9.2 with the adjustment of 9.3)."""
    return academic_result(scored, comment).level


def conduct_year(term1: str, term2: str) -> str:
    """Year conduct from the two terms (Art. 8.2):
    - Tốt: term II Tốt and term I at least Khá;
    - Khá: term II Khá and term I at least Đạt; or term II Đạt and term I Tốt; or term II Tốt and
      term I Đạt or Chưa đạt;
    - Đạt: term II Đạt and term I Khá, Đạt or Chưa đạt; or term II Khá and term I Chưa đạt;
    - Chưa đạt: otherwise (term II Chưa đạt)."""
    for t in (term1, term2):
        if t not in LEVELS:
            raise ValueError(f"conduct must be one of {', '.join(LEVELS)}")
    i1 = level_index(term1)
    if term2 == "tot":
        return "tot" if i1 >= level_index("kha") else "kha"
    if term2 == "kha":
        return "kha" if i1 >= level_index("dat") else "dat"
    if term2 == "dat":
        return "kha" if term1 == "tot" else "dat"
    return "chua_dat"


def title(conduct: str, academic: str, year_averages: Mapping[str, Decimal]) -> str | None:
    """Danh hiệu (Art. 15): Học sinh Xuất sắc: conduct Tốt, academic Tốt and at least six subjects
    with a year average of 9.0 or more; Học sinh Giỏi: conduct Tốt and academic Tốt."""
    if conduct != "tot" or academic != "tot":
        return None
    if sum(1 for v in year_averages.values() if v >= Decimal("9.0")) >= 6:
        return "Học sinh Xuất sắc"
    return "Học sinh Giỏi"


@dataclass(frozen=True)
class Promotion:
    outcome: str  # len_lop | kiem_tra_lai | ren_luyen_he | o_lai_lop
    label: str
    retake_subjects: tuple[str, ...] = ()


PROMOTION_LABELS = {
    "len_lop": "Được lên lớp",
    "kiem_tra_lai": "Kiểm tra lại trong hè",
    "ren_luyen_he": "Rèn luyện trong kỳ nghỉ hè",
    "o_lai_lop": "Ở lại lớp",
}


def promotion(
    conduct: str,
    academic: str,
    days_absent: int,
    year_averages: Mapping[str, Decimal],
    comment_year: Mapping[str, bool],
) -> Promotion:
    """Lên lớp (Art. 12.1): year conduct and academic result at least Đạt, and no more than 45
    sessions absent (the circular counts "buổi"). Otherwise (Art. 12.2, 13, 14):
    - more than 45 absent: ở lại lớp;
    - academic Chưa đạt with conduct at least Đạt: summer retake of the scored subjects with a year
      average below 5.0 and the comment subjects Chưa đạt;
    - conduct Chưa đạt with academic at least Đạt: conduct training in the summer;
    - both Chưa đạt: ở lại lớp (assumed: neither summer path applies to both at once)."""
    if days_absent > ABSENCE_LIMIT:
        return Promotion("o_lai_lop", PROMOTION_LABELS["o_lai_lop"])
    conduct_ok = level_index(conduct) >= level_index("dat")
    academic_ok = level_index(academic) >= level_index("dat")
    if conduct_ok and academic_ok:
        return Promotion("len_lop", PROMOTION_LABELS["len_lop"])
    if conduct_ok:
        subjects = tuple(
            sorted(
                [c for c, v in year_averages.items() if v < Decimal("5.0")]
                + [c for c, ok in comment_year.items() if not ok]
            )
        )
        return Promotion("kiem_tra_lai", PROMOTION_LABELS["kiem_tra_lai"], subjects)
    if academic_ok:
        return Promotion("ren_luyen_he", PROMOTION_LABELS["ren_luyen_he"])
    return Promotion("o_lai_lop", PROMOTION_LABELS["o_lai_lop"])


def after_retake(
    year_averages: Mapping[str, Decimal],
    comment_year: Mapping[str, bool],
    retake_scores: Mapping[str, Decimal],
    retake_comments: Mapping[str, bool],
) -> tuple[str, Promotion]:
    """Re-assessment after the summer retake (Art. 13.2): each retake result replaces the subject's
    year result; the academic result is computed again; lên lớp if it reaches Đạt, otherwise ở lại lớp."""
    scores = {**year_averages, **{k: round1(Decimal(str(v))) for k, v in retake_scores.items()}}
    comments = {**comment_year, **retake_comments}
    level = academic_level(scores, comments)
    outcome = "len_lop" if level_index(level) >= level_index("dat") else "o_lai_lop"
    return level, Promotion(outcome, PROMOTION_LABELS[outcome])


def after_conduct_training(re_assessed_conduct: str) -> Promotion:
    """After summer conduct training (Art. 14.2): lên lớp when re-assessed at least Đạt, else ở lại lớp."""
    outcome = "len_lop" if level_index(re_assessed_conduct) >= level_index("dat") else "o_lai_lop"
    return Promotion(outcome, PROMOTION_LABELS[outcome])


# -- a student's whole year ------------------------------------------------------------------------
def period_key(term: int, kind: str, index: int = 1) -> str:
    """How one assessment of a term is named: regular_1_2 (second ĐĐGtx of term I), mid_term_1,
    end_term_2."""
    return f"regular_{term}_{index}" if kind == "regular" else f"{kind}_{term}"


@dataclass(frozen=True)
class SecondaryYear:
    """What a secondary student's year is computed from."""

    grade: int
    assessments: Mapping[str, Mapping[str, Decimal | bool]]  # subject -> period key -> score or Đạt
    conduct: Mapping[int, str]  # term -> tot | kha | dat | chua_dat
    days_absent: int = 0


@dataclass(frozen=True)
class SubjectOutcome:
    code: str
    name: str
    term1: Decimal | bool
    term2: Decimal | bool
    year: Decimal | bool  # a score for scored subjects, Đạt (True) or not for comment subjects


def subject_outcome(code: str, term1: Decimal | bool, term2: Decimal | bool) -> SubjectOutcome:
    """A subject's year from its two terms: a scored subject's year average (Art. 10.2), a comment
    subject's term II result (Art. 9.1.b)."""
    if is_comment_subject(code):
        return SubjectOutcome(
            code, SUBJECT_NAMES[code], bool(term1), bool(term2), comment_subject_year(bool(term2))
        )
    t1, t2 = Decimal(str(term1)), Decimal(str(term2))
    return SubjectOutcome(code, SUBJECT_NAMES[code], t1, t2, year_average(t1, t2))


@dataclass(frozen=True)
class AcademicResults:
    """The academic results the record states (Art. 9): term I, term II and the year."""

    term1: AcademicResult
    term2: AcademicResult
    year: AcademicResult


def academic_results(subjects: Sequence[SubjectOutcome]) -> AcademicResults:
    """Term I, term II and the year, each from its own averages (term averages, year averages and
    comment results) and each with its own Art. 9.3 adjustment: an adjustment of a term neither
    makes nor prevents one of the year."""

    def of(pick: str) -> AcademicResult:
        values = {o.code: getattr(o, pick) for o in subjects}
        return academic_result(
            {c: Decimal(str(v)) for c, v in values.items() if not is_comment_subject(c)},
            {c: bool(v) for c, v in values.items() if is_comment_subject(c)},
        )

    return AcademicResults(of("term1"), of("term2"), of("year"))


@dataclass(frozen=True)
class SecondaryResult:
    subjects: tuple[SubjectOutcome, ...]
    academic_results: AcademicResults
    conduct_term1: str
    conduct_term2: str
    conduct: str
    title: str | None
    promotion: Promotion
    days_absent: int

    @property
    def term1_level(self) -> str:
        return self.academic_results.term1.level

    @property
    def term2_level(self) -> str:
        return self.academic_results.term2.level

    @property
    def academic(self) -> str:
        """The year's academic result (before any summer re-assessment)."""
        return self.academic_results.year.level


class Incomplete(ValueError):
    """The year cannot be computed yet: each problem says which assessment is missing."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.problem}" for p in problems))
        self.problems = problems


def _term(grade: int, code: str, marks: Mapping[str, Decimal | bool], term: int) -> Decimal | bool:
    needed = regular_needed(grade, code)
    regular = [
        marks[k] for i in range(1, needed + 1) if (k := period_key(term, "regular", i)) in marks
    ]
    mid, end = marks.get(period_key(term, "mid_term")), marks.get(period_key(term, "end_term"))
    if len(regular) < needed or mid is None or end is None:
        missing = [
            period_key(term, "regular", i)
            for i in range(1, needed + 1)
            if period_key(term, "regular", i) not in marks
        ]
        missing += [
            k
            for k, v in ((period_key(term, "mid_term"), mid), (period_key(term, "end_term"), end))
            if v is None
        ]
        raise TooFewScores(
            f"{code} term {term}: {len(regular)} of {needed} regular assessments, "
            f"missing {', '.join(missing)} (Art. 7, 10)"
        )
    if is_comment_subject(code):
        return comment_subject_term([bool(r) for r in regular] + [bool(mid), bool(end)], needed + 2)
    return term_average(
        [Decimal(str(r)) for r in regular], Decimal(str(mid)), Decimal(str(end)), needed
    )


def compulsory(grade: int) -> tuple[str, ...]:
    return tuple(
        c for c in subjects_for(grade) if c not in ELECTIVE_BY_GRADE.get(grade, frozenset())
    )


def evaluate_year(year: SecondaryYear) -> SecondaryResult:
    """Everything the record book states at the end of a secondary year: term and year averages
    (Art. 10), academic results of term I, term II and the year, each with its own adjustment
    (Art. 9), conduct (Art. 8), the title
    (Art. 15) and promotion (Art. 12). Raises Incomplete, naming every missing assessment, when
    the year cannot be computed."""
    problems: list[Problem] = []
    codes = [
        c for c in subjects_for(year.grade) if c in compulsory(year.grade) or c in year.assessments
    ]
    outcomes: list[SubjectOutcome] = []
    for code in codes:
        marks = year.assessments.get(code, {})
        if not marks:
            problems.append(Problem(code, "no assessments at all"))
            continue
        try:
            t1, t2 = _term(year.grade, code, marks, 1), _term(year.grade, code, marks, 2)
        except TooFewScores as exc:
            problems.append(Problem(code, str(exc)))
            continue
        outcomes.append(subject_outcome(code, t1, t2))
    electives = ELECTIVE_BY_GRADE.get(year.grade, frozenset())
    chosen = sum(1 for c in year.assessments if c in electives)
    if electives and chosen < ELECTIVES_CHOSEN:
        problems.append(
            Problem(
                "subject_code",
                f"upper secondary students study {ELECTIVES_CHOSEN} elective subjects "
                f"(Thông tư 32/2018, amended by Thông tư 13/2022); {chosen} assessed",
            )
        )
    for term in (1, 2):
        if term not in year.conduct:
            problems.append(Problem("conduct", f"no conduct (rèn luyện) for term {term}"))
    if problems:
        raise Incomplete(problems)
    results = academic_results(outcomes)
    academic = results.year.level
    conduct = conduct_year(year.conduct[1], year.conduct[2])
    averages = {o.code: Decimal(str(o.year)) for o in outcomes if not is_comment_subject(o.code)}
    comment_year = {o.code: bool(o.year) for o in outcomes if is_comment_subject(o.code)}
    return SecondaryResult(
        tuple(outcomes),
        results,
        year.conduct[1],
        year.conduct[2],
        conduct,
        title(conduct, academic, averages),
        promotion(conduct, academic, year.days_absent, averages, comment_year),
        year.days_absent,
    )
