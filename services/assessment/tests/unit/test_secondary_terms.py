"""The closed secondary record states the academic result of term I, term II and the year, each
with its own Art. 9.3 adjustment (Thông tư 22/2021 Art. 9), from the assessments as submitted."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import (  # noqa: E402
    FakeMarkStore,
    FakeReader,
    FakeStore,
    klass,
    school,
    secondary_year,
    student,
)
from hocba_assessment.application.use_cases import AssessmentService  # noqa: E402
from hocba_assessment.domain.model import RosterEntry  # noqa: E402
from hocba_contracts.payloads import assessment as ev  # noqa: E402

pytestmark = pytest.mark.unit


def per_term(items: list[Any], scores: dict[tuple[str, int], float]) -> list[Any]:
    """Every assessment of (subject, term) in `scores` at that score instead."""
    return [
        i.model_copy(update={"score": scores[(i.subject_code, i.term)]})
        if isinstance(i, ev.SecondaryAssessmentSubmitted) and (i.subject_code, i.term) in scores
        else i
        for i in items
    ]


async def close(grade: int, feeds: dict[str, list[Any]]) -> dict[str, ev.YearRecordClosed]:
    store = FakeStore()
    svc = AssessmentService(store, FakeMarkStore(store))
    cls = klass(grade=grade)
    await svc.record_class(cls.class_id, grade)
    pupils = {key: student() for key in feeds}
    await svc.record_roster([], [(RosterEntry(p, school(), cls), None) for p in pupils.values()])
    feed = [
        item.model_copy(
            update={
                "class_id": cls.class_id,
                "school_year": cls.school_year,
                "student_id": pupils[key].student_id,
            }
        )
        for key, items in feeds.items()
        for item in items
    ]
    outcomes = await svc.ingest([(f"e{i}", item) for i, item in enumerate(feed)])
    assert {o.status for o in outcomes} == {"accepted"}
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    by_id = {
        e.data.student.student_id: e.data
        for _, e in store.emitted
        if isinstance(e.data, ev.YearRecordClosed)
    }
    return {key: by_id[p.student_id] for key, p in pupils.items()}


def stated(r: ev.AcademicResult | None) -> tuple[str, str, str | None] | None:
    return None if r is None else (r.level, r.unadjusted_level, r.adjusted_for)


async def test_terms_and_year_each_carry_their_own_adjustment_onto_the_record() -> None:
    base = klass(grade=7)
    # Worked example S-AT-01: CN pulls term I down, TIN term II (to Chưa đạt) and the year.
    mixed = per_term(
        secondary_year(base, "X", 9.0, overrides={"TIN": 8.0}),
        {("CN", 1): 4.0, ("CN", 2): 8.0, ("TIN", 2): 3.0},
    )
    steady = secondary_year(base, "X", 9.0)
    out = await close(7, {"mixed": mixed, "steady": steady})
    r = out["mixed"].result
    assert stated(r.academic_term1) == ("kha", "dat", "CN")
    assert stated(r.academic_term2) == ("dat", "chua_dat", "TIN")
    assert stated(r.academic_full_year) == ("kha", "dat", "TIN")
    assert (r.term1_level, r.term2_level, r.level, r.level_label) == ("kha", "dat", "kha", "Khá")
    assert r.academic_term1 is not None and r.academic_term2 is not None
    assert (r.academic_term1.level_label, r.academic_term2.level_label) == ("Khá", "Đạt")
    assert r.commendation is None  # an adjusted Khá is no Tốt: no title
    tin = next(s for s in out["mixed"].subjects if s.subject_code == "TIN")
    assert (tin.term1_average, tin.term2_average, tin.year_average) == (8.0, 3.0, 4.7)
    s = out["steady"].result
    assert [stated(x) for x in (s.academic_term1, s.academic_term2, s.academic_full_year)] == [
        ("tot", "tot", None)
    ] * 3


async def test_the_year_is_adjusted_though_neither_term_is() -> None:
    base = klass(grade=7)
    # Worked example S-AT-03: two subjects below the floor in each term, only CN in the year.
    items = per_term(secondary_year(base, "X", 9.0, overrides={"CN": 4.0}), {("TIN", 2): 6.0})
    items = [
        i.model_copy(update={"rating": "CD"})
        if isinstance(i, ev.SecondaryAssessmentSubmitted)
        and i.subject_code == "GDTC"
        and i.term == 1
        and i.kind == "end_term"
        else i
        for i in items
    ]
    r = (await close(7, {"one": items}))["one"].result
    assert [stated(x) for x in (r.academic_term1, r.academic_term2)] == [("dat", "dat", None)] * 2
    assert stated(r.academic_full_year) == ("kha", "dat", "CN")
    assert r.level == "kha" and r.promotion == "len_lop"


async def test_a_summer_retake_restates_the_year_and_keeps_the_close_s_results() -> None:
    base = klass(grade=8)
    weak = secondary_year(base, "X", 8.5, overrides={"TOAN": 3.0, "NV": 3.0})
    store = FakeStore()
    svc = AssessmentService(store, FakeMarkStore(store))
    cls = klass(grade=8)
    await svc.record_class(cls.class_id, 8)
    pupil = student()
    await svc.record_roster([], [(RosterEntry(pupil, school(), cls), None)])
    feed = [
        i.model_copy(
            update={
                "class_id": cls.class_id,
                "school_year": cls.school_year,
                "student_id": pupil.student_id,
            }
        )
        for i in weak
    ]
    await svc.ingest([(f"e{i}", item) for i, item in enumerate(feed)])
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    assert (
        await svc.reassess(
            cls.class_id, cls.school_year, pupil.student_id, "GV-TOAN", {"TOAN": 5, "NV": 6}, None
        )
        == 1
    )
    last = [e.data for _, e in store.emitted if isinstance(e.data, ev.YearRecordClosed)][-1]
    assert (last.record_version, last.result.reassessed, last.result.level) == (2, True, "kha")
    # The close's year result stays stated: two subjects below 3.5, Chưa đạt with no adjustment.
    assert stated(last.result.academic_full_year) == ("chua_dat", "chua_dat", None)
    assert stated(last.result.academic_term2) == ("chua_dat", "chua_dat", None)


async def test_the_class_lists_and_the_report_card_show_each_term_and_the_year_with_its_adjustment() -> (
    None
):
    from hocba_assessment.application import reports
    from jinja2 import Environment, PackageLoader, select_autoescape

    store = FakeStore()
    svc = AssessmentService(store, FakeMarkStore(store))
    cls = klass(grade=7)
    await svc.record_class(cls.class_id, 7)
    pupil, steady = student(), student()
    await svc.record_roster([], [(RosterEntry(p, school(), cls), None) for p in (pupil, steady)])
    feed = [
        *per_term(
            secondary_year(cls, pupil.student_id, 9.0, overrides={"TIN": 8.0}),
            {("CN", 1): 4.0, ("CN", 2): 8.0, ("TIN", 2): 3.0},
        ),
        *secondary_year(cls, steady.student_id, 9.0),
    ]
    await svc.ingest([(f"e{i}", item) for i, item in enumerate(feed)])
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    reader = FakeReader(store)

    lists = await reports.class_lists(reader, cls.class_id, cls.school_year)
    rows = {r["student_id"]: r for r in lists.lists["len_lop"]}
    row = rows[pupil.student_id]
    assert row["term1_label"] == "Khá (điều chỉnh từ Đạt, chỉ vì môn Công nghệ: khoản 3 Điều 9)"
    assert row["term2_label"] == "Đạt (điều chỉnh từ Chưa đạt, chỉ vì môn Tin học: khoản 3 Điều 9)"
    assert row["year_label"] == "Khá (điều chỉnh từ Đạt, chỉ vì môn Tin học: khoản 3 Điều 9)"
    assert (row["level_label"], row["retake_label"]) == ("Khá", "")
    assert [rows[steady.student_id][k] for k in ("term1_label", "term2_label", "year_label")] == [
        "Tốt"
    ] * 3
    pages = Environment(
        loader=PackageLoader("hocba_assessment", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    page = pages.get_template("lists.html").render(c=lists, titles=lists.titles, nonce="n")
    assert "<th>Học tập HK I</th><th>Học tập HK II</th><th>Kết quả cả năm</th>" in page
    assert "Đạt (điều chỉnh từ Chưa đạt, chỉ vì môn Tin học: khoản 3 Điều 9)" in page

    card = await reports.report_card(reader, cls.class_id, cls.school_year, pupil.student_id)
    assert card["lines"][:3] == [
        ("Học tập HK I", "Khá (điều chỉnh từ Đạt, chỉ vì môn Công nghệ: khoản 3 Điều 9)"),
        ("Học tập HK II", "Đạt (điều chỉnh từ Chưa đạt, chỉ vì môn Tin học: khoản 3 Điều 9)"),
        ("Học tập cả năm", "Khá (điều chỉnh từ Đạt, chỉ vì môn Tin học: khoản 3 Điều 9)"),
    ]
    html = pages.get_template("report_card.html").render(r=card, nonce="n")
    assert (
        "<th>Học tập HK II</th><td>Đạt (điều chỉnh từ Chưa đạt, chỉ vì môn Tin học: khoản 3 Điều 9)</td>"
        in html
    )
