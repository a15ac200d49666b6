"""The lookup projects publishing's events a poll at a time (`LookupService.project_many`, one
transaction a batch), against the real local database: a batch leaves the read model as projecting
its events one by one in order does, supersessions and revocations within the batch in either order
included, and a redelivered batch changes nothing. The subscriber that hands it the batches:
test_lookup_batch_subscriber.py."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import Envelope, make_envelope  # noqa: E402
from hocba_contracts.payloads.publishing import RecordPublished, RecordRevoked  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, scratch_database  # noqa: E402
from hocba_lookup.adapters.mongo_lookup import (  # noqa: E402
    PROJECTION,
    MongoLookupReader,
    MongoLookupUnitOfWork,
    ensure_indexes,
)
from hocba_lookup.adapters.trust import TrustListRecordVerifier  # noqa: E402
from hocba_lookup.application.use_cases import LookupService  # noqa: E402
from hocba_runtime.mongo import Mongo  # noqa: E402
from hocba_runtime.uow import MongoUnitOfWork  # noqa: E402
from lookup_fixtures import published, revoked  # noqa: E402

pytestmark = pytest.mark.integration

Event = RecordPublished | RecordRevoked
Batch = list[tuple[Event, Envelope[Any] | None]]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-batch-pki"))
    p.create()
    return p


@dataclass
class ReadModel:
    mongo: Mongo
    service: LookupService

    async def documents(self) -> dict[str, list[dict[str, Any]]]:
        """Every document of the read model's collections, by collection, in id order."""
        return {
            name: [d async for d in self.mongo.db[name].find({}).sort("_id", 1)]
            for name in PROJECTION.names()
        }

    async def entry(self, document_id: str) -> dict[str, Any]:
        found = await self.mongo.db[PROJECTION.published].find_one({"_id": document_id})
        assert found is not None, f"{document_id} is not projected"
        return found

    async def one_by_one(self, batch: Batch) -> list[bool]:
        """What the single-event use cases make of the batch's events, in order."""
        return [
            await self.service.project(p, c)
            if isinstance(p, RecordPublished)
            else await self.service.revoke(p, c)
            for p, c in batch
        ]


@asynccontextmanager
async def read_model(infra: LocalInfra) -> AsyncIterator[ReadModel]:
    async with scratch_database(infra, "lookup_batch") as (mongo, outbox):
        await ensure_indexes(mongo)
        uow = MongoLookupUnitOfWork(mongo, MongoUnitOfWork(mongo, outbox, "lookup"))
        service = LookupService(
            uow, MongoLookupReader(mongo), TrustListRecordVerifier(None), "batch-test-secret-01234"
        )
        yield ReadModel(mongo, service)


@pytest.fixture
async def model(local_infra: LocalInfra) -> AsyncIterator[ReadModel]:
    async with read_model(local_infra) as m:
        yield m


def announced(*payloads: Event) -> Batch:
    """The events as publishing announces them, each in its envelope."""
    return [(p, make_envelope(p, source="hocba/publishing")) for p in payloads]


def corrected(pki: DevPKI, older: RecordPublished) -> RecordPublished:
    """The next version of a published record, superseding it."""
    return published(
        pki,
        citizen_id=older.document["student"]["citizen_id"],
        version=older.record_version + 1,
        supersedes=older.document_id,
        student_id=older.student_id,
    )


def chunks(batch: Batch, size: int) -> list[Batch]:
    return [batch[i : i + size] for i in range(0, len(batch), size)]


