"""Secondary school (TT22/2021) against the real local broker and database: a school system's
feed on Kafka, a gradebook over HTTP, the close, the class lists, the summer re-assessment."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import klass, school, secondary_year, student  # noqa: E402
from hocba_assessment.bootstrap import Assessment  # noqa: E402
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads import assessment as ev  # noqa: E402
from hocba_contracts.payloads import records as rec  # noqa: E402
from hocba_contracts.payloads.common import ClassProfile, StudentProfile  # noqa: E402
from hocba_contracts.topics import ASSESSMENT_EVENTS, ASSESSMENT_INGEST, RECORDS_EVENTS  # noqa: E402
from hocba_devstack.testing import (  # noqa: E402
    TEST_SCHOOL_SYSTEM,
    LocalInfra,
    eventually,
    payloads,
    produce,
    read_topic,
)

pytestmark = pytest.mark.integration


async def enrol(
    assessment: Assessment,
    local_infra: LocalInfra,
    cls: ClassProfile,
    pupils: list[StudentProfile],
) -> None:
    await produce(
        local_infra.kafka_bootstrap,
        RECORDS_EVENTS.name,
        [
            make_envelope(
                rec.StudentEnrolled(
                    enrollment_id=f"{cls.class_id}:{s.student_id}",
                    school_year=cls.school_year,
                    student=s,
                    school=school(),
                    class_info=cls,
                ),
                source="hocba/records",
            )
            for s in pupils
        ],
    )

    async def enrolled_all() -> bool | None:
        return (
            len(await assessment.app.state.reader.roster(cls.class_id, cls.school_year))
            == len(pupils)
            or None
        )

    await eventually(enrolled_all, timeout=30)


async def test_an_upper_secondary_feed_on_kafka_closes_into_records_with_averages_and_promotion(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    cls = klass(grade=10)
    good, weak = student(), student()
    await enrol(assessment, local_infra, cls, [good, weak])
    src = TEST_SCHOOL_SYSTEM
    feed = [
        *secondary_year(cls, good.student_id, 8.0, overrides={"TOAN": 9.6}),
        *secondary_year(
            cls, weak.student_id, 7.0, overrides={"LS": 2.0, "VL": 4.0}, conduct=("kha", "tot")
        ),
        ev.AttendanceReported(
            class_id=cls.class_id,
            school_year=cls.school_year,
            student_id=weak.student_id,
            days_absent=12,
        ),
    ]
    # A comment subject sent a score: dead-lettered with its reason, the rest of the feed stored.
    bad = ev.SecondaryAssessmentSubmitted(
        class_id=cls.class_id,
        school_year=cls.school_year,
        student_id=good.student_id,
        subject_code="GDTC",
        term=1,
        kind="mid_term",
        score=8.0,
    )
    close = ev.ClassYearCloseRequested(
        class_id=cls.class_id, school_year=cls.school_year, requested_by="GV-01"
    )
    envelopes = [make_envelope(item, source=src) for item in [*feed, bad, close]]
    await produce(
        local_infra.kafka_bootstrap, ASSESSMENT_INGEST.name, envelopes, key=cls.class_id.encode()
    )

    def mine(msgs: list[Any]) -> dict[str, Any]:
        return {
            p["data"]["student"]["student_id"]: p["data"]
            for p in payloads(msgs)
            if p["data"]["class_info"]["class_id"] == cls.class_id
        }

    out = mine(
        await read_topic(
            local_infra.kafka_bootstrap,
            ASSESSMENT_EVENTS.name,
            until=lambda m: len(mine(m)) >= 2,
            timeout=60,
        )
    )
    g = out[good.student_id]
    assert (
        g["result"]["rules"],
        g["result"]["level"],
        g["result"]["conduct"],
        g["result"]["promotion"],
    ) == ("TT22/2021", "tot", "tot", "len_lop")
    toan = next(s for s in g["subjects"] if s["subject_code"] == "TOAN")
    assert (toan["year_average"], toan["result_label"]) == (9.6, "9.6")
    assert {s["subject_code"] for s in g["subjects"]} >= {"VL", "HH", "SH", "TIN", "GDQPAN"}
    w = out[weak.student_id]["result"]
    # LS 2.0 is below 3.5: Chưa đạt, and both LS and VL (below 5.0) are retaken in the summer.
    assert (w["level"], w["conduct"], w["promotion"], w["retake_subjects"], w["days_absent"]) == (
        "chua_dat",
        "tot",
        "kiem_tra_lai",
        ["LS", "VL"],
        12,
    )
    dead = await read_topic(
        local_infra.kafka_bootstrap,
        ASSESSMENT_INGEST.dead_letter,
        until=lambda m: any(envelopes[-2].id.encode() in x.value for x in m),
        timeout=30,
    )
    errors = [
        dict(x.headers)["hocba-error"].decode()
        for x in dead
        if envelopes[-2].id.encode() in x.value
    ]
    assert "GDTC" in errors[0] and "by comment" in errors[0]


async def test_a_gradebook_over_http_an_incomplete_close_refused_lists_and_the_summer_retake(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    cls = klass(grade=6)
    good, weak, late = student(), student(), student()
    await enrol(assessment, local_infra, cls, [good, weak, late])
    feed = [
        *secondary_year(cls, good.student_id, 8.0),
        *secondary_year(cls, weak.student_id, 6.0, overrides={"TOAN": 4.0, "NV": 3.0}),
        *secondary_year(cls, late.student_id, 7.0, skip={("KHTN", "end_term_2")}),
    ]
    body = {
        "secondary": [
            i.model_dump(mode="json")
            for i in feed
            if isinstance(i, ev.SecondaryAssessmentSubmitted)
        ],
        "conduct": [i.model_dump(mode="json") for i in feed if isinstance(i, ev.ConductAssessed)],
    }
    bad = {**body["secondary"][0], "student_id": "HS-NOT-IN-CLASS"}
    body["secondary"].append(bad)
    params = {"school_year": cls.school_year}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=assessment.app),
        base_url="http://t",
        headers=local_infra.system_headers(),
    ) as http:
        r = (await http.post("/assessments", json=body)).json()
        assert r["accepted"] == len(feed) and [
            (x["list"], x["index"], x["field"]) for x in r["rejected"]
        ] == [("secondary", len(body["secondary"]) - 1, "student_id")]
        close = {"school_year": cls.school_year, "requested_by": "GV-01"}
        refused = await http.post(f"/classes/{cls.class_id}/close", json=close)
        error = refused.json()["error"]
        assert refused.status_code == 422 and error["code"] == "incomplete_assessments"
        assert [(d["student_id"], d["field"]) for d in error["details"]] == [
            (late.student_id, "KHTN")
        ]
        assert "end_term_2" in error["details"][0]["problem"] and late.full_name not in str(error)
        # Nothing was closed: the missing score is still taken.
        missing = ev.SecondaryAssessmentSubmitted(
            class_id=cls.class_id,
            school_year=cls.school_year,
            student_id=late.student_id,
            subject_code="KHTN",
            term=2,
            kind="end_term",
            score=7.0,
        )
        assert (
            await http.post("/assessments", json={"secondary": [missing.model_dump(mode="json")]})
        ).json()["accepted"] == 1
        assert (await http.post(f"/classes/{cls.class_id}/close", json=close)).json()[
            "records"
        ] == 3

        lists = (
            await http.get(f"/classes/{cls.class_id}/lists", params={**params, "format": "json"})
        ).json()["lists"]
        assert [s["student_id"] for s in lists["kiem_tra_lai"]["students"]] == [weak.student_id]
        assert lists["kiem_tra_lai"]["students"][0]["note"] == "Môn: Ngữ văn, Toán"
        assert sorted(s["student_id"] for s in lists["len_lop"]["students"]) == sorted(
            [good.student_id, late.student_id]
        )
        assert [s["note"] for s in lists["danh_hieu"]["students"]] == ["Học sinh Giỏi"]
        assert lists["chua_du_danh_gia"]["students"] == []
        page = await http.get(f"/classes/{cls.class_id}/lists", params=params)
        assert "Học sinh kiểm tra lại các môn học trong kỳ nghỉ hè (1)" in page.text

        summer = {
            "school_year": cls.school_year,
            "assessed_by": "GV-TOAN",
            "reason": "Kiểm tra lại trong hè",
        }
        wrong = await http.post(
            f"/classes/{cls.class_id}/students/{weak.student_id}/summer-reassessment",
            json={**summer, "retakes": {"TOAN": 6.5}},
        )
        assert wrong.status_code == 422 and "NV, TOAN" in wrong.json()["error"]["message"]
        ok = await http.post(
            f"/classes/{cls.class_id}/students/{weak.student_id}/summer-reassessment",
            json={**summer, "retakes": {"TOAN": 6.5, "NV": 5.5}},
        )
        assert ok.json()["records"] == 1
        card = await http.get(
            f"/classes/{cls.class_id}/students/{weak.student_id}/report-card", params=params
        )
        assert (
            "ĐTB HK I" in card.text and "thi lại: 6.5" in card.text and "Được lên lớp" in card.text
        )

    def mine(msgs: list[Any]) -> list[Any]:
        return [
            p["data"]
            for p in payloads(msgs)
            if p["data"]["student"]["student_id"] == weak.student_id
        ]

    out = mine(
        await read_topic(
            local_infra.kafka_bootstrap,
            ASSESSMENT_EVENTS.name,
            until=lambda m: len(mine(m)) >= 2,
            timeout=30,
        )
    )
    assert [
        (d["record_version"], d["result"]["promotion"], d["result"]["reassessed"]) for d in out
    ] == [(1, "kiem_tra_lai", False), (2, "len_lop", True)]


async def test_a_secondary_term_gradebook_spreadsheet_stores_good_cells_and_names_each_bad_one(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    cls = klass(grade=8)
    first, second = sorted([student(), student()], key=lambda s: s.student_id)
    await enrol(assessment, local_infra, cls, [first, second])
    params = {"school_year": cls.school_year}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=assessment.app),
        base_url="http://t",
        headers=local_infra.system_headers(),
    ) as http:
        no_term = await http.get(f"/classes/{cls.class_id}/gradebook-template", params=params)
        assert no_term.status_code == 422 and no_term.json()["error"]["code"] == "term_required"
        r = await http.get(
            f"/classes/{cls.class_id}/gradebook-template", params={**params, "term": 1}
        )
        wb = load_workbook(io.BytesIO(r.content))
        ws = wb.active
        assert isinstance(ws, Worksheet)
        header = [c.value for c in ws[1]]
        col = {
            h.rsplit("(", 1)[1].rstrip(")"): i + 1
            for i, h in enumerate(header)
            if isinstance(h, str) and h.endswith(")") and ":" in h
        }
        assert (
            "TOAN:regular_4" in col and "TOAN:regular_5" not in col and "GDCD:regular_3" not in col
        )  # 140 vs 35 periods
        assert "Rèn luyện – T/K/Đ/CĐ (CONDUCT:conduct)" in header
        for i, value in enumerate((8, 7.5, 9, 8), start=1):
            ws.cell(row=2, column=col[f"TOAN:regular_{i}"], value=value)
        ws.cell(row=2, column=col["TOAN:mid_term"], value=8)
        ws.cell(row=2, column=col["TOAN:end_term"], value=9)
        ws.cell(row=2, column=col["TOAN:comment"], value="Tiến bộ rõ")
        ws.cell(row=2, column=col["GDTC:regular_1"], value="Đ")
        ws.cell(row=2, column=col["CONDUCT:conduct"], value="T")
        ws.cell(row=3, column=col["TOAN:regular_1"], value="tám")  # not a number
        ws.cell(row=3, column=col["GDTC:mid_term"], value=8)  # a comment subject given a score
        ws.cell(row=3, column=col["NV:end_term"], value=10.5)  # out of range
        ws.cell(row=3, column=col["CONDUCT:conduct"], value="X")  # no such level
        ws.cell(row=3, column=col["KHTN:mid_term"], value="7,5")  # fine (decimal comma)
        out = io.BytesIO()
        wb.save(out)
        r = await http.post(
            f"/classes/{cls.class_id}/gradebook",
            params={**params, "term": 1, "submitted_by": "GV-01"},
            files={"file": ("so-diem-hk1.xlsx", out.getvalue(), "application/octet-stream")},
        )
        body = r.json()
        assert body["accepted"] == 9
        assert sorted((x["row"], x["subject_code"], x["field"]) for x in body["rejected"]) == [
            (3, "GDTC", "score"),
            (3, "NV", "score"),
            (3, "TOAN", "regular_1"),
            (3, "conduct", "conduct"),
        ]
        assert all(second.full_name not in x["problem"] for x in body["rejected"])
        card = await http.get(
            f"/classes/{cls.class_id}/students/{first.student_id}/report-card", params=params
        )
        assert (
            "8 7.5 9 8" in card.text and "Tiến bộ rõ" in card.text and "Rèn luyện HK I" in card.text
        )
        marks = await assessment.app.state.reader.marks(cls.class_id, cls.school_year)
        assert {
            (m.subject_code, m.period, m.score) for m in marks if m.student_id == second.student_id
        } == {("KHTN", "mid_term_1", 7.5)}
