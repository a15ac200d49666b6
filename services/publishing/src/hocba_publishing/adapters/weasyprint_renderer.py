"""The official PDF of a year record, and of a whole record book, rendered with WeasyPrint from
Jinja2 templates in the layout of the Ministry's record books: `primary.html` for primary school
(Thông tư 27/2020), `secondary.html` for lower and upper secondary school (Thông tư 22/2021), both
on `base.html` (the profile page, then each year) with the pieces in `macros.html`.

The renderer prints what the signed document holds and nothing else: an optional field the
document lacks leaves its cell empty (the templates' undefined values print as nothing, and so
does None).

Each year's last page, the one its signatures are on, carries the way to verify it: a QR code of
the year's verification address (`{lookup}/verify/{document id}`, drawn unsmoothed so that it
prints and scans sharp at any size) and, beside it, the short code (the document id) in large
characters with the lookup's host, for whoever types it in instead.

The PDF is PDF/A-3b (ISO 19005-3, `PDF_VARIANT`): archival, every font embedded, an sRGB output
intent, and files may be attached (the seal adds the signed record, in an incremental update that
PDF/A-3 allows)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import segno
from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape

from hocba_publishing.domain.book import school_level

SEX = {"male": "Nam", "female": "Nữ"}
RELATION = {"father": "Họ và tên cha", "mother": "Họ và tên mẹ", "guardian": "Người giám hộ"}
LEVEL_NAMES = {
    "primary": "TIỂU HỌC",
    "lower_secondary": "TRUNG HỌC CƠ SỞ",
    "upper_secondary": "TRUNG HỌC PHỔ THÔNG",
}
TEMPLATES = {
    "primary": "primary.html",
    "lower_secondary": "secondary.html",
    "upper_secondary": "secondary.html",
}
ROLE_TITLES = {
    "homeroom_teacher": "Giáo viên chủ nhiệm",
    "subject_teacher": "Giáo viên bộ môn",
    "principal": "Hiệu trưởng",
    "school_seal": "Con dấu số của nhà trường",
}
LEVELS = {"tot": "Tốt", "kha": "Khá", "dat": "Đạt", "chua_dat": "Chưa đạt"}
"""Secondary academic and conduct levels (TT22/2021 Art. 8-9)."""
GENERAL_COMPETENCIES = frozenset({"tu_chu_tu_hoc", "giao_tiep_hop_tac", "giai_quyet_van_de"})
"""Primary năng lực chung (DOMAIN.md §5); every other competency is a năng lực đặc thù."""

PDF_VARIANT = "pdf/a-3b"
"""PDF/A-3, level B (the visual appearance is preserved): WeasyPrint writes its XMP
identification (pdfaid:part 3, conformance B), the sRGB output intent and the file identifier."""

Year = tuple[dict[str, Any], str, str, list[dict[str, Any]]]
"""One year of a book: (document, document_id, content_sha256, signatures), as `render` takes."""


def _date(value: str | None) -> str:
    return date.fromisoformat(value).strftime("%d/%m/%Y") if value else ""


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _datetime(value: str | None) -> str:
    at = _instant(value)
    return at.strftime("%H:%M %d/%m/%Y (UTC)") if at else ""


def _day(value: str | None) -> str:
    at = _instant(value)
    return at.strftime("%d/%m/%Y") if at else ""


def _long_date(value: str | None) -> str:
    """As the form writes the place and date above the signatures: ngày 28 tháng 5 năm 2025."""
    at = _instant(value)
    return f"ngày {at.day} tháng {at.month} năm {at.year}" if at else ""


def _score(value: float | None) -> str:
    """A primary test score: a whole number (TT27/2020 Art. 7); a decimal one with a comma."""
    if not isinstance(value, int | float):
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}".replace(".", ",")


def _average(value: float | None) -> str:
    """A secondary average, one decimal (TT22/2021 Art. 10), as the record's result labels are."""
    return f"{value:.1f}" if isinstance(value, int | float) else ""


