"""The official PDF in the Ministry's record-book layout, for both school levels: what it prints is
read back with pdftotext and compared with the document it was rendered from; its rows are found
in WeasyPrint's page boxes to show that none is split across two pages."""

from __future__ import annotations

import copy
import random
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_publishing.adapters.weasyprint_renderer import WeasyPrintRenderer, Year  # noqa: E402
from pdf_fixtures import (  # noqa: E402
    primary_document,
    secondary_document,
    signatures_for,
    year_of,
)

pytestmark = pytest.mark.unit
DOC_ID = "HB-2025-7QK2-M4TX-9PWD"
SHA = "5f" * 32
RENDERER = WeasyPrintRenderer("https://tracuu.hocba.example")
LEVELS = {"tot": "Tốt", "kha": "Khá", "dat": "Đạt", "chua_dat": "Chưa đạt"}


def text_of(pdf: bytes, layout: bool = False, page: int | None = None) -> str:
    """What pdftotext reads: in reading order, or (layout) each printed line as a line, so a
    table row's cells stand on one line in their columns."""
    args = ["pdftotext", "-enc", "UTF-8"]
    args += ["-layout"] if layout else []
    args += ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(
        [*args, "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


def flat(text: str) -> str:
    """The text with every run of white space as one space (cells wrap their text)."""
    return " ".join(text.split())


def pages_of(pdf: bytes) -> int:
    return text_of(pdf).count("\f")  # pdftotext ends each page with a form feed


def has_row(layout: str, first: str, *cells: str) -> bool:
    """Whether a printed line begins with `first` (the start of it, when its cell wraps) and
    continues with `cells`, column by column (each, or the start of it when it wraps; an empty one
    is skipped, as pdftotext prints nothing for it)."""
    wanted = [c for c in cells if c]
    for line in layout.splitlines():
        columns = [c for c in re.split(r"\s{2,}", line.strip()) if c]
        if len(columns) < 1 + len(wanted) or not first.startswith(columns[0]):
            continue
        if not columns[0].strip() or len(columns[0]) < min(len(first), 4):
            continue
        if all(
            c == want or want.startswith(c) for c, want in zip(columns[1:], wanted, strict=False)
        ):
            return True
    return False


def average(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def score(value: float | None) -> str:
    return "" if value is None else str(int(value))


# -- primary -------------------------------------------------------------------------------------
def test_a_primary_year_prints_every_subject_quality_competency_and_result_as_stored() -> None:
    doc = primary_document(grade=5)
    pdf = RENDERER.render(doc, DOC_ID, SHA, signatures_for(doc))
    text, layout = flat(text_of(pdf)), text_of(pdf, layout=True)

    student, result = doc["student"], doc["result"]
    for expected in (
        student["full_name"],
        student["place_of_birth"],
        *(p["full_name"] for p in student["parents"]),
        "14/09/2013",
        doc["school"]["name"],
        f"Lớp: {doc['class_info']['name']}",
        f"Năm học: {doc['school_year']}",
        # The sections of DOMAIN.md §5, in the form's words.
        "1. Các môn học và hoạt động giáo dục",
        "2. Những phẩm chất chủ yếu",
        "3. Những năng lực cốt lõi",
        "Những năng lực chung",
        "Những năng lực đặc thù",
        "4. Đánh giá kết quả giáo dục:",
        "5. Khen thưởng:",
        "6. Hoàn thành chương trình lớp học/chương trình tiểu học:",
        "Hoàn thành chương trình lớp 5; hoàn thành chương trình tiểu học",
        result["level_label"],
        f"Số ngày nghỉ: {result['days_absent']}",
        "XÁC NHẬN CỦA HIỆU TRƯỞNG",
        "GIÁO VIÊN CHỦ NHIỆM",
    ):
        assert expected in text, expected
    assert len(doc["subjects"]) == 11
    for s in doc["subjects"]:
        assert s["comment"] in text, s["comment"]
        assert has_row(
            layout, s["subject_name"], s["rating_label"], score(s["score"]), s["comment"]
        ), s
    for trait in (*result["qualities"], *result["competencies"]):
        assert has_row(layout, trait["name"], trait["level_label"]), trait
    assert result["level_label"] == "Hoàn thành" and "Hoàn thành xuất sắc" not in text


def test_a_primary_year_states_its_commendation_and_an_unfinished_grade() -> None:
    doc = primary_document(grade=3, excellent=True)
    text = flat(text_of(RENDERER.render(doc, DOC_ID, SHA, signatures_for(doc))))
    assert "5. Khen thưởng: Học sinh Xuất sắc" in text
    assert "Hoàn thành chương trình lớp 3" in text
    assert "hoàn thành chương trình tiểu học" not in text  # grade 5 only
    assert "Hoàn thành xuất sắc" in text

    doc["result"] |= {
        "level": "chua_hoan_thanh",
        "level_label": "Chưa hoàn thành",
        "completed_programme": False,
        "commendation": None,
    }
    text = flat(text_of(RENDERER.render(doc, DOC_ID, SHA, signatures_for(doc))))
    assert "Chưa hoàn thành chương trình lớp 3" in text
    assert "Học sinh Xuất sắc" not in text and "None" not in text


# -- secondary -----------------------------------------------------------------------------------
def test_a_secondary_year_prints_term_i_term_ii_and_year_of_every_subject_with_its_teacher() -> (
    None
):
    doc = secondary_document(grade=7)
    sigs = signatures_for(doc)
    pdf = RENDERER.render(doc, DOC_ID, SHA, sigs)
    text, layout = flat(text_of(pdf)), text_of(pdf, layout=True)

    names = {t["staff_id"]: t["full_name"] for t in doc["class_info"]["subject_teachers"]}
    homeroom = doc["class_info"]["homeroom_teacher"]
    names[homeroom["staff_id"]] = homeroom["full_name"]
    assert len(doc["subjects"]) == 12
    for s in doc["subjects"]:
        teacher = names[s["teacher_id"]]
        if s["year_average"] is not None:  # scored: the two terms' averages and the year's
            cells = [average(s["term1_average"]), average(s["term2_average"]), s["result_label"]]
            assert cells[2] == average(s["year_average"])
        else:  # assessed by comment: Đạt / Chưa đạt for the year
            cells = [s["result_label"]]
        assert has_row(layout, s["subject_name"], *cells, teacher), (s, cells)
        assert s["comment"] in text
    assert "Đã ký số · 30/05/2025" in text  # each subject teacher's signature in their row

    result = doc["result"]
    conduct = [LEVELS[result["conduct_term1"]], LEVELS[result["conduct_term2"]]]
    for when, academic, conduct_level in (
        ("Học kỳ I", result["academic_term1"]["level_label"], conduct[0]),
        ("Học kỳ II", result["academic_term2"]["level_label"], conduct[1]),
        ("Cả năm", result["academic_full_year"]["level_label"], result["conduct_label"]),
    ):
        assert has_row(layout, when, academic, conduct_level), when
    assert (result["academic_term1"]["level_label"], conduct[0]) == ("Khá", "Khá")
    assert has_row(layout, "Số ngày nghỉ học cả năm:", str(result["days_absent"]))
    assert has_row(layout, "Xét lên lớp:", result["promotion_label"])
    assert has_row(layout, "Khen thưởng (danh hiệu):", result["commendation"])
    for expected in (
        "Kết quả học tập",
        "Kết quả rèn luyện",
        "Nhận xét của giáo viên chủ nhiệm",
        "PHÊ DUYỆT CỦA HIỆU TRƯỞNG",
        doc["school"]["principal"]["full_name"],
        homeroom["full_name"],
        "Con dấu số của nhà trường: " + doc["school"]["name"],
        f"Tra cứu và xác minh: https://tracuu.hocba.example/verify/{DOC_ID}",
        f"Mã băm nội dung (SHA-256): {SHA}",
        "TRUNG HỌC CƠ SỞ",
    ):
        assert expected in text, expected
    assert "Điểm KTĐK" not in text and "phẩm chất" not in text.lower()


def test_a_secondary_year_states_the_summer_retake_and_conduct_training_and_their_outcome() -> None:
    doc = secondary_document(grade=8)
    subjects = {s["subject_code"]: s for s in doc["subjects"]}
    subjects["TOAN"] |= {"year_average": 4.2, "result_label": "4.2"}
    subjects["NT"] |= {"passed": False, "result_label": "Chưa đạt"}
    doc["result"] |= {
        "level": "chua_dat",
        "level_label": "Chưa đạt",
        "completed_programme": False,
        "commendation": None,
        "academic_full_year": {
            "level": "chua_dat",
            "level_label": "Chưa đạt",
            "unadjusted_level": "chua_dat",
            "adjusted_for": None,
        },
        "promotion": "kiem_tra_lai",
        "promotion_label": "Kiểm tra lại trong hè",
        "retake_subjects": ["NT", "TOAN"],
    }
    layout = text_of(RENDERER.render(doc, DOC_ID, SHA, []), layout=True)
    assert has_row(layout, "Xét lên lớp:", "Kiểm tra lại trong hè")
    assert has_row(layout, "Kiểm tra lại trong hè các môn:", "Nghệ thuật, Toán")
    assert has_row(layout, "Toán", "8.4", "9.1", "4.2")
    assert has_row(layout, "Nghệ thuật", "Chưa đạt")
    assert "sau kiểm tra lại" not in layout

    # After the retake: the close's year result stays, the re-assessment and its outcome follow.
    doc["result"] |= {
        "level": "dat",
        "level_label": "Đạt",
        "reassessed": True,
        "promotion": "len_lop",
        "promotion_label": "Được lên lớp",
        "completed_programme": True,
    }
    layout = text_of(RENDERER.render(doc, DOC_ID, SHA, []), layout=True)
    assert has_row(layout, "Cả năm", "Chưa đạt", "Tốt")
    assert has_row(layout, "Kiểm tra lại trong hè các môn:", "Nghệ thuật, Toán")
    assert has_row(layout, "Kết quả học tập sau kiểm tra lại:", "Đạt")
    assert has_row(layout, "Sau kiểm tra lại:", "Được lên lớp")

    # Conduct trained in the summer (Art. 14): no retake, the outcome after the training.
    doc = secondary_document(grade=8)
    doc["result"] |= {
        "conduct_term2": "chua_dat",
        "conduct": "chua_dat",
        "conduct_label": "Chưa đạt",
        "commendation": None,
        "reassessed": True,
        "promotion": "o_lai_lop",
        "promotion_label": "Ở lại lớp",
    }
    layout = text_of(RENDERER.render(doc, DOC_ID, SHA, []), layout=True)
    assert has_row(layout, "Học kỳ II", "Tốt", "Chưa đạt")
    assert has_row(layout, "Sau rèn luyện trong kỳ nghỉ hè:", "Ở lại lớp")
    assert "Kiểm tra lại" not in layout


# -- the book ------------------------------------------------------------------------------------
def _ids(n: int) -> list[str]:
    return [f"HB-{2021 + i}-BOOK-YEAR-{i:04d}" for i in range(n)]


def test_the_book_prints_the_profile_once_then_every_year_in_order_with_its_own_ids() -> None:
    grades = [6, 7, 8, 9]
    docs = [
        secondary_document(g, year_of(g, 9, "2024-2025"), shift=Decimal(g - 8) / 2) for g in grades
    ]
    ids = _ids(len(docs))
    years = [
        (d, i, f"{n:064x}", signatures_for(d))
        for n, (d, i) in enumerate(zip(docs, ids, strict=True))
    ]
    shuffled = years[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != years
    pdf = RENDERER.render_book(shuffled)

    text = flat(text_of(pdf))
    assert text.count("QUÁ TRÌNH HỌC TẬP") == 1 and text.count("Họ và tên cha:") == 1
    n = pages_of(pdf)
    assert n >= 1 + 2 * len(docs)
    where: dict[str, list[int]] = {}
    for page in range(1, n + 1):
        page_text = flat(text_of(pdf, page=page))
        for i in ids:
            if f"Học bạ số {i}" in page_text:  # the page's footer: the year it belongs to
                where.setdefault(i, []).append(page)
    # Every year, each on pages of its own, in the order of the school years.
    assert [min(where[i]) for i in ids] == sorted(min(where[i]) for i in ids)
    assert min(where[ids[0]]) == 2
    for (d, doc_id, sha, _), next_id in zip(years, [*ids[1:], None], strict=True):
        pages = where[doc_id]
        year_text = flat(" ".join(text_of(pdf, page=p) for p in pages))
        assert f"Năm học: {d['school_year']}" in year_text
        assert f"Mã học bạ: {doc_id}" in year_text and sha in year_text
        layout = "\n".join(text_of(pdf, layout=True, page=p) for p in pages)
        for s in d["subjects"]:
            if s["year_average"] is not None:
                cells = [average(s["term1_average"]), average(s["term2_average"])]
                assert has_row(layout, s["subject_name"], *cells, s["result_label"]), (doc_id, s)
        if next_id:
            assert max(pages) < min(where[next_id])
    profile = text_of(pdf, layout=True, page=1)
    for d, doc_id, *_ in years:
        assert has_row(profile, d["school_year"], d["class_info"]["name"], d["school"]["name"])
        assert doc_id in profile


def test_a_book_is_of_one_school_level() -> None:
    primary = primary_document(5)
    secondary = secondary_document(6, "2025-2026")
    with pytest.raises(ValueError, match="one school level"):
        RENDERER.render_book([(primary, "HB-A", SHA, []), (secondary, "HB-B", SHA, [])])
    with pytest.raises(ValueError, match="at least one year"):
        RENDERER.render_book([])
    pdf = RENDERER.render_book(
        [(primary_document(g, year_of(g, 5, "2024-2025")), f"HB-P{g}", SHA, []) for g in (1, 2)]
    )
    text = flat(text_of(pdf))
    assert "Mã học bạ: HB-P1" in text and "Mã học bạ: HB-P2" in text and "TIỂU HỌC" in text


# -- rows are never split ------------------------------------------------------------------------
def _long_comments(doc: dict[str, Any]) -> dict[str, Any]:
    """Every subject's comment long enough that the table runs over several pages, each with a
    start and an end of its own, to find on the page."""
    for s in doc["subjects"]:
        s["comment"] = (
            f"Nhận xét môn {s['subject_name']}: "
            + "học sinh tiến bộ đều, tích cực xây dựng bài, cần rèn thêm kỹ năng trình bày. " * 4
            + f"(hết nhận xét môn {s['subject_name']})"
        )
    return doc


def _rows_by_page(html: str, stylesheets: list[Any] | None = None) -> list[list[Any]]:
    """The body rows of every table on each page, as WeasyPrint laid them out (a row split across
    two pages has a box on each; header rows, repeated on each page, are left out)."""
    from weasyprint import HTML

    document = HTML(string=html).render(stylesheets=stylesheets or [])
    return [
        [
            row.element
            for group in page._page_box.descendants()
            # weasyprint.formatting_structure.boxes.TableRowGroupBox, by name: mypy is told
            # only of weasyprint's top module
            if type(group).__name__ == "TableRowGroupBox" and not group.is_header
            for row in group.children
        ]
        for page in document.pages
    ]


def _split_rows(pages: list[list[Any]]) -> list[list[int]]:
    seen: dict[int, list[int]] = {}
    for number, rows in enumerate(pages, start=1):
        for element in {id(r): r for r in rows}:
            seen.setdefault(element, []).append(number)
    return [p for p in seen.values() if len(p) > 1]


@pytest.mark.parametrize("level", ["primary", "secondary"])
def test_no_table_row_is_split_across_two_pages(level: str) -> None:
    doc = _long_comments(primary_document() if level == "primary" else secondary_document())
    html = RENDERER.html(doc, DOC_ID, SHA, signatures_for(doc))
    pages = _rows_by_page(html)
    assert sum(1 for rows in pages if rows) >= 3  # the rows do run over several pages
    assert _split_rows(pages) == []

    # The same check finds the split rows of a page that lets them split.
    from weasyprint import CSS

    splitting = CSS(
        string="tr { break-inside: auto !important; page-break-inside: auto !important }"
    )
    assert _split_rows(_rows_by_page(html, [splitting])) != []

    # And as printed: each subject's row, from its name to its comment's end, on one page.
    pdf = RENDERER.render(doc, DOC_ID, SHA, signatures_for(doc))
    texts = [flat(text_of(pdf, page=p)) for p in range(1, pages_of(pdf) + 1)]
    for s in doc["subjects"]:
        name = s["subject_name"]
        starts = [i for i, t in enumerate(texts) if f"Nhận xét môn {name}:" in t]
        ends = [i for i, t in enumerate(texts) if f"(hết nhận xét môn {name})" in t]
        assert len(starts) == 1 and starts == ends, (name, starts, ends)


# -- whatever the document lacks -----------------------------------------------------------------
def _strip_optional(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["student"].pop("parents")
    doc["student"].pop("ethnicity")
    doc["class_info"].pop("subject_teachers")
    doc["school"].pop("principal")
    doc.pop("closed_at")
    for s in doc["subjects"]:
        for key in ("comment", "score", "rating_label", "term1_average", "term2_average"):
            s.pop(key, None)
        s["teacher_id"] = None
    doc["result"] = {"level": doc["result"]["level"], "rules": doc["result"]["rules"]}
    return doc


@pytest.mark.parametrize("level", ["primary", "secondary"])
def test_a_record_without_its_optional_fields_prints_empty_cells(level: str) -> None:
    full = primary_document() if level == "primary" else secondary_document()
    doc = _strip_optional(full)
    text = flat(text_of(RENDERER.render(doc, DOC_ID, SHA, [])))
    assert doc["student"]["full_name"] in text
    assert all(s["subject_name"] in text for s in doc["subjects"])
    assert "None" not in text and "Undefined" not in text
    assert "Số ngày nghỉ" not in text  # not in the record: not printed
    assert full["subjects"][0]["comment"] not in text


def test_the_pdf_is_a4_with_its_fonts_embedded(tmp_path: Path) -> None:
    doc = secondary_document()
    path = tmp_path / "record.pdf"
    path.write_bytes(RENDERER.render(doc, DOC_ID, SHA, signatures_for(doc)))
    info = subprocess.run(["pdfinfo", path], capture_output=True, check=True)
    assert "Page size:       595.276 x 841.89 pts (A4)" in info.stdout.decode()
    fonts = subprocess.run(["pdffonts", path], capture_output=True, check=True)
    rows = fonts.stdout.decode().splitlines()[2:]
    assert rows and all("DejaVu" in r for r in rows), rows
    assert all(r.split()[-5] == "yes" for r in rows), rows  # emb


# -- how to verify it ----------------------------------------------------------------------------
def qr_codes_by_page(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    """The QR codes on each page, as a reader finds them on the page printed at 150 dpi."""
    import zxingcpp
    from PIL import Image

    (tmp_path / "printed.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", tmp_path / "printed.pdf", tmp_path / "page"], check=True
    )
    pages = sorted(tmp_path.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    assert len(pages) == pages_of(pdf)
    return [
        [
            b.text
            for b in zxingcpp.read_barcodes(Image.open(p))
            if b.format == zxingcpp.BarcodeFormat.QRCode
        ]
        for p in pages
    ]


def test_each_year_carries_a_qr_code_of_its_verification_address_beside_its_short_code(
    tmp_path: Path,
) -> None:
    ids = ["HB-2023-7QK2-M4TX-9PWD", "HB-2024-Z0RB-3YKQ-DV8E"]
    years: list[Year] = [
        (primary_document(g, year_of(g, 5, "2024-2025")), doc_id, SHA, [])
        for g, doc_id in zip((4, 5), ids, strict=True)
    ]
    pdf = RENDERER.render_book(years)
    codes = qr_codes_by_page(pdf, tmp_path)
    assert codes[0] == [], "the profile page belongs to no single year"
    for doc_id in ids:
        url = f"https://tracuu.hocba.example/verify/{doc_id}"
        pages = [n for n, found in enumerate(codes, start=1) if url in found]
        assert len(pages) == 1, (doc_id, codes)
        [page] = pages
        assert codes[page - 1] == [url], "one QR code a page: the year's own"
        # Beside it the short code, on a line of its own, and where to type it.
        lines = [line.strip() for line in text_of(pdf, page=page).splitlines()]
        assert doc_id in lines and f"Học bạ số {doc_id}" in lines  # the code, and the footer
        assert "Tra cứu tại tracuu.hocba.example" in lines
    assert sum(len(found) for found in codes) == len(ids)


def test_the_pdf_is_pdf_a_3b_and_still_prints_vietnamese(tmp_path: Path) -> None:
    import io
    from xml.etree import ElementTree

    from pyhanko.pdf_utils.reader import PdfFileReader

    doc = primary_document()
    pdf = RENDERER.render(doc, DOC_ID, SHA, signatures_for(doc))
    path = tmp_path / "record.pdf"
    path.write_bytes(pdf)

    meta = subprocess.run(["pdfinfo", "-meta", path], capture_output=True, check=True)
    xmp = meta.stdout.decode()
    xmp = xmp[xmp.index("<x:xmpmeta") : xmp.index("</x:xmpmeta>") + len("</x:xmpmeta>")]
    pdfaid = "{http://www.aiim.org/pdfa/ns/id/}"
    declared = {
        key.removeprefix(pdfaid): value
        for description in ElementTree.fromstring(xmp).iter(
            "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description"
        )
        for key, value in description.attrib.items()
        if key.startswith(pdfaid)
    }
    assert declared == {"part": "3", "conformance": "B"}
    info = subprocess.run(["pdfinfo", path], capture_output=True, check=True).stdout.decode()
    assert "PDF version:     1.7" in info  # PDF/A-3 is of PDF 1.7 (ISO 32000-1)
    [intent] = PdfFileReader(io.BytesIO(pdf)).root["/OutputIntents"]
    assert intent.get_object()["/S"] == "/GTS_PDFA1"
    # PDF/A lets no image be smoothed (/Interpolate true): the QR code's is not.
    images = subprocess.run(["pdfimages", "-list", path], capture_output=True, check=True)
    rows = images.stdout.decode().splitlines()[2:]
    assert rows and all(r.split()[9] == "no" for r in rows), rows  # interp
    text = flat(text_of(pdf))
    for expected in (
        doc["student"]["full_name"],
        "Những năng lực đặc thù",
        "Hoàn thành chương trình lớp 5; hoàn thành chương trình tiểu học",
        "Xác nhận của Hiệu trưởng".upper(),
    ):
        assert expected in text, expected
