"""Entries kept in memory (`WatchedLookupReader`) against the real database: kept while the change
stream says nothing changed; a change by anyone (another replica, an operator, a rebuild) is seen
within the stream's delay; the lookup's own writes are read at once; a read that raced a change is
not kept; while the stream is not open, every read goes to the database."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads.publishing import RecordPublished  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, eventually, scratch_database  # noqa: E402
from hocba_lookup.adapters.entry_cache import WatchedLookupReader  # noqa: E402
from hocba_lookup.adapters.mongo_lookup import (  # noqa: E402
    MongoLookupReader,
    MongoLookupUnitOfWork,
    ensure_indexes,
)
from hocba_lookup.adapters.trust import TrustListRecordVerifier  # noqa: E402
from hocba_lookup.application.use_cases import LookupService  # noqa: E402
from hocba_lookup.domain.model import PublishedEntry  # noqa: E402
from hocba_runtime.mongo import Mongo  # noqa: E402
from hocba_runtime.outbox import Outbox  # noqa: E402
from hocba_runtime.uow import MongoUnitOfWork  # noqa: E402
from lookup_fixtures import published, revoked  # noqa: E402

pytestmark = pytest.mark.integration
SECRET = "entry-cache-test-secret-0123"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-entry-cache-pki"))
    p.create()
    return p


@dataclass
class Model:
    mongo: Mongo
    stored: MongoLookupReader

    def service(self, reader: WatchedLookupReader) -> LookupService:
        uow = MongoLookupUnitOfWork(
            self.mongo, MongoUnitOfWork(self.mongo, Outbox(self.mongo), "lookup")
        )
        return LookupService(
            uow, reader, TrustListRecordVerifier(None), SECRET, changed=reader.forget
        )

    async def watched(self, collection: str = "published") -> WatchedLookupReader:
        reader = WatchedLookupReader(self.stored, self.mongo.db[collection])
        await reader.start()
        await eventually(lambda: _true(reader.live), timeout=10)
        return reader


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
async def model(local_infra: LocalInfra) -> AsyncIterator[Model]:
    async with scratch_database(local_infra, "lookup_entry_cache") as (mongo, _):
        await ensure_indexes(mongo)
        yield Model(mongo, MongoLookupReader(mongo))


async def project(
    service: LookupService, pki: DevPKI, rec: RecordPublished | None = None
) -> PublishedEntry:
    rec = rec or published(pki)
    await service.project(rec, make_envelope(rec, source="hocba/publishing"))
    entry = await service.reader.by_id(rec.document_id)
    assert entry is not None
    return entry


async def test_an_entry_is_kept_and_a_change_by_another_replica_is_seen_within_seconds(
    model: Model, pki: DevPKI
) -> None:
    reader = await model.watched()
    try:
        entry = await project(model.service(reader), pki)

        async def kept() -> bool:  # once the stream has told of the write itself, reads hit
            hits = reader.hits
            again = await reader.by_id(entry.document_id)
            return again is not None and reader.hits == hits + 1

        await eventually(kept, timeout=10)

        # another replica (or an operator) marks it superseded: this replica sees it within seconds
        await model.mongo.db.published.update_one(
            {"_id": entry.document_id}, {"$set": {"superseded_by": "HB-NEWER"}}
        )

        async def seen() -> bool:
            e = await reader.by_id(entry.document_id)
            return e is not None and e.superseded_by == "HB-NEWER"

        await eventually(seen, timeout=10)
        now = await reader.by_id(entry.document_id)
        assert now is not None and now.superseded_by == "HB-NEWER"

        # the collection dropped (a rebuild's swap, an operator): memory empties, reads miss
        await model.mongo.db.drop_collection("published")

        async def gone() -> bool:
            return await reader.by_id(entry.document_id) is None

        await eventually(gone, timeout=10)
        # and the stream is opened again on the new collection
        await eventually(lambda: _true(reader.live), timeout=10)
        other = await project(model.service(reader), pki)
        assert await reader.by_id(other.document_id) is not None
    finally:
        await reader.stop()


async def test_the_lookup_s_own_writes_are_read_at_once(model: Model, pki: DevPKI) -> None:
    # the stream watches a collection nobody writes: only the service's own word drops an entry
    reader = await model.watched("published_elsewhere")
    try:
        service = model.service(reader)
        rec = published(pki)
        entry = await project(service, pki, rec)
        assert await reader.by_id(entry.document_id) is not None
        hits = reader.hits
        assert (await reader.by_id(entry.document_id)) is not None and reader.hits == hits + 1

        gone = revoked(rec)
        await service.revoke(gone, make_envelope(gone, source="hocba/publishing"))
        now = await reader.by_id(entry.document_id)
        assert now is not None and now.revocation is not None, "read at once, not from memory"

        newer = published(pki, version=2, supersedes=entry.document_id)
        await service.project_many([(newer, make_envelope(newer, source="hocba/publishing"))])
        marked = await reader.by_id(entry.document_id)
        assert marked is not None and marked.superseded_by == newer.document_id
    finally:
        await reader.stop()


async def test_a_read_that_raced_a_change_is_not_kept(model: Model, pki: DevPKI) -> None:
    reader = await model.watched("published_elsewhere")
    try:
        entry = await project(model.service(reader), pki)
        reader.forget([entry.document_id])
        started = asyncio.Event()
        release = asyncio.Event()
        inner = reader.inner

        class Slow:
            async def by_id(self, document_id: str) -> PublishedEntry | None:
                found = await inner.by_id(document_id)
                started.set()
                await release.wait()
                return found

        reader.inner = Slow()  # type: ignore[assignment]
        read = asyncio.create_task(reader.by_id(entry.document_id))
        await started.wait()
        reader.forget([entry.document_id])  # it changed while the read was in flight
        release.set()
        assert await read is not None
        reader.inner = inner
        misses = reader.misses
        await reader.by_id(entry.document_id)
        assert reader.misses == misses + 1, "the raced read was not kept"
        await reader.by_id(entry.document_id)
        assert reader.misses == misses + 1, "the next read was"
    finally:
        await reader.stop()


async def test_without_an_open_stream_every_read_goes_to_the_database(
    model: Model, pki: DevPKI
) -> None:
    class Broken:
        def watch(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("no change streams here")

    reader = WatchedLookupReader(model.stored, Broken(), retry_seconds=0.05)  # type: ignore[arg-type]
    await reader.start()
    await asyncio.sleep(0.2)  # the stream tried, and tried again
    try:
        assert not reader.live
        entry = await project(model.service(reader), pki)
        await model.mongo.db.published.update_one(
            {"_id": entry.document_id}, {"$set": {"superseded_by": "HB-NEWER"}}
        )
        now = await reader.by_id(entry.document_id)
        assert now is not None and now.superseded_by == "HB-NEWER"
        assert reader.hits == 0
    finally:
        await reader.stop()
