"""Spreadsheets in, corrections and the logged unlock path, against the real broker and database."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import full_year, klass, mark, school, student  # noqa: E402
from hocba_assessment.bootstrap import Assessment  # noqa: E402
from hocba_assessment.domain.model import ClassProfileUpdate, RosterEntry  # noqa: E402
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads import records as rec  # noqa: E402
from hocba_contracts.topics import ASSESSMENT_EVENTS, RECORDS_EVENTS  # noqa: E402
from hocba_devstack.testing import (  # noqa: E402
    LocalInfra,
    eventually,
    payloads,
    produce,
    read_topic,
)

pytestmark = pytest.mark.integration


async def test_spreadsheet_with_bad_rows_stores_the_good_ones_and_reports_each_problem(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    cls = klass(grade=4)
    pupils = [student() for _ in range(3)]
    await produce(
        local_infra.kafka_bootstrap,
        RECORDS_EVENTS.name,
        [
            make_envelope(
                rec.StudentEnrolled(
                    enrollment_id=f"e-{s.student_id}",
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
    params = {"school_year": cls.school_year, "period": "end_of_year"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=assessment.app),
        base_url="http://t",
        headers=local_infra.system_headers(),
    ) as http:

        async def template() -> httpx.Response | None:
            # Ready once the roster holds all three students (enrollments arrive as events).
            r = await http.get(
                f"/classes/{cls.class_id}/gradebook-template", params={**params, "format": "csv"}
            )
            if r.status_code != 200 or len(r.content.decode("utf-8-sig").splitlines()) < 4:
                return None
            return await http.get(f"/classes/{cls.class_id}/gradebook-template", params=params)

        r = await eventually(template, timeout=30)
        wb = load_workbook(io.BytesIO(r.content))
        ws = wb.active
        assert isinstance(ws, Worksheet)
        header = [c.value for c in ws[1]]
        col = {
            h.rsplit("(", 1)[1].rstrip(")"): i + 1
            for i, h in enumerate(header)
            if isinstance(h, str) and h.endswith(")") and ":" in h
        }
        assert [ws.cell(row=i, column=1).value for i in (2, 3, 4)] == sorted(
            s.student_id for s in pupils
        )
        assert "Khoa học – điểm KTĐK (KH:score)" in header
        good, bad, third = (ws.cell(row=i, column=1).value for i in (2, 3, 4))
        assert isinstance(bad, str)
        for code in ("TV", "TOAN", "DD", "KH", "LSDL", "TA", "TH", "GDTC", "AN", "MT", "HDTN"):
            ws.cell(row=2, column=col[f"{code}:rating"], value="T")
            if f"{code}:score" in col:
                ws.cell(row=2, column=col[f"{code}:score"], value=9)
        ws.cell(row=3, column=col["TV:rating"], value="T")
        ws.cell(row=3, column=col["TV:score"], value="chín")  # not a number
        ws.cell(row=3, column=col["TOAN:rating"], value="H")
        ws.cell(row=3, column=col["TOAN:score"], value=11)  # out of range
        ws.cell(row=3, column=col["DD:rating"], value="X")  # no such rating
        ws.cell(row=3, column=col["KH:comment"], value="Chăm chỉ")  # a comment alone
        ws.cell(row=3, column=col["AN:rating"], value="H")  # fine
        ws.cell(row=4, column=col["MT:rating"], value="T")
        ws.cell(row=4, column=col["MT:comment"], value="Vẽ đẹp")  # fine, no score column for MT
        ws.cell(row=5, column=1, value="HS-NOT-IN-CLASS")
        ws.cell(row=5, column=col["TV:rating"], value="T")
        out = io.BytesIO()
        wb.save(out)
        r = await http.post(
            f"/classes/{cls.class_id}/gradebook",
            params={**params, "submitted_by": "GV-01"},
            files={"file": ("so-diem.xlsx", out.getvalue(), "application/octet-stream")},
        )
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["accepted"] == 11 + 1 + 1
        problems = {(p["row"], p["subject_code"], p["field"]) for p in report["rejected"]}
        assert problems == {
            (3, "TV", "score"),
            (3, "TOAN", "score"),
            (3, "DD", "rating"),
            (3, "KH", "rating"),
            (5, "TV", "student_id"),
        }
        assert all(p["problem"] for p in report["rejected"])

        again = await http.post(
            f"/classes/{cls.class_id}/gradebook",
            params={**params, "submitted_by": "GV-01"},
            files={"file": ("so-diem.xlsx", out.getvalue(), "application/octet-stream")},
        )
        assert again.json()["accepted"] == 0 and again.json()["unchanged"] == 13

        csv_template = await http.get(
            f"/classes/{cls.class_id}/gradebook-template", params={**params, "format": "csv"}
        )
        lines = csv_template.content.decode("utf-8-sig").splitlines()
        header_row = lines[0].split(",")
        row = [bad, ""] + [""] * (len(header_row) - 2)
        row[header_row.index("Tiếng Việt – điểm KTĐK (TV:score)")] = "8"
        row[header_row.index("Tiếng Việt – mức (T/H/C) (TV:rating)")] = "H"
        csv_body = "\n".join([lines[0], ",".join(row)]).encode("utf-8")
        r = await http.post(
            f"/classes/{cls.class_id}/gradebook",
            params={**params, "submitted_by": "GV-01"},
            files={"file": ("so-diem.csv", csv_body, "text/csv")},
        )
        assert r.json() == {"accepted": 1, "unchanged": 0, "rejected": []}

        unreadable = await http.post(
            f"/classes/{cls.class_id}/gradebook",
            params={**params, "submitted_by": "GV-01"},
            files={"file": ("x.xlsx", b"PK not really", "application/octet-stream")},
        )
        assert (
            unreadable.status_code == 422
            and unreadable.json()["error"]["code"] == "unreadable_spreadsheet"
        )


async def test_a_correction_after_closing_goes_through_the_logged_unlock_and_gives_version_two(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    cls = klass(grade=1)
    pupil = student()
    await assessment.service.record_enrollment(RosterEntry(pupil, school(), cls))

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=assessment.app),
        base_url="http://t",
        headers=local_infra.system_headers(),
    ) as http:
        items = [m.model_dump(mode="json") for m in full_year(cls, pupil.student_id, score=9)]
        assert (await http.post("/assessments", json={"items": items})).json()["accepted"] == len(
            items
        )
        close = {"school_year": cls.school_year, "requested_by": "GV-01"}
        assert (await http.post(f"/classes/{cls.class_id}/close", json=close)).json()[
            "records"
        ] == 1
        fix = mark(cls, pupil.student_id, "TOAN", "H", 6).model_dump(mode="json") | {
            "submitted_by": "GV-01"
        }
        refused = await http.post("/assessments", json={"items": [fix], "reason": "phúc khảo"})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "class_closed"
        admin = local_infra.headers("school_admin", cls.school_id, "ADMIN-01")
        no_reason = await http.post(
            f"/classes/{cls.class_id}/unlock",
            json={"school_year": cls.school_year, "approved_by": "ADMIN", "reason": ""},
            headers=admin,
        )
        assert no_reason.status_code == 422
        # Only a school administrator unlocks: not the school system, not the principal.
        for other in (
            local_infra.system_headers(),
            local_infra.headers("principal", cls.school_id, f"{cls.school_id}-HT"),
        ):
            denied = await http.post(
                f"/classes/{cls.class_id}/unlock",
                headers=other,
                json={"school_year": cls.school_year, "reason": "Phúc khảo bài kiểm tra Toán"},
            )
            assert denied.status_code == 403
        too_long = await http.post(
            f"/classes/{cls.class_id}/unlock",
            json={"school_year": cls.school_year, "reason": "x" * 501},
            headers=admin,
        )
        assert too_long.status_code == 422
        r = await http.post(
            f"/classes/{cls.class_id}/unlock",
            json={
                "school_year": cls.school_year,
                "approved_by": "ADMIN-01",
                "reason": " Sai điểm Toán cuối năm ",
            },
            headers=admin,
        )
        assert r.status_code == 200
        assert (
            await http.post("/assessments", json={"items": [fix], "reason": "Điểm sau phúc khảo"})
        ).json()["accepted"] == 1
        assert (await http.post(f"/classes/{cls.class_id}/close", json=close)).json()[
            "records"
        ] == 1
        assert (await http.post(f"/classes/{cls.class_id}/close", json=close)).json()[
            "records"
        ] == 0
        trail = (
            await http.get(
                f"/classes/{cls.class_id}/audit",
                params={"school_year": cls.school_year},
                headers=admin,
            )
        ).json()
        assert [e["action"] for e in trail] == ["close", "unlock", "correction", "close"]
        correction = trail[2]
        assert (
            correction["by"],
            correction["old"]["score"],
            correction["new"]["score"],
            correction["reason"],
        ) == ("GV-01", 9, 6, "Điểm sau phúc khảo")
        assert (trail[1]["by"], trail[1]["reason"]) == ("ADMIN-01", "Sai điểm Toán cuối năm")

        lists = (
            await http.get(
                f"/classes/{cls.class_id}/lists",
                params={"school_year": cls.school_year, "format": "json"},
            )
        ).json()
        completed = lists["lists"]["hoan_thanh_chuong_trinh"]["students"]
        assert [(r["student_id"], r["level_label"]) for r in completed] == [
            (pupil.student_id, "Hoàn thành")
        ]
        assert lists["lists"]["khen_thuong"]["students"] == [] and lists["closed"] is True
        page = await http.get(
            f"/classes/{cls.class_id}/lists", params={"school_year": cls.school_year}
        )
        assert (
            "Học sinh hoàn thành chương trình lớp học (1)" in page.text
            and pupil.full_name in page.text
        )
        sheet = await http.get(
            f"/classes/{cls.class_id}/lists",
            params={"school_year": cls.school_year, "format": "xlsx"},
        )
        assert (
            load_workbook(io.BytesIO(sheet.content))["hoan_thanh_chuong_trinh"]["B3"].value
            == pupil.full_name
        )
        card = await http.get(
            f"/classes/{cls.class_id}/students/{pupil.student_id}/report-card",
            params={"school_year": cls.school_year},
        )
        assert (
            card.status_code == 200 and "Phiếu điểm" in card.text and pupil.full_name in card.text
        )
        assert "Toán" in card.text and "Điểm sau phúc khảo" not in card.text

    def mine(msgs: list[Any]) -> list[dict[str, Any]]:
        return [
            p["data"]
            for p in payloads(msgs)
            if p["data"]["student"]["student_id"] == pupil.student_id
        ]

    out = mine(
        await read_topic(
            local_infra.kafka_bootstrap,
            ASSESSMENT_EVENTS.name,
            until=lambda m: len(mine(m)) >= 2,
            timeout=30,
        )
    )
    assert [(d["record_version"], d["result"]["level"]) for d in out] == [
        (1, "hoan_thanh_xuat_sac"),
        (2, "hoan_thanh"),
    ]
    # Version 2 says why it supersedes version 1: the unlock, as the audit trail logged it.
    assert out[0]["correction"] is None
    assert out[1]["correction"] == {
        "kind": "unlock",
        "reason": "Sai điểm Toán cuối năm",
        "approved_by": "ADMIN-01",
        "at": trail[1]["at"].replace("+00:00", "Z"),
    }


async def test_a_reclose_over_kafka_after_an_unlock_on_another_replica_carries_the_correction(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    from hocba_assessment.adapters.mongo_assessment import (
        MongoAssessmentUnitOfWork,
        MongoMarkStore,
    )
    from hocba_assessment.application.use_cases import AssessmentService
    from hocba_contracts.payloads import assessment as ev
    from hocba_contracts.topics import ASSESSMENT_INGEST
    from hocba_devstack.testing import TEST_SCHOOL_SYSTEM
    from hocba_runtime.uow import MongoUnitOfWork

    cls = klass(grade=1)
    pupil = student()
    await assessment.service.record_enrollment(RosterEntry(pupil, school(), cls))
    mongo = assessment.runtime.mongo
    # Another replica's use cases: the same database, nothing shared in memory.
    other = AssessmentService(
        MongoAssessmentUnitOfWork(
            mongo, MongoUnitOfWork(mongo, assessment.runtime.outbox, "assessment")
        ),
        MongoMarkStore(mongo),
    )
    close = ev.ClassYearCloseRequested(
        class_id=cls.class_id, school_year=cls.school_year, requested_by="GV-01"
    )

    def mine(msgs: list[Any]) -> list[dict[str, Any]]:
        return [
            p["data"]
            for p in payloads(msgs)
            if p["data"]["student"]["student_id"] == pupil.student_id
        ]

    async def feed(*items: Any) -> None:
        await produce(
            local_infra.kafka_bootstrap,
            ASSESSMENT_INGEST.name,
            [make_envelope(i, source=TEST_SCHOOL_SYSTEM) for i in items],
            key=cls.class_id.encode(),
        )

    await feed(*full_year(cls, pupil.student_id, score=9), close)
    await read_topic(
        local_infra.kafka_bootstrap,
        ASSESSMENT_EVENTS.name,
        until=lambda m: len(mine(m)) >= 1,
        timeout=30,
    )
    await other.unlock(cls.class_id, cls.school_year, "ADMIN-01", "Sai điểm Toán cuối năm")
    await feed(mark(cls, pupil.student_id, "TOAN", "H", 6), close)
    out = mine(
        await read_topic(
            local_infra.kafka_bootstrap,
            ASSESSMENT_EVENTS.name,
            until=lambda m: len(mine(m)) >= 2,
            timeout=30,
        )
    )
    assert [(d["record_version"], d["correction"]) for d in out][0] == (1, None)
    second = out[1]
    assert second["record_version"] == 2
    assert {k: second["correction"][k] for k in ("kind", "reason", "approved_by")} == {
        "kind": "unlock",
        "reason": "Sai điểm Toán cuối năm",
        "approved_by": "ADMIN-01",
    }


async def test_a_refusal_to_sign_comes_back_into_the_class_audit_trail(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    from hocba_contracts.payloads.signing import SigningRejected
    from hocba_contracts.topics import SIGNING_EVENTS

    cls = klass(grade=2)
    refusal = make_envelope(
        SigningRejected(
            record_id="HS-X.2024-2025",
            record_version=1,
            student_id="HS-X",
            class_id=cls.class_id,
            school_year=cls.school_year,
            role="principal",
            signer_id="HT-01",
            reason="Thiếu nhận xét môn Tiếng Việt",
        ),
        source="hocba/signing",
    )
    await assessment.service.record_roster(
        [ClassProfileUpdate(cls, datetime.now(UTC))], []
    )  # records registered it
    await produce(local_infra.kafka_bootstrap, SIGNING_EVENTS.name, [refusal, refusal])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=assessment.app),
        base_url="http://t",
        headers=local_infra.system_headers(),
    ) as http:

        async def trail() -> Any:
            r = await http.get(
                f"/classes/{cls.class_id}/audit",
                params={"school_year": cls.school_year},
                headers=local_infra.headers("auditor"),
            )
            assert r.status_code == 200, r.text
            return r.json()

        entries = await eventually(trail, timeout=30)
        assert [(e["action"], e["by"], e["key"]) for e in entries] == [
            ("signing_rejected", "HT-01", "HS-X.2024-2025")
        ]
        assert "Thiếu nhận xét" in entries[0]["reason"]