def _qr_png(text: str) -> str:
    """A QR code of `text` as a PNG data URI, one pixel a module (the record's CSS draws it
    unsmoothed, `image-rendering: pixelated`, so its modules print sharp at any size; PDF/A forbids
    smoothing anyway). Error correction at least M (15%: a fold or a stain), raised when the
    version allows it; the quiet zone of 4 modules that readers need is inside the image. A PNG,
    not SVG: WeasyPrint parses and draws an SVG path in Python, which made a render slower."""
    return str(segno.make_qr(text, error="m").png_data_uri(scale=1, border=4))


def _none_is_empty(value: Any) -> Any:
    return "" if value is None else value


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _rows(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list | tuple) else []


class WeasyPrintRenderer:
    def __init__(self, lookup_public_url: str) -> None:
        self.lookup_public_url = lookup_public_url.rstrip("/")
        self.lookup_host = urlsplit(self.lookup_public_url).netloc or self.lookup_public_url
        self._sheet: tuple[Any, Any] | None = None
        self.env = Environment(
            loader=PackageLoader("hocba_publishing", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=ChainableUndefined,
            finalize=_none_is_empty,
        )
        self.env.filters.update(
            vn_date=_date,
            vn_datetime=_datetime,
            vn_long_date=_long_date,
            vn_day=_day,
            score=_score,
            average=_average,
        )

    # -- what the templates print, per year ------------------------------------------------------
    def _year(
        self,
        document: dict[str, Any],
        document_id: str,
        content_sha256: str,
        signatures: Sequence[Mapping[str, Any]],
    ) -> dict[str, Any]:
        cls, school = _mapping(document.get("class_info")), _mapping(document.get("school"))
        result = _mapping(document.get("result"))
        homeroom, principal = (
            _mapping(cls.get("homeroom_teacher")),
            _mapping(school.get("principal")),
        )
        sigs = [
            {**s, "title": ROLE_TITLES.get(s.get("role", ""), s.get("role"))} for s in signatures
        ]
        placed: set[int] = set()

        def of(*roles: str) -> list[dict[str, Any]]:
            found = [i for i, s in enumerate(sigs) if s.get("role") in roles]
            placed.update(found)
            return [sigs[i] for i in found]

        verify_url = f"{self.lookup_public_url}/verify/{document_id}"
        view: dict[str, Any] = {
            "d": document,
            "cls": cls,
            "school": school,
            "document_id": document_id,
            "content_sha256": content_sha256,
            "verify_url": verify_url,
            "verify_qr": _qr_png(verify_url),
            "lookup_host": self.lookup_host,
            "homeroom": of("homeroom_teacher"),
            "homeroom_name": homeroom.get("full_name"),
            "principal": of("principal", "school_seal"),
            "principal_name": principal.get("full_name"),
        }
        if _is_secondary(document):
            view.update(_secondary(document, cls, result, sigs, placed))
        else:
            view.update(_primary(cls, result))
        view["other_signatures"] = [s for i, s in enumerate(sigs) if i not in placed]
        return view

    # -- the book ------------------------------------------------------------------------------
    def book_html(self, years: Iterable[Year], *, inline_css: bool = True) -> str:
        """The HTML of a record book: the profile page once (the student as the latest year states
        them), then every year in the order of the school years. The years must be of one school
        level (primary, lower or upper secondary: each has its own book)."""
        given = sorted(years, key=lambda y: str(y[0].get("school_year", "")))
        if not given:
            raise ValueError("a record book needs at least one year")
        levels = {school_level(d) for d, *_ in given}
        if len(levels) != 1:
            raise ValueError(
                "a record book is of one school level; these years are of "
                + ", ".join(sorted(levels))
            )
        (level,) = levels
        views = [self._year(d, doc_id, sha, sigs) for d, doc_id, sha, sigs in given]
        last = given[-1][0]
        student = _mapping(last.get("student"))
        profile = {
            "student": student,
            "sex": SEX.get(student.get("sex", ""), student.get("sex")),
            "parents": [
                {**p, "title": RELATION.get(p.get("relation", ""), p.get("relation"))}
                for p in _rows(student.get("parents"))
            ],
        }
        single = len(views) == 1
        return self.env.get_template(TEMPLATES[level]).render(
            title=f"Học bạ số {given[0][1]}"
            if single
            else f"Học bạ {student.get('full_name', '')}",
            profile=profile,
            profile_docid=(
                f"Học bạ số {given[0][1]}"
                if single
                else f"Học bạ · {student.get('student_id', '')}"
            ),
            level_name=LEVEL_NAMES.get(level, ""),
            years=views,
            inline_css=inline_css,
        )

    def html(
        self,
        document: dict[str, Any],
        document_id: str,
        content_sha256: str,
        signatures: list[dict[str, Any]],
    ) -> str:
        return self.book_html([(document, document_id, content_sha256, signatures)])

    def render(
        self,
        document: dict[str, Any],
        document_id: str,
        content_sha256: str,
        signatures: list[dict[str, Any]],
    ) -> bytes:
        return self._pdf(
            self.book_html([(document, document_id, content_sha256, signatures)], inline_css=False)
        )

    def render_book(self, years: list[Year]) -> bytes:
        """The whole record book of one school level as one PDF: the profile page once, then each
        given year's pages, each with its own document id, content hash, verification address and
        signatures."""
        return self._pdf(self.book_html(years, inline_css=False))

    def _pdf(self, html: str) -> bytes:
        """The PDF of HTML written without its style sheet: the sheet is parsed once a renderer
        (a render process), with one font configuration, not once a PDF (a sixth of a render)."""
        from weasyprint import CSS, HTML
        from weasyprint.text.fonts import FontConfiguration

        if self._sheet is None:
            fonts = FontConfiguration()
            sheet = CSS(string=self.env.get_template("record.css").render(), font_config=fonts)
            self._sheet = (sheet, fonts)
        sheet, fonts = self._sheet
        pdf = HTML(string=html).write_pdf(
            pdf_variant=PDF_VARIANT, stylesheets=[sheet], font_config=fonts
        )
        assert pdf is not None
        return bytes(pdf)


def _is_secondary(document: Mapping[str, Any]) -> bool:
    return TEMPLATES[school_level(document)] == "secondary.html"


def _primary(cls: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """TT27/2020: the competencies in their two groups, and the completion of the grade (and, in
    grade 5, of primary school: the record's `completed_primary`, or the grade's completion where
    an older record lacks it)."""
    competencies = _rows(result.get("competencies"))
    grade, completed = cls.get("grade"), result.get("completed_programme")
    if completed is True:
        completion = f"Hoàn thành chương trình lớp {grade}"
        primary_done = result.get("completed_primary")
        if primary_done is True or (primary_done is None and grade == 5):
            completion += "; hoàn thành chương trình tiểu học"
    elif completed is False:
        completion = f"Chưa hoàn thành chương trình lớp {grade}"
    else:
        completion = ""
    return {
        "qualities": _rows(result.get("qualities")),
        "general": [c for c in competencies if c.get("code") in GENERAL_COMPETENCIES],
        "specific": [c for c in competencies if c.get("code") not in GENERAL_COMPETENCIES],
        "completion": completion,
    }


def _secondary(
    document: Mapping[str, Any],
    cls: Mapping[str, Any],
    result: Mapping[str, Any],
    sigs: list[dict[str, Any]],
    placed: set[int],
) -> dict[str, Any]:
    """TT22/2021: each subject's year value and its teacher (the signature they gave, else their
    name as the class's teaching assignments state it); the academic and conduct results of term
    I, term II and the year; the Art. 9.3 adjustments; promotion and any summer re-assessment."""
    subjects = _rows(document.get("subjects"))
    homeroom = _mapping(cls.get("homeroom_teacher"))
    names = {t.get("staff_id"): t.get("full_name") for t in _rows(cls.get("subject_teachers"))}
    by_subject = {
        t.get("subject_code"): t.get("staff_id") for t in _rows(cls.get("subject_teachers"))
    }
    if homeroom.get("staff_id"):
        names[homeroom.get("staff_id")] = homeroom.get("full_name")
    signed_by = {
        s.get("signer_id"): i
        for i, s in enumerate(sigs)
        if s.get("role") in ("subject_teacher", "homeroom_teacher")
    }
    rows = []
    for s in subjects:
        teacher = s.get("teacher_id") or by_subject.get(s.get("subject_code"))
        at = signed_by.get(teacher)
        if at is not None and sigs[at].get("role") == "subject_teacher":
            placed.add(at)
        passed = s.get("passed")
        year = s.get("result_label") or (
            _average(s.get("year_average"))
            if s.get("year_average") is not None
            else ("Đạt" if passed is True else "Chưa đạt" if passed is False else "")
        )
        rows.append(
            {
                "s": s,
                "year": year,
                "teacher": names.get(teacher, ""),
                "signature": sigs[at] if at is not None else None,
            }
        )

    def academic(key: str, old_key: str | None) -> str:
        stated = _mapping(result.get(key)).get("level_label")
        return str(stated or (LEVELS.get(str(result.get(old_key)), "") if old_key else ""))

    reassessed = result.get("reassessed") is True
    year_academic = academic("academic_full_year", None) or (
        "" if reassessed else str(result.get("level_label") or "")
    )
    terms = [
        (
            "Học kỳ I",
            academic("academic_term1", "term1_level"),
            LEVELS.get(str(result.get("conduct_term1")), ""),
        ),
        (
            "Học kỳ II",
            academic("academic_term2", "term2_level"),
            LEVELS.get(str(result.get("conduct_term2")), ""),
        ),
        (
            "Cả năm",
            year_academic,
            result.get("conduct_label") or LEVELS.get(str(result.get("conduct")), ""),
        ),
    ]
    subject_names = {s.get("subject_code"): s.get("subject_name") for s in subjects}
    adjustments = []
    for when, key in (
        ("Học kỳ I", "academic_term1"),
        ("Học kỳ II", "academic_term2"),
        ("Cả năm", "academic_full_year"),
    ):
        a = _mapping(result.get(key))
        if a.get("adjusted_for"):
            adjustments.append(
                f"{when}: điều chỉnh từ {LEVELS.get(str(a.get('unadjusted_level')), '')} lên "
                f"{a.get('level_label', '')}, vì chỉ một môn "
                f"{subject_names.get(a['adjusted_for']) or a['adjusted_for']} "
                "(khoản 3 Điều 9 Thông tư 22/2021)"
            )
    retakes = ", ".join(
        str(subject_names.get(c) or c) for c in result.get("retake_subjects") or () if c
    )
    label = result.get("promotion_label") or ""
    promotion: list[tuple[str, str]] = []
    if reassessed and retakes:
        # TT22/2021 Art. 13: the summer retake, the academic result it gives, and its outcome.
        promotion += [
            ("Kiểm tra lại trong hè các môn:", retakes),
            ("Kết quả học tập sau kiểm tra lại:", str(result.get("level_label") or "")),
            ("Sau kiểm tra lại:", label),
        ]
    elif reassessed:
        # Art. 14: conduct trained in the summer; the record states the outcome.
        promotion.append(("Sau rèn luyện trong kỳ nghỉ hè:", label))
    else:
        promotion.append(("Xét lên lớp:", label))
        if retakes:
            promotion.append(("Kiểm tra lại trong hè các môn:", retakes))
    return {"subjects": rows, "terms": terms, "adjustments": adjustments, "promotion": promotion}
