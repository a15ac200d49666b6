"""The verifier's report: lines in Vietnamese and English for a person, or one JSON object for a
script. It names the document (id, school year, version, school) and who signed, never the child:
no name, student id, personal ID number or date of birth (DOMAIN §7b)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from hocba_verifier.checks import Exit, Finding, Outcome
from hocba_verifier.record import Record

MARKS = {
    Outcome.PASS: "✔",
    Outcome.FAIL: "✘",
    Outcome.NOT_CURRENT: "⚠",
    Outcome.UNREACHABLE: "?",
    Outcome.INPUT: "?",
}
VERDICTS = {
    Exit.VALID: ("valid", "HỢP LỆ VÀ CÒN HIỆU LỰC", "VALID AND CURRENT"),
    Exit.FAILED: ("invalid", "KHÔNG HỢP LỆ", "NOT VALID"),
    Exit.NOT_CURRENT: (
        "not_current",
        "HỢP LỆ NHƯNG KHÔNG CÒN HIỆU LỰC",
        "VALID BUT NOT CURRENT",
    ),
    Exit.USAGE: (
        "input_error",
        "CHƯA KIỂM TRA ĐƯỢC: THIẾU HOẶC SAI ĐẦU VÀO",
        "NOT CHECKED: MISSING OR BAD INPUT",
    ),
    Exit.UNREACHABLE: (
        "unreachable",
        "CHƯA KIỂM TRA ĐƯỢC: MÁY CHỦ TRA CỨU KHÔNG TRẢ LỜI",
        "NOT CHECKED: THE LOOKUP DID NOT ANSWER",
    ),
}


def describe(record: Record | None) -> dict[str, Any]:
    """What the report says about the document: nothing of the child's."""
    if record is None:
        return {}
    school = record.document.get("school")
    return {
        "document_id": record.document_id,
        "record_version": record.record_version,
        "school_year": record.school_year,
        "school": school.get("name") if isinstance(school, dict) else None,
        "source": record.source,
    }


def _headline(about: dict[str, Any]) -> str:
    parts = [f"Học bạ / Record {about['document_id']}"]
    if about.get("school_year"):
        parts.append(f"năm học / school year {about['school_year']}")
    if about.get("record_version") is not None:
        parts.append(f"phiên bản / version {about['record_version']}")
    if about.get("school"):
        parts.append(str(about["school"]))
    parts.append("PDF" if about.get("source") == "pdf" else "JSON")
    return " · ".join(parts)


def write_text(
    out: TextIO, findings: Sequence[Finding], code: Exit, about: dict[str, Any], title: str
) -> None:
    out.write(f"hocba-verify: {title}\n")
    if about:
        out.write(_headline(about) + "\n")
    for f in findings:
        out.write(f"{MARKS[f.outcome]} {f.vi} / {f.en}\n")
        for line in f.details:
            out.write(f"    {line}\n")
    _, vi, en = VERDICTS[code]
    out.write(f"Kết luận / Verdict: {vi} / {en} (mã thoát / exit {int(code)})\n")


def write_json(
    out: TextIO, findings: Sequence[Finding], code: Exit, about: dict[str, Any], command: str
) -> None:
    verdict, vi, en = VERDICTS[code]
    answer = {
        "command": command,
        "verdict": verdict,
        "exit_code": int(code),
        "message_vi": vi,
        "message_en": en,
        "record": about or None,
        "checks": [
            {
                "check": f.check,
                "outcome": f.outcome.value,
                "message_vi": f.vi,
                "message_en": f.en,
                "details": list(f.details),
                **({"data": f.data} if f.data else {}),
            }
            for f in findings
        ],
    }
    out.write(json.dumps(answer, ensure_ascii=False, indent=2) + "\n")
