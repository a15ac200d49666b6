"""The publishing store's contract (PublishingUnitOfWork, PublishingTx, PublishingReader), one
suite for both of its implementations: the fake the unit tests use (publishing_fixtures.FakeStore)
and the MongoDB adapter (MongoPublishingUnitOfWork, MongoPublishingReader) on the local database.
A behaviour the fake gets wrong fails here."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import Envelope, make_envelope  # noqa: E402
from hocba_contracts.payloads.publishing import RecordRevoked  # noqa: E402
from hocba_contracts.payloads.signing import RecordSigned  # noqa: E402
from hocba_contracts.topics import PUBLISHING_EVENTS  # noqa: E402
from hocba_devstack.testing import (  # noqa: E402
    LocalInfra,
    eventually,
    outbox_event_ids,
    scratch_database,
)
from hocba_publishing.adapters.mongo_publishing import (  # noqa: E402
    MongoPdfStore,
    MongoPublishingReader,
    MongoPublishingUnitOfWork,
    ensure_indexes,
)
from hocba_publishing.application.ports import (  # noqa: E402
    PdfStore,
    PublishingReader,
    PublishingUnitOfWork,
)
from hocba_publishing.domain.model import PublishedDocument, Revocation, StoredPdf  # noqa: E402
from hocba_runtime.mongo import is_duplicate_key  # noqa: E402
from hocba_runtime.uow import MongoUnitOfWork  # noqa: E402
from hocba_trust import logentry  # noqa: E402
from publishing_fixtures import FakeStore, document  # noqa: E402

pytestmark = pytest.mark.integration


@dataclass
class Publishing:
    """One implementation of the ports; what it committed to announce (event ids, in order); and
    the reason it keeps for a refused record version (the port writes it, nothing reads it back)."""

    uow: PublishingUnitOfWork
    reader: PublishingReader
    committed_events: Callable[[], Awaitable[list[str]]]
    rejection: Callable[[str, int], Awaitable[str | None]]
    log_queue: Callable[[], Awaitable[list[dict[str, Any]]]]
    pdfs: PdfStore
    """The transparency-log entries queued (the sequencer's side is tested on its own)."""


@pytest.fixture
async def publishing(contract_backend: LocalInfra | None) -> AsyncIterator[Publishing]:
    if contract_backend is None:
        fake = FakeStore()

        async def committed() -> list[str]:
            return [e.id for _, e in fake.emitted]

        async def fake_rejection(record_id: str, record_version: int) -> str | None:
            return fake.rejections.get(f"{record_id}:{record_version}")

        async def fake_queue() -> list[dict[str, Any]]:
            return list(fake.log_queue.values())

        yield Publishing(fake, fake, committed, fake_rejection, fake_queue, fake)
        return
    async with scratch_database(contract_backend, "publishing_contract") as (mongo, outbox):
        await ensure_indexes(mongo)

        async def rejection(record_id: str, record_version: int) -> str | None:
            found = await mongo.db.rejections.find_one(
                {"record_id": record_id, "record_version": record_version}
            )
            return None if found is None else str(found["reason"])

        async def queue() -> list[dict[str, Any]]:
            cursor = mongo.db.log_queue.find({}, sort=[("queued_at", 1), ("_id", 1)])
            return [d["entry"] async for d in cursor]

        yield Publishing(
            MongoPublishingUnitOfWork(mongo, MongoUnitOfWork(mongo, outbox, "publishing")),
            MongoPublishingReader(mongo),
            lambda: outbox_event_ids(outbox),
            rejection,
            queue,
            MongoPdfStore(mongo),
        )


def published(
    record_id: str | None = None, version: int = 1, supersedes: str | None = None
) -> PublishedDocument:
    doc = document(version=version)
    rid = record_id or doc["record_id"]
    return PublishedDocument(
        document_id=f"HB-2024-{uuid.uuid4().hex[:4].upper()}-{version:04d}-TEST",
        record_id=rid,
        record_version=version,
        student_id=doc["student"]["student_id"],
        school_year="2024-2025",
        document={**doc, "record_id": rid},
        content_sha256="a" * 64,
        signatures=[{"role": "principal", "signer_id": "HT-P", "cms": "MIIB"}],
        pdf_sha256="b" * 64,
        published_at=datetime(2025, 6, 1, 8, 30, 15, 123456, tzinfo=UTC),
        supersedes=supersedes,
        extra={"note": "bản chính"},
    )


def as_stored(doc: PublishedDocument) -> PublishedDocument:
    """What is read back: times to the millisecond, which is what a MongoDB date keeps."""
    at = doc.published_at
    return dataclasses.replace(
        doc, published_at=at.replace(microsecond=at.microsecond // 1000 * 1000)
    )


async def saved(publishing: Publishing) -> PublishedDocument:
    """A published document, stored with its PDF in a transaction of its own."""
    doc = published()
    async with publishing.uow() as tx:
        await tx.save(doc)
    return doc


def pdf_of(doc: PublishedDocument) -> StoredPdf:
    pdf = b"%PDF-1.7\n" + doc.document_id.encode() + b"\x00\xff binary"
    return StoredPdf(pdf, hashlib.sha256(pdf).hexdigest())


def announcement(doc: PublishedDocument) -> Envelope[RecordSigned]:
    return make_envelope(
        RecordSigned(
            record_id=doc.record_id,
            record_version=doc.record_version,
            student_id=doc.student_id,
            document=doc.document,
            content_sha256=doc.content_sha256,
            signatures=(),
        ),
        source="test",
    )


class Rollback(Exception):
    pass


async def test_what_is_saved_reads_back_equal_through_the_transaction_and_the_reader(
    publishing: Publishing,
) -> None:
    doc = published()
    async with publishing.uow() as tx:
        await tx.save(doc)
        assert await tx.find(doc.record_id, 1) == as_stored(doc), (
            "a transaction reads its own writes"
        )
    stored = as_stored(doc)
    async with publishing.uow() as tx:
        assert await tx.find(doc.record_id, 1) == stored
        assert await tx.latest(doc.record_id) == stored
    assert await publishing.reader.document(doc.document_id) == stored
    assert await publishing.reader.find(doc.record_id, 1) == stored
    assert await publishing.reader.for_record(doc.record_id) == [stored]


async def test_what_was_never_published_is_none_or_empty(publishing: Publishing) -> None:
    async with publishing.uow() as tx:
        assert await tx.find("HS-NONE.2024-2025", 1) is None
        assert await tx.latest("HS-NONE.2024-2025") is None
    assert await publishing.reader.document("HB-2024-NONE-NONE-NONE") is None
    assert await publishing.pdfs.get("HB-2024-NONE-NONE-NONE") is None
    assert await publishing.pdfs.sha256("HB-2024-NONE-NONE-NONE") is None
    assert await publishing.reader.find("HS-NONE.2024-2025", 1) is None
    assert await publishing.reader.for_record("HS-NONE.2024-2025") == []


async def test_versions_of_a_record_come_in_version_order_and_the_latest_is_the_highest(
    publishing: Publishing,
) -> None:
    first = published()
    rid = first.record_id
    third, second = published(rid, 3), published(rid, 2)
    other = published()
    for doc in (third, first, other, second):
        async with publishing.uow() as tx:
            await tx.save(doc)
    async with publishing.uow() as tx:
        assert await tx.latest(rid) == as_stored(third)
        assert await tx.find(rid, 2) == as_stored(second)
    assert await publishing.reader.for_record(rid) == [as_stored(d) for d in (first, second, third)]


async def test_a_students_documents_come_by_school_year_then_version_and_no_one_elses(
    publishing: Publishing,
) -> None:
    """What a student's record book is made of: every version of each of the student's records."""
    student = f"HS{uuid.uuid4().int % 10**8:08d}"

    def year(school_year: str, version: int) -> PublishedDocument:
        doc = published(f"{student}.{school_year}", version)
        return dataclasses.replace(doc, student_id=student, school_year=school_year)

    first, corrected, again = year("2022-2023", 1), year("2023-2024", 1), year("2023-2024", 2)
    last = year("2024-2025", 1)
    someone_else = published()
    for doc in (last, again, someone_else, first, corrected):
        async with publishing.uow() as tx:
            await tx.save(doc)
    assert await publishing.reader.for_student(student) == [
        as_stored(d) for d in (first, corrected, again, last)
    ]
    assert await publishing.reader.for_student(someone_else.student_id) == [as_stored(someone_else)]
    assert await publishing.reader.for_student("HS-NONE") == []


async def test_a_published_document_is_never_replaced_nor_published_twice(
    publishing: Publishing,
) -> None:
    doc = await saved(publishing)
    again = dataclasses.replace(doc, content_sha256="c" * 64)
    same_version = dataclasses.replace(doc, document_id=doc.document_id + "-2")
    for attempt in (again, same_version):
        with pytest.raises(Exception) as raised:
            async with publishing.uow() as tx:
                await tx.save(attempt)
        assert is_duplicate_key(raised.value), raised.value
    assert await publishing.reader.for_record(doc.record_id) == [as_stored(doc)]
    assert await publishing.reader.document(same_version.document_id) is None


async def test_a_read_document_is_a_copy(publishing: Publishing) -> None:
    doc = published()
    async with publishing.uow() as tx:
        await tx.save(doc)
        doc.document["student"]["full_name"] = "changed after saving"
    read = await publishing.reader.document(doc.document_id)
    assert read is not None and read.document["student"]["full_name"] != "changed after saving"
    read.document["result"]["level_label"] = "changed after reading"
    again = await publishing.reader.find(doc.record_id, 1)
    assert again is not None and again.document["result"]["level_label"] != "changed after reading"


async def test_a_transaction_that_fails_leaves_nothing_behind(publishing: Publishing) -> None:
    doc = published()
    with pytest.raises(Rollback):
        async with publishing.uow("event-rolled-back") as tx:
            assert tx.duplicate is False
            await tx.save(doc)
            await tx.emit(PUBLISHING_EVENTS.name, announcement(doc))
            raise Rollback
    async with publishing.uow("event-rolled-back") as tx:
        assert tx.duplicate is False, "the event was not processed: its redelivery is handled"
        assert await tx.find(doc.record_id, 1) is None
    assert await publishing.reader.document(doc.document_id) is None
    assert await publishing.committed_events() == []


async def test_an_event_id_is_processed_once(publishing: Publishing) -> None:
    async with publishing.uow("event-1") as tx:
        assert tx.duplicate is False
    async with publishing.uow("event-1") as tx:
        assert tx.duplicate is True
    async with publishing.uow("event-2") as tx:
        assert tx.duplicate is False
    async with publishing.uow() as tx:
        assert tx.duplicate is False, "a change without an incoming event is never a duplicate"


async def test_committed_events_are_announced_in_the_order_they_were_emitted(
    publishing: Publishing,
) -> None:
    first = [announcement(published()) for _ in range(3)]
    later = announcement(published())
    async with publishing.uow() as tx:
        for env in first:
            await tx.emit(PUBLISHING_EVENTS.name, env)
    async with publishing.uow() as tx:
        await tx.emit(PUBLISHING_EVENTS.name, later)
    assert await publishing.committed_events() == [e.id for e in [*first, later]]


async def test_an_event_is_emitted_once(publishing: Publishing) -> None:
    env = announcement(published())
    with pytest.raises(Exception) as raised:
        async with publishing.uow() as tx:
            await tx.emit(PUBLISHING_EVENTS.name, env)
            await tx.emit(PUBLISHING_EVENTS.name, env)
    assert is_duplicate_key(raised.value), raised.value
    assert await publishing.committed_events() == []


async def test_a_refused_version_keeps_the_latest_reason(publishing: Publishing) -> None:
    rid = published().record_id
    assert await publishing.rejection(rid, 1) is None
    await publishing.reader.save_rejection(rid, 1, "content_hash_mismatch")
    await publishing.reader.save_rejection(rid, 1, "signature_invalid")
    await publishing.reader.save_rejection(rid, 2, "certificate_revoked")
    assert await publishing.rejection(rid, 1) == "signature_invalid"
    assert await publishing.rejection(rid, 2) == "certificate_revoked"


def revocation_of(doc: PublishedDocument, reason: str = "Cấp nhầm học bạ") -> Revocation:
    return Revocation(
        document_id=doc.document_id,
        record_id=doc.record_id,
        record_version=doc.record_version,
        student_id=doc.student_id,
        school_id="079-TH-P",
        revoked_by="HT-P",
        reason=reason,
        revoked_at=datetime(2025, 6, 2, 9, 15, 30, 654321, tzinfo=UTC),
    )


def revocation_as_stored(r: Revocation) -> Revocation:
    at = r.revoked_at
    return dataclasses.replace(r, revoked_at=at.replace(microsecond=at.microsecond // 1000 * 1000))


def revoked_announcement(r: Revocation) -> Envelope[RecordRevoked]:
    return make_envelope(RecordRevoked.model_validate(r, from_attributes=True), source="test")


async def test_a_revocation_reads_back_equal_and_leaves_the_document_as_published(
    publishing: Publishing,
) -> None:
    first = published()
    second = published(first.record_id, 2, supersedes=first.document_id)
    for doc in (first, second):
        async with publishing.uow() as tx:
            await tx.save(doc)
    later, earlier = revocation_of(second, "Sai kết quả"), revocation_of(first)
    async with publishing.uow() as tx:
        await tx.revoke(later)
        await tx.revoke(earlier)
        assert await tx.revocation(second.document_id) == revocation_as_stored(later), (
            "a transaction reads its own writes"
        )
    async with publishing.uow() as tx:
        assert await tx.revocation(first.document_id) == revocation_as_stored(earlier)
    assert await publishing.reader.revocation(second.document_id) == revocation_as_stored(later)
    assert await publishing.reader.revocations(first.record_id) == [
        revocation_as_stored(r) for r in (earlier, later)
    ], "in version order"
    assert await publishing.reader.document(first.document_id) == as_stored(first)
    assert await publishing.reader.for_record(first.record_id) == [
        as_stored(first),
        as_stored(second),
    ]


async def test_what_was_never_revoked_or_superseded_is_none_or_empty(
    publishing: Publishing,
) -> None:
    doc = published()
    async with publishing.uow() as tx:
        await tx.save(doc)
        assert await tx.revocation(doc.document_id) is None
    assert await publishing.reader.revocation(doc.document_id) is None
    assert await publishing.reader.revocations(doc.record_id) == []
    assert await publishing.reader.superseded_by(doc.document_id) is None
    assert await publishing.reader.revocation("HB-2024-NONE-NONE-NONE") is None


async def test_a_newer_version_names_the_one_it_supersedes(publishing: Publishing) -> None:
    first = published()
    second = published(first.record_id, 2, supersedes=first.document_id)
    third = published(first.record_id, 3, supersedes=second.document_id)
    for doc in (first, third, second):
        async with publishing.uow() as tx:
            await tx.save(doc)
    assert await publishing.reader.superseded_by(first.document_id) == second.document_id
    assert await publishing.reader.superseded_by(second.document_id) == third.document_id
    assert await publishing.reader.superseded_by(third.document_id) is None


async def test_a_document_is_revoked_once_and_the_first_revocation_stands(
    publishing: Publishing,
) -> None:
    doc = await saved(publishing)
    first = revocation_of(doc)
    async with publishing.uow() as tx:
        await tx.revoke(first)
    again = dataclasses.replace(first, reason="Lý do khác", revoked_by="HT-OTHER")
    with pytest.raises(Exception) as raised:
        async with publishing.uow() as tx:
            await tx.revoke(again)
    assert is_duplicate_key(raised.value), raised.value
    assert await publishing.reader.revocation(doc.document_id) == revocation_as_stored(first)
    assert await publishing.reader.revocations(doc.record_id) == [revocation_as_stored(first)]


async def test_a_revocation_whose_transaction_fails_leaves_nothing_behind(
    publishing: Publishing,
) -> None:
    doc = await saved(publishing)
    revocation = revocation_of(doc)
    with pytest.raises(Rollback):
        async with publishing.uow() as tx:
            await tx.revoke(revocation)
            await tx.emit(PUBLISHING_EVENTS.name, revoked_announcement(revocation))
            raise Rollback
    assert await publishing.reader.revocation(doc.document_id) is None
    assert await publishing.reader.revocations(doc.record_id) == []
    assert await publishing.committed_events() == []
    async with publishing.uow() as tx:
        await tx.revoke(revocation)
        await tx.emit(PUBLISHING_EVENTS.name, env := revoked_announcement(revocation))
    assert await publishing.reader.revocation(doc.document_id) == revocation_as_stored(revocation)
    assert await publishing.committed_events() == [env.id]


async def test_log_entries_queue_with_their_transaction_once_each(publishing: Publishing) -> None:
    doc = published()
    entries = [
        logentry.published(doc.document_id, 1, doc.content_sha256, doc.published_at),
        logentry.revoked(doc.document_id, "Cấp nhầm", doc.published_at),
    ]
    with pytest.raises(Rollback):
        async with publishing.uow() as tx:
            await tx.save(doc)
            await tx.log(entries)
            raise Rollback
    assert await publishing.log_queue() == []
    async with publishing.uow() as tx:
        await tx.save(doc)
        await tx.log(entries)
    assert await publishing.log_queue() == entries
    with pytest.raises(Exception) as raised:
        async with publishing.uow() as tx:
            await tx.log(entries[1:])
    assert is_duplicate_key(raised.value)
    assert await publishing.log_queue() == entries


async def test_a_pdf_is_kept_once_and_the_first_one_kept_stands(publishing: Publishing) -> None:
    doc = await saved(publishing)
    first = pdf_of(doc)
    assert await publishing.pdfs.save(doc.document_id, first) == first
    other = StoredPdf(b"%PDF-1.7 rendered again", "d" * 64)
    assert await publishing.pdfs.save(doc.document_id, other) == first
    assert await publishing.pdfs.get(doc.document_id) == first
    assert await publishing.pdfs.sha256(doc.document_id) == first.sha256


async def test_one_renderer_at_a_time_claims_a_pdf_until_it_releases_or_its_claim_lapses(
    publishing: Publishing,
) -> None:
    doc = await saved(publishing)
    assert await publishing.pdfs.claim(doc.document_id, "worker-a", 30)
    assert await publishing.pdfs.claim(doc.document_id, "worker-a", 30), "renewed by its holder"
    assert not await publishing.pdfs.claim(doc.document_id, "worker-b", 30)
    await publishing.pdfs.release(doc.document_id, "worker-b")  # not its claim: nothing changes
    assert not await publishing.pdfs.claim(doc.document_id, "worker-b", 30)
    await publishing.pdfs.release(doc.document_id, "worker-a")
    assert await publishing.pdfs.claim(doc.document_id, "worker-b", 0.05)
    assert not await publishing.pdfs.claim(doc.document_id, "worker-c", 30), "not lapsed yet"
    assert await eventually(
        lambda: publishing.pdfs.claim(doc.document_id, "worker-c", 30), timeout=5, interval=0.02
    ), "a lapsed claim is taken"


async def test_a_batch_is_saved_together_and_versions_name_every_published_one(
    publishing: Publishing,
) -> None:
    first = published()
    rid = first.record_id
    batch = [first, published(rid, 2), published()]
    async with publishing.uow.many(["batch-1", "batch-2"]) as tx:
        assert tx.processed == set()
        await tx.save_many(batch)
        assert await tx.versions([rid]) == {rid: {1: first.document_id, 2: batch[1].document_id}}
    assert await publishing.reader.versions([rid, batch[2].record_id, "HS-NONE.2024-2025"]) == {
        rid: {1: first.document_id, 2: batch[1].document_id},
        batch[2].record_id: {1: batch[2].document_id},
    }
    async with publishing.uow.many(["batch-2", "batch-3"]) as tx:
        assert tx.processed == {"batch-2"}, "the events of a batch are processed once"
    # a batch holding one document published already is not saved at all
    late = published()
    with pytest.raises(Exception) as raised:
        async with publishing.uow.many([]) as tx:
            await tx.save_many([late, dataclasses.replace(first, document_id="HB-OTHER-ID")])
    assert is_duplicate_key(raised.value)
    assert await publishing.reader.document(late.document_id) is None