async def test_a_batch_leaves_the_read_model_as_projecting_its_events_one_by_one_does(
    local_infra: LocalInfra, pki: DevPKI
) -> None:
    """Supersessions of stored and of the batch's own entries in either order, revocations of
    stored entries, of the batch's own before and after their publication and of documents never
    published, a second revocation of a document, an event twice in a batch and an event handled
    before: the stored documents come out the same, however the events are cut into batches."""
    a1, b1 = published(pki), published(pki)
    before = announced(a1, b1)
    d1, e1, f1, g1 = (published(pki) for _ in range(4))
    a2, d2, e2 = corrected(pki, a1), corrected(pki, d1), corrected(pki, e1)
    never = published(pki)
    events = announced(
        a2,
        revoked(b1),
        d2,
        d1,
        e1,
        e2,
        f1,
        revoked(f1),
        revoked(g1),
        g1,
        revoked(never),
        revoked(f1, reason="Một lý do về sau"),
    )
    batch = [*events[:5], events[4], before[0], *events[5:]]  # e1 twice; a1 handled before

    async with read_model(local_infra) as alone:
        await alone.one_by_one(before)
        expected = await alone.one_by_one(batch)
        wanted = await alone.documents()
    assert expected.count(False) == 2
    for size in (len(batch), 4, 1):
        async with read_model(local_infra) as batched:
            await batched.one_by_one(before)
            applied = [
                done
                for part in chunks(batch, size)
                for done in await batched.service.project_many(part)
            ]
            assert applied == expected, f"batches of {size}"
            assert await batched.documents() == wanted, f"batches of {size}"
    # what the comparison covers
    published_docs = {d["_id"]: d for d in wanted["published"]}
    assert published_docs[a1.document_id]["superseded_by"] == a2.document_id
    assert published_docs[d1.document_id]["superseded_by"] == d2.document_id
    assert published_docs[e1.document_id]["superseded_by"] == e2.document_id
    assert all(published_docs[p.document_id]["revocation"] is not None for p in (b1, f1, g1))
    assert published_docs[f1.document_id]["revocation"]["reason"] != "Một lý do về sau"
    assert never.document_id not in published_docs
    assert {d["_id"] for d in wanted["revocations"]} == {p.document_id for p in (b1, f1, g1, never)}


async def test_a_redelivered_batch_changes_nothing(model: ReadModel, pki: DevPKI) -> None:
    first = published(pki)
    batch = announced(first, corrected(pki, first), published(pki))
    assert await model.service.project_many(batch) == [True, True, True]
    after = await model.documents()
    assert await model.service.project_many(batch) == [False, False, False]
    assert await model.documents() == after
    later = announced(published(pki))
    assert await model.service.project_many([batch[1], *later]) == [False, True], (
        "a batch that overlaps one handled before projects only its new events"
    )


@pytest.mark.parametrize("order", ["older first", "newer first"])
async def test_a_version_superseded_within_the_batch_is_marked_in_either_order(
    model: ReadModel, pki: DevPKI, order: str
) -> None:
    v1 = published(pki)
    v2 = corrected(pki, v1)
    batch = announced(v1, v2) if order == "older first" else announced(v2, v1)
    assert await model.service.project_many(batch) == [True, True]
    assert (await model.entry(v1.document_id))["superseded_by"] == v2.document_id
    newer = await model.entry(v2.document_id)
    assert newer["superseded_by"] is None and newer["supersedes"] == v1.document_id
    found = await model.service.reader.by_id(v1.document_id)
    assert found is not None and found.status == "superseded"


@pytest.mark.parametrize("order", ["publication first", "revocation first"])
async def test_a_revocation_within_the_batch_of_its_publication_stands_in_either_order(
    model: ReadModel, pki: DevPKI, order: str
) -> None:
    record = published(pki)
    revocation = revoked(record)
    batch = (
        announced(record, revocation)
        if order == "publication first"
        else announced(revocation, record)
    )
    assert await model.service.project_many(batch) == [True, True]
    found = await model.service.reader.by_id(record.document_id)
    assert found is not None and found.status == "revoked"
    assert found.revocation is not None and found.revocation.reason == revocation.reason


async def test_a_revocation_before_its_publication_is_kept_for_a_later_batch(
    model: ReadModel, pki: DevPKI
) -> None:
    record = published(pki)
    assert await model.service.project_many(announced(revoked(record))) == [True]
    assert await model.service.reader.by_id(record.document_id) is None
    assert await model.service.project_many(announced(record)) == [True]
    found = await model.service.reader.by_id(record.document_id)
    assert found is not None and found.status == "revoked"
