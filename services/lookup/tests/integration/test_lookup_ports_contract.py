"""The lookup read model's contract (LookupUnitOfWork, LookupTx, LookupReader), one suite for both
of its implementations: the fake the unit tests use (lookup_fixtures.FakeStore) and the MongoDB
adapter (MongoLookupUnitOfWork, MongoLookupReader) on the local database. A behaviour the fake gets
wrong fails here."""

from __future__ import annotations

import dataclasses
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_devstack.testing import LocalInfra, scratch_database  # noqa: E402
from hocba_lookup.adapters.mongo_lookup import (  # noqa: E402
    MongoLookupReader,
    MongoLookupUnitOfWork,
    ensure_indexes,
)
from hocba_lookup.application.ports import LookupReader, LookupUnitOfWork  # noqa: E402
from hocba_lookup.domain.model import PublishedEntry, Revocation  # noqa: E402
from hocba_runtime.uow import MongoUnitOfWork  # noqa: E402
from lookup_fixtures import NAME, FakeStore  # noqa: E402

pytestmark = pytest.mark.integration


@dataclass
class Lookup:
    """One implementation of the ports."""

    uow: LookupUnitOfWork
    reader: LookupReader


@pytest.fixture
async def lookup(contract_backend: LocalInfra | None) -> AsyncIterator[Lookup]:
    if contract_backend is None:
        fake = FakeStore()
        yield Lookup(fake, fake)
        return
    async with scratch_database(contract_backend, "lookup_contract") as (mongo, outbox):
        await ensure_indexes(mongo)
        yield Lookup(
            MongoLookupUnitOfWork(mongo, MongoUnitOfWork(mongo, outbox, "lookup")),
            MongoLookupReader(mongo),
        )


def entry(
    version: int = 1, record_id: str | None = None, supersedes: str | None = None
) -> PublishedEntry:
    rid = record_id or f"HS{uuid.uuid4().int % 10**8:08d}.2024-2025"
    return PublishedEntry(
        document_id=f"HB-2024-{uuid.uuid4().hex[:4].upper()}-{version:04d}-TEST",
        record_id=rid,
        record_version=version,
        student_id=rid.split(".")[0],
        school_year="2024-2025",
        document={
            "record_id": rid,
            "record_version": version,
            "student": {"full_name": NAME},
            "result": {"level_label": "Hoàn thành tốt"},
        },
        content_sha256="a" * 64,
        signatures=[{"role": "principal", "signer_id": "HT-L", "cms": "MIIB"}],
        pdf_sha256="b" * 64,
        pdf_path="/documents/x/pdf",
        published_at=datetime(2025, 6, 1, 8, 30, 15, 123456, tzinfo=UTC),
        supersedes=supersedes,
    )


