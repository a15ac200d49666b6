"""The official PDF of a year record, rendered with WeasyPrint from a Jinja2 template in the
layout of the Ministry's primary record book (Vietnamese text, DejaVu Sans)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

SEX = {"male": "Nam", "female": "Nữ"}
RELATION = {"father": "Họ và tên cha", "mother": "Họ và tên mẹ", "guardian": "Người giám hộ"}
LEVEL_NAMES = {
    "primary": "TIỂU HỌC",
    "lower_secondary": "TRUNG HỌC CƠ SỞ",
    "upper_secondary": "TRUNG HỌC PHỔ THÔNG",
}
ROLE_TITLES = {
    "homeroom_teacher": "Giáo viên chủ nhiệm",
    "subject_teacher": "Giáo viên bộ môn",
    "principal": "Hiệu trưởng",
    "school_seal": "Con dấu số của nhà trường",
}


def _date(value: str | None) -> str:
    return date.fromisoformat(value).strftime("%d/%m/%Y") if value else ""


def _datetime(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%H:%M %d/%m/%Y (UTC)")


def _score(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}".replace(".", ",")


class WeasyPrintRenderer:
    def __init__(self, lookup_public_url: str) -> None:
        self.lookup_public_url = lookup_public_url.rstrip("/")
        self.env = Environment(
            loader=PackageLoader("hocba_publishing", "templates"),
            autoescape=select_autoescape(["html"]),
        )
        self.env.filters.update(vn_date=_date, vn_datetime=_datetime, score=_score)

    def html(
        self,
        document: dict[str, Any],
        document_id: str,
        content_sha256: str,
        signatures: list[dict[str, Any]],
    ) -> str:
        return self.env.get_template("year_record.html").render(
            d=document,
            document_id=document_id,
            content_sha256=content_sha256,
            signatures=[{**s, "title": ROLE_TITLES.get(s["role"], s["role"])} for s in signatures],
            sex=SEX,
            relation=RELATION,
            level_name=LEVEL_NAMES.get(document["school"]["level"], ""),
            verify_url=f"{self.lookup_public_url}/verify/{document_id}",
        )

    def render(
        self,
        document: dict[str, Any],
        document_id: str,
        content_sha256: str,
        signatures: list[dict[str, Any]],
    ) -> bytes:
        from weasyprint import HTML

        pdf = HTML(string=self.html(document, document_id, content_sha256, signatures)).write_pdf()
        assert pdf is not None
        return bytes(pdf)
