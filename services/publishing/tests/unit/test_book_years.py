"""Which years a student's record book holds (domain/book.py), and that it is rendered off the
event loop (RecordBooks over the fake store)."""

from __future__ import annotations

import asyncio
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_publishing.application.books import RecordBooks  # noqa: E402
from hocba_publishing.domain.book import NoRecordBook, record_book, school_level  # noqa: E402
from hocba_publishing.domain.model import PublishedDocument, Revocation  # noqa: E402
from publishing_fixtures import FakeStore, document  # noqa: E402

pytestmark = pytest.mark.unit
SID = "HS07901005"


def published(
    school_year: str, version: int = 1, level: str | None = "primary"
) -> PublishedDocument:
    doc = document(SID, version)
    doc["school_year"] = school_year
    if level is None:
        doc["school"].pop("level")
    else:
        doc["school"]["level"] = level
    return PublishedDocument(
        document_id=f"HB-{school_year[:4]}-{version:04d}-{(level or 'none')[:4].upper()}-TEST",
        record_id=f"{SID}.{school_year}",
        record_version=version,
        student_id=SID,
        school_year=school_year,
        document=doc,
        content_sha256="a" * 64,
        signatures=[],
        pdf_sha256=None,
        published_at=datetime(2025, 6, 1, tzinfo=UTC),
    )


def test_the_book_holds_the_latest_version_of_each_year_of_its_level_in_school_year_order() -> None:
    grade4, grade3, grade3_corrected = (
        published("2023-2024"),
        published("2022-2023"),
        published("2022-2023", 2),
    )
    grade6 = published("2025-2026", level="lower_secondary")
    book = record_book(SID, "primary", [grade4, grade3_corrected, grade6, grade3], revoked=())
    assert book.years == (grade3_corrected, grade4) and book.revoked == ()
    assert record_book(SID, "lower_secondary", [grade4, grade6], ()).years == (grade6,)


def test_a_revoked_latest_version_leaves_its_year_out_and_no_older_version_stands_in() -> None:
    first, corrected, other = (
        published("2022-2023"),
        published("2022-2023", 2),
        published("2023-2024"),
    )
    book = record_book(SID, "primary", [first, corrected, other], revoked={corrected.document_id})
    assert book.years == (other,) and book.revoked == (corrected,)
    # An older version revoked is no matter: the latest one stands.
    book = record_book(SID, "primary", [first, corrected, other], revoked={first.document_id})
    assert book.years == (corrected, other) and book.revoked == ()


def test_a_year_without_its_schools_level_is_of_its_rules_level() -> None:
    doc = published("2024-2025", level=None).document
    assert school_level(doc) == "primary"
    doc["result"]["rules"] = "TT22/2021"
    assert school_level(doc) == "lower_secondary"
    doc["school"]["level"] = "upper_secondary"
    assert school_level(doc) == "upper_secondary"


def test_nothing_to_print_says_why() -> None:
    with pytest.raises(NoRecordBook, match="has no published record"):
        record_book(SID, "primary", [], ())
    year = published("2024-2025")
    with pytest.raises(NoRecordBook, match="no published year of trung học cơ sở"):
        record_book(SID, "lower_secondary", [year], ())
    with pytest.raises(NoRecordBook, match=r"is revoked \(2024-2025\)"):
        record_book(SID, "primary", [year], {year.document_id})
    with pytest.raises(NoRecordBook, match="has no published record"):
        record_book("HS-SOMEONE-ELSE", "primary", [year], ())


class BlockingRenderer:
    """Holds a render until released, and says when it started and on which thread."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()
        self.threads: list[int] = []

    def render_book(
        self, years: list[tuple[dict[str, Any], str, str, list[dict[str, Any]]]]
    ) -> bytes:
        self.threads.append(threading.get_ident())
        self.started.set()
        self.release.wait(5)
        return b"%PDF " + " ".join(doc_id for _, doc_id, _, _ in years).encode()


async def test_a_book_is_rendered_off_the_event_loop_and_leaves_out_the_revoked_year() -> None:
    store = FakeStore()
    kept, revoked = published("2023-2024"), published("2024-2025")
    store.docs = {d.document_id: d for d in (kept, revoked)}
    store.revoked[revoked.document_id] = Revocation(
        document_id=revoked.document_id,
        record_id=revoked.record_id,
        record_version=1,
        student_id=SID,
        school_id=None,
        revoked_by="HT-P",
        reason="Cấp nhầm",
        revoked_at=datetime(2025, 7, 1, tzinfo=UTC),
    )
    renderer = BlockingRenderer()
    books = RecordBooks(store, renderer)
    book = await books.book(SID, "primary")
    assert book.years == (kept,) and book.revoked == (revoked,)

    rendering = asyncio.ensure_future(books.pdf(book))
    # The loop is free while the book renders: it waits for the render's start on a thread.
    assert await asyncio.to_thread(renderer.started.wait, 5)
    assert not rendering.done() and renderer.threads != [threading.get_ident()]
    renderer.release.set()
    assert await rendering == f"%PDF {kept.document_id}".encode()