def as_stored(e: PublishedEntry, superseded_by: str | None = None) -> PublishedEntry:
    """What is read back: times to the millisecond, which is what a MongoDB date keeps."""
    at = e.published_at
    return dataclasses.replace(
        e,
        published_at=at.replace(microsecond=at.microsecond // 1000 * 1000),
        superseded_by=superseded_by or e.superseded_by,
    )


def lookup_key() -> str:
    return uuid.uuid4().hex


class Rollback(Exception):
    pass


async def test_what_is_saved_reads_back_equal_by_id_and_by_key(lookup: Lookup) -> None:
    key = lookup_key()
    e = entry()
    async with lookup.uow() as tx:
        await tx.upsert(e, key)
    assert await lookup.reader.by_id(e.document_id) == as_stored(e)
    assert await lookup.reader.by_key(key) == [as_stored(e)]


async def test_what_was_never_saved_is_none_or_empty(lookup: Lookup) -> None:
    async with lookup.uow() as tx:
        assert await tx.superseding("HB-2024-NONE") is None
        await tx.mark_superseded("HB-2024-NONE", by="HB-2024-LATER")
    assert await lookup.reader.by_id("HB-2024-NONE") is None, "marking creates nothing"
    assert await lookup.reader.by_key(lookup_key()) == []


async def test_a_key_finds_every_entry_stored_under_it_and_no_other(lookup: Lookup) -> None:
    key, other_key = lookup_key(), lookup_key()
    mine = [entry() for _ in range(3)]
    theirs = entry()
    async with lookup.uow() as tx:
        for e in mine:
            await tx.upsert(e, key)
        await tx.upsert(theirs, other_key)
    found = await lookup.reader.by_key(key)
    assert sorted(found, key=lambda e: e.document_id) == sorted(
        (as_stored(e) for e in mine), key=lambda e: e.document_id
    )


async def test_upserting_a_document_again_replaces_it_and_its_key(lookup: Lookup) -> None:
    old_key, new_key = lookup_key(), lookup_key()
    e = entry()
    async with lookup.uow() as tx:
        await tx.upsert(e, old_key)
    corrected = dataclasses.replace(e, pdf_sha256="c" * 64)
    async with lookup.uow() as tx:
        await tx.upsert(corrected, new_key)
    assert await lookup.reader.by_id(e.document_id) == as_stored(corrected)
    assert await lookup.reader.by_key(old_key) == []
    assert await lookup.reader.by_key(new_key) == [as_stored(corrected)]


async def test_a_newer_version_marks_the_one_it_supersedes(lookup: Lookup) -> None:
    key = lookup_key()
    first = entry()
    second = entry(2, first.record_id, supersedes=first.document_id)
    async with lookup.uow() as tx:
        await tx.upsert(first, key)
        await tx.upsert(second, key)
        await tx.mark_superseded(first.document_id, by=second.document_id)
    async with lookup.uow() as tx:
        assert await tx.superseding(first.document_id) == second.document_id
        assert await tx.superseding(second.document_id) is None
    assert await lookup.reader.by_id(first.document_id) == as_stored(first, second.document_id)
    assert await lookup.reader.by_id(second.document_id) == as_stored(second)


async def test_a_read_entry_is_a_copy(lookup: Lookup) -> None:
    e = entry()
    async with lookup.uow() as tx:
        await tx.upsert(e, lookup_key())
        e.document["student"]["full_name"] = "changed after saving"
    read = await lookup.reader.by_id(e.document_id)
    assert read is not None and read.document["student"]["full_name"] == NAME
    read.document["result"]["level_label"] = "changed after reading"
    again = await lookup.reader.by_id(e.document_id)
    assert again is not None and again.document["result"]["level_label"] == "Hoàn thành tốt"


async def test_a_transaction_that_fails_leaves_nothing_behind(lookup: Lookup) -> None:
    key = lookup_key()
    kept = entry()
    async with lookup.uow() as tx:
        await tx.upsert(kept, key)
    newer = entry(2, kept.record_id, supersedes=kept.document_id)
    with pytest.raises(Rollback):
        async with lookup.uow("event-rolled-back") as tx:
            assert tx.duplicate is False
            await tx.upsert(newer, key)
            await tx.mark_superseded(kept.document_id, by=newer.document_id)
            raise Rollback
    async with lookup.uow("event-rolled-back") as tx:
        assert tx.duplicate is False, "the event was not processed: its redelivery is handled"
        assert await tx.superseding(kept.document_id) is None
    assert await lookup.reader.by_id(newer.document_id) is None
    assert await lookup.reader.by_id(kept.document_id) == as_stored(kept)
    assert await lookup.reader.by_key(key) == [as_stored(kept)]


async def test_an_event_id_is_processed_once(lookup: Lookup) -> None:
    async with lookup.uow("event-1") as tx:
        assert tx.duplicate is False
    async with lookup.uow("event-1") as tx:
        assert tx.duplicate is True
    async with lookup.uow("event-2") as tx:
        assert tx.duplicate is False
    async with lookup.uow() as tx:
        assert tx.duplicate is False, "a change without an incoming event is never a duplicate"


REVOKED_AT = datetime(2025, 6, 2, 9, 15, 30, 654321, tzinfo=UTC)


def revocation(reason: str = "Cấp nhầm học bạ") -> Revocation:
    return Revocation(reason=reason, revoked_at=REVOKED_AT)


def revocation_as_stored(r: Revocation) -> Revocation:
    at = r.revoked_at
    return dataclasses.replace(r, revoked_at=at.replace(microsecond=at.microsecond // 1000 * 1000))


async def test_a_revocation_marks_its_entry_and_reads_back_equal(lookup: Lookup) -> None:
    key = lookup_key()
    e, other = entry(), entry()
    async with lookup.uow() as tx:
        await tx.upsert(e, key)
        await tx.upsert(other, key)
    async with lookup.uow() as tx:
        await tx.revoke(e.document_id, revocation())
        assert await tx.revocation(e.document_id) == revocation_as_stored(revocation())
    kept = revocation_as_stored(revocation())
    assert await lookup.reader.by_id(e.document_id) == dataclasses.replace(
        as_stored(e), revocation=kept
    )
    assert await lookup.reader.by_id(other.document_id) == as_stored(other)
    found = {x.document_id: x.revocation for x in await lookup.reader.by_key(key)}
    assert found == {e.document_id: kept, other.document_id: None}
    async with lookup.uow() as tx:
        assert await tx.revocation(other.document_id) is None


async def test_a_revocation_learnt_before_its_publication_is_kept_and_creates_no_entry(
    lookup: Lookup,
) -> None:
    e = entry()
    async with lookup.uow() as tx:
        await tx.revoke(e.document_id, revocation())
    assert await lookup.reader.by_id(e.document_id) is None
    async with lookup.uow() as tx:
        kept = await tx.revocation(e.document_id)
        assert kept == revocation_as_stored(revocation())
        await tx.upsert(dataclasses.replace(e, revocation=kept), lookup_key())
    read = await lookup.reader.by_id(e.document_id)
    assert read is not None and read.revocation == kept and read.status == "revoked"


async def test_the_first_revocation_of_a_document_stands(lookup: Lookup) -> None:
    e = entry()
    async with lookup.uow() as tx:
        await tx.upsert(e, lookup_key())
    async with lookup.uow() as tx:
        await tx.revoke(e.document_id, revocation())
    async with lookup.uow() as tx:
        await tx.revoke(e.document_id, Revocation("Lý do khác", datetime(2026, 1, 1, tzinfo=UTC)))
        assert await tx.revocation(e.document_id) == revocation_as_stored(revocation())
    read = await lookup.reader.by_id(e.document_id)
    assert read is not None and read.revocation == revocation_as_stored(revocation())


async def test_a_revocation_whose_transaction_fails_leaves_nothing_behind(lookup: Lookup) -> None:
    e = entry()
    async with lookup.uow() as tx:
        await tx.upsert(e, lookup_key())
    with pytest.raises(Rollback):
        async with lookup.uow("revocation-rolled-back") as tx:
            await tx.revoke(e.document_id, revocation())
            raise Rollback
    async with lookup.uow("revocation-rolled-back") as tx:
        assert tx.duplicate is False
        assert await tx.revocation(e.document_id) is None
    assert await lookup.reader.by_id(e.document_id) == as_stored(e)


async def test_a_student_finds_every_version_of_theirs_and_a_class_lists_its_students(
    lookup: Lookup,
) -> None:
    e1 = entry()
    e2 = dataclasses.replace(entry(2, record_id=e1.record_id), student_id=e1.student_id)
    other = entry()
    for e, school, klass in (
        (e1, "079-TH-L", "5B"),
        (e2, "079-TH-L", "5B"),
        (other, "079-TH-L", "5A"),
    ):
        e.document["school"] = {"school_id": school}
        e.document["class_info"] = {"name": klass}
    async with lookup.uow() as tx:
        for e in (e1, e2, other):
            await tx.upsert(e, lookup_key())
    found = await lookup.reader.by_student(e1.student_id)
    assert sorted(found, key=lambda e: e.record_version) == [as_stored(e1), as_stored(e2)]
    assert await lookup.reader.by_student("HS-NOBODY") == []
    assert await lookup.reader.students_of_class("079-TH-L", "2024-2025", "5B") == [e1.student_id]
    assert await lookup.reader.students_of_class("079-TH-L", "2024-2025", "5A") == [
        other.student_id
    ]
    assert await lookup.reader.students_of_class("079-TH-X", "2024-2025", "5B") == []
    assert await lookup.reader.students_of_class("079-TH-L", "2023-2024", "5B") == []


async def test_a_batch_transaction_names_the_events_processed_before_and_marks_the_others(
    lookup: Lookup,
) -> None:
    async with lookup.uow("batch-event-1") as tx:
        assert tx.processed == set()
    async with lookup.uow.many(["batch-event-1", "batch-event-2", "batch-event-2"]) as tx:
        assert tx.processed == {"batch-event-1"} and tx.duplicate is False
    async with lookup.uow.many(["batch-event-2", "batch-event-3"]) as tx:
        assert tx.processed == {"batch-event-2"}
    async with lookup.uow("batch-event-3") as tx:
        assert tx.duplicate is True, "a batch's events are marked processed as single ones are"


async def test_a_batch_transaction_that_fails_leaves_nothing_behind(lookup: Lookup) -> None:
    e = entry()
    with pytest.raises(Rollback):
        async with lookup.uow.many(["batch-rolled-back"]) as tx:
            await tx.upsert_many([(e, lookup_key())])
            await tx.revoke_many({e.document_id: revocation()})
            raise Rollback
    async with lookup.uow.many(["batch-rolled-back"]) as tx:
        assert tx.processed == set(), "the batch was not processed: its redelivery is handled"
        assert await tx.revocations_many([e.document_id]) == {}
    assert await lookup.reader.by_id(e.document_id) is None


async def test_the_bulk_reads_and_writes_do_what_the_single_ones_do(lookup: Lookup) -> None:
    key = lookup_key()
    stored = entry()
    async with lookup.uow() as tx:
        await tx.upsert(stored, key)
    first, alone, before = entry(), entry(), entry()
    second = entry(2, first.record_id, supersedes=first.document_id)
    async with lookup.uow.many([]) as tx:
        await tx.upsert_many([(first, key), (second, key), (alone, key)])
        await tx.mark_superseded_many({first.document_id: second.document_id, "HB-NONE": "HB-X"})
        assert await tx.superseding_many([first.document_id, second.document_id, "HB-NONE"]) == {
            first.document_id: second.document_id
        }
        await tx.revoke_many({stored.document_id: revocation(), before.document_id: revocation()})
        await tx.revoke_many({stored.document_id: revocation("Lý do khác")})
        kept = revocation_as_stored(revocation())
        assert await tx.revocations_many(
            [stored.document_id, before.document_id, alone.document_id]
        ) == {stored.document_id: kept, before.document_id: kept}
    assert await lookup.reader.by_id(first.document_id) == as_stored(first, second.document_id)
    assert await lookup.reader.by_id(second.document_id) == as_stored(second)
    assert await lookup.reader.by_id(alone.document_id) == as_stored(alone)
    assert await lookup.reader.by_id(stored.document_id) == dataclasses.replace(
        as_stored(stored), revocation=kept
    ), "the first revocation stands"
    assert await lookup.reader.by_id(before.document_id) is None, "a revocation creates no entry"
    assert await lookup.reader.by_id("HB-NONE") is None, "marking creates nothing"
    async with lookup.uow.many([]) as tx:
        assert await tx.superseding_many([]) == {} and await tx.revocations_many([]) == {}
        await tx.upsert_many([])
        await tx.mark_superseded_many({})
        await tx.revoke_many({})
    assert len(await lookup.reader.by_key(key)) == 4
