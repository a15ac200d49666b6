"""A student's whole record book of one school level as one PDF (domain/book.py says which years
it holds): the profile page once, then each year's pages, each with its own document id,
verification QR code and signatures.

The book is rendered when asked and not kept: it is a print of published years, each of which
has its own sealed PDF and verifies on its own; the book itself is not sealed (yet). Rendering is
CPU work: it runs on a thread of its own, off the event loop, one book at a time per process, so
that a burst of book requests cannot take every core from the service's other work; a request
given up while its book waits its turn is dropped from the queue.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from hocba_publishing.application.ports import BookRenderer, PublishingReader
from hocba_publishing.domain.book import RecordBook, latest_versions, record_book


class RecordBooks:
    def __init__(self, reader: PublishingReader, renderer: BookRenderer) -> None:
        self.reader = reader
        self.renderer = renderer
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="book")

    async def book(self, student_id: str, level: str) -> RecordBook:
        """Which years the book of `level` holds, and which it leaves out as revoked. Raises
        NoRecordBook (404) when it has no year to print, saying why."""
        documents = await self.reader.for_student(student_id)
        revocations = await asyncio.gather(
            *(self.reader.revocation(d.document_id) for d in latest_versions(documents).values())
        )
        revoked = {r.document_id for r in revocations if r is not None}
        return record_book(student_id, level, documents, revoked)

    async def pdf(self, book: RecordBook) -> bytes:
        years = [(d.document, d.document_id, d.content_sha256, d.signatures) for d in book.years]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self.renderer.render_book, years)
