"""A student's whole record book of one school level as one PDF (GET /students/{id}/book), from
the years published on the local database: the latest version of each year of the level, in
school-year order, a revoked year left out and named in the answer; nothing to print is a 404
that says why. Who may ask is the authorization matrix's (test_publishing_authorization)."""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra  # noqa: E402
from hocba_publishing.bootstrap import Publishing, build  # noqa: E402
from hocba_publishing.config import PublishingSettings  # noqa: E402
from hocba_publishing.domain.model import PublishedDocument  # noqa: E402
from publishing_fixtures import (  # noqa: E402
    HOMEROOM_TEACHER,
    PRINCIPAL,
    SCHOOL_ID,
    document,
    serve_record_books,
    signed_record,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("publishing-book-pki"))
    p.create()
    return p


def _settings(local_infra: LocalInfra, db: str, pki: DevPKI) -> PublishingSettings:
    return PublishingSettings(
        **local_infra.settings(mongo_database=db),
        trust_roots=[str(pki.root_file)],
        lookup_public_url="https://tracuu.hocba.example",
        pdf_render="lazy",
    )


@pytest.fixture
async def publishing(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> AsyncIterator[Publishing]:
    settings = _settings(local_infra, unique_db("publishing_book"), pki)
    svc = build(settings)
    serve_record_books(svc.app, settings.lookup_public_url)
    await svc.runtime.start()
    yield svc
    await svc.runtime.stop()


@pytest.fixture
async def http(publishing: Publishing) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=publishing.app), base_url="http://p", timeout=60
    ) as client:
        yield client


def text_of(pdf: bytes) -> str:
    return " ".join(
        subprocess.run(
            ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
        )
        .stdout.decode()
        .split()
    )


def year(
    student_id: str, school_year: str, grade: int, version: int = 1, level: str = "primary"
) -> dict[str, Any]:
    """One school year's record of the student, with a comment that names its year and version."""
    doc = document(student_id, version)
    doc["record_id"] = f"{student_id}.{school_year}"
    doc["school_year"] = school_year
    doc["school"]["level"] = level
    doc["class_info"] |= {
        "class_id": f"{SCHOOL_ID}-{school_year[:4]}-{grade}A",
        "school_year": school_year,
        "grade": grade,
        "name": f"{grade}A",
    }
    doc["subjects"][0]["comment"] = f"Nhận xét năm học {school_year}, phiên bản {version}."
    return doc


async def publish(publishing: Publishing, pki: DevPKI, doc: dict[str, Any]) -> PublishedDocument:
    published = await publishing.service.publish(signed_record(pki, doc))
    assert published is not None
    return published


def student() -> str:
    return f"HS{uuid.uuid4().int % 10**8:08d}"


async def test_the_book_holds_the_latest_version_of_each_year_of_its_level_in_order_and_names_a_revoked_year_it_leaves_out(
    publishing: Publishing, http: httpx.AsyncClient, local_infra: LocalInfra, pki: DevPKI
) -> None:
    sid = student()
    records = [
        year(sid, "2021-2022", 2),
        year(sid, "2022-2023", 3),
        year(sid, "2022-2023", 3, version=2),  # a correction
        year(sid, "2023-2024", 4),  # revoked below
        year(sid, "2024-2025", 5),
        year(sid, "2025-2026", 6, level="lower_secondary"),  # another book
    ]
    order = list(range(len(records)))
    random.Random(11).shuffle(order)  # the book's order is the school years', not publication's
    order.remove(2)
    order.insert(order.index(1) + 1, 2)  # a correction comes after what it corrects
    published = {i: await publish(publishing, pki, records[i]) for i in order}
    await publishing.service.revoke(published[3].document_id, "Cấp nhầm năm học", by=PRINCIPAL)

    lookup = local_infra.headers("service")
    answer = await http.get(f"/students/{sid}/book", params={"level": "primary"}, headers=lookup)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-") and answer.content.count(b"%PDF-") == 1
    assert answer.headers["hocba-book-years"] == "2021-2022, 2022-2023, 2024-2025"
    assert answer.headers["hocba-revoked-years"] == "2023-2024"
    assert "private" in answer.headers["cache-control"]
    text = text_of(answer.content)
    assert text.count("QUÁ TRÌNH HỌC TẬP") == 1, "the profile page once"
    printed = [published[i] for i in (0, 2, 4)]
    at = [text.index(f"Năm học: {d.school_year}") for d in printed]
    assert at == sorted(at), "in the order of the school years"
    for d in printed:
        assert d.document_id in text
        assert f"Nhận xét năm học {d.school_year}, phiên bản {d.record_version}." in text
    for left_out in (published[1], published[3], published[5]):  # superseded, revoked, secondary
        assert left_out.document_id not in text
        assert f"Nhận xét năm học {left_out.school_year}, phiên bản 1." not in text
    assert "2023-2024" not in text and "2025-2026" not in text

    # Each level is a book of its own; one with nothing revoked names nothing left out.
    secondary = await http.get(
        f"/students/{sid}/book", params={"level": "lower_secondary"}, headers=lookup
    )
    assert secondary.status_code == 200
    assert secondary.headers["hocba-book-years"] == "2025-2026"
    assert "hocba-revoked-years" not in secondary.headers
    assert published[5].document_id in text_of(secondary.content)
    # The record's own school and teachers may print it, as they may each year's PDF.
    for role, staff in (("principal", PRINCIPAL), ("teacher", HOMEROOM_TEACHER)):
        mine = await http.get(
            f"/students/{sid}/book",
            params={"level": "primary"},
            headers=local_infra.headers(role, SCHOOL_ID, staff),
        )
        assert mine.status_code == 200 and mine.content.startswith(b"%PDF-"), (role, mine.text)


async def test_nothing_to_print_is_a_404_that_says_why(
    publishing: Publishing, http: httpx.AsyncClient, local_infra: LocalInfra, pki: DevPKI
) -> None:
    lookup = local_infra.headers("service")

    async def book(sid: str, level: str) -> httpx.Response:
        return await http.get(f"/students/{sid}/book", params={"level": level}, headers=lookup)

    nobody = await book("HS00000000", "primary")
    assert nobody.status_code == 404
    error = nobody.json()["error"]
    assert error["code"] == "book_not_found"
    assert error["message"].startswith("student HS00000000 has no published record")

    sid = student()
    only = await publish(publishing, pki, year(sid, "2024-2025", 5))
    other_level = await book(sid, "upper_secondary")
    assert other_level.status_code == 404
    assert "no published year of trung học phổ thông" in other_level.json()["error"]["message"]

    await publishing.service.revoke(only.document_id, "Cấp nhầm học bạ", by=PRINCIPAL)
    revoked = await book(sid, "primary")
    assert revoked.status_code == 404
    assert "is revoked (2024-2025)" in revoked.json()["error"]["message"]

    unknown_level = await book(sid, "kindergarten")
    assert unknown_level.status_code == 422


async def test_the_service_as_built_serves_record_books(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> None:
    svc = build(_settings(local_infra, unique_db("publishing_nobook"), pki))
    await svc.runtime.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=svc.app), base_url="http://p"
        ) as client:
            answer = await client.get(
                "/students/HS00000000/book",
                params={"level": "primary"},
                headers=local_infra.headers("service"),
            )
    finally:
        await svc.runtime.stop()
    # the composition root wires the books: a student without records is a 404 saying why
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "book_not_found"
