"""The lookup's subscriber takes publishing's events a poll at a time, on the real local broker and
database: it dead-letters what does not read and projects the rest, projects event by event a batch
that fails for one of its events (dead-lettering that one), and leaves a batch that meets a database
outage to be delivered again until it is projected."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import ServerSelectionTimeoutError

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.topics import PUBLISHING_EVENTS  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, eventually, produce, read_topic  # noqa: E402
from hocba_lookup.application.ports import LookupTx, LookupUnitOfWork  # noqa: E402
from hocba_lookup.bootstrap import Lookup, build  # noqa: E402
from lookup_fixtures import published  # noqa: E402
from lookup_stack import lookup_settings  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-batch-subscriber-pki"))
    p.create()
    return p


@pytest.fixture
async def live(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> AsyncIterator[Lookup]:
    lookup = build(lookup_settings(local_infra, unique_db("lookup"), pki))
    await lookup.runtime.start()
    try:
        yield lookup
    finally:
        await lookup.runtime.stop()


async def projected(lookup: Lookup, document_ids: Sequence[str]) -> bool:
    return all([await lookup.service.reader.by_id(d) is not None for d in document_ids])


async def dead_letters(local_infra: LocalInfra, marker: bytes) -> list[Any]:
    """The dead letters of the publishing topic whose value contains `marker`."""
    found = await read_topic(
        local_infra.kafka_bootstrap,
        PUBLISHING_EVENTS.dead_letter,
        until=lambda m: any(marker in x.value for x in m),
        timeout=60,
    )
    return [x for x in found if marker in x.value]


async def test_a_message_that_does_not_read_is_dead_lettered_and_the_rest_of_its_batch_projected(
    live: Lookup, local_infra: LocalInfra, pki: DevPKI
) -> None:
    first, second = published(pki), published(pki)
    marker = f"not an event {uuid.uuid4().hex}".encode()
    await produce(
        local_infra.kafka_bootstrap,
        PUBLISHING_EVENTS.name,
        [
            make_envelope(first, source="hocba/publishing").model_dump_json().encode(),
            marker,
            make_envelope(second, source="hocba/publishing").model_dump_json().encode(),
        ],
    )
    await eventually(lambda: projected(live, [first.document_id, second.document_id]), timeout=60)
    [dead] = await dead_letters(local_infra, marker)
    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["hocba-consumer"] == "hocba-lookup"
    assert headers["hocba-error"].startswith("not JSON")


async def test_a_batch_that_fails_for_one_event_is_projected_event_by_event_and_that_one_dead_lettered(
    live: Lookup, local_infra: LocalInfra, pki: DevPKI
) -> None:
    first, bad, second = published(pki), published(pki), published(pki)
    bad.document["student"]["date_of_birth"] = "30/02/2014"  # no lookup key can be made of it
    envelopes = [make_envelope(p, source="hocba/publishing") for p in (first, bad, second)]
    await produce(local_infra.kafka_bootstrap, PUBLISHING_EVENTS.name, envelopes)
    await eventually(lambda: projected(live, [first.document_id, second.document_id]), timeout=60)
    [dead] = await dead_letters(local_infra, envelopes[1].id.encode())
    assert dict(dead.headers)["hocba-error-type"] == b"ValueError"
    assert await live.service.reader.by_id(bad.document_id) is None


class Outage:
    """The lookup's database out of reach until `end()`: every transaction its unit of work opens
    fails as one that cannot find a server does."""

    def __init__(self, uow: LookupUnitOfWork) -> None:
        self.uow = uow
        self.down = True
        self.failed_batches = 0

    def end(self) -> None:
        self.down = False

    @asynccontextmanager
    async def __call__(self, processing: str | None = None) -> AsyncIterator[LookupTx]:
        if self.down:
            raise ServerSelectionTimeoutError("the test's database outage")
        async with self.uow(processing) as tx:
            yield tx

    @asynccontextmanager
    async def many(self, processing: list[str]) -> AsyncIterator[LookupTx]:
        if self.down:
            self.failed_batches += 1
            raise ServerSelectionTimeoutError("the test's database outage")
        async with self.uow.many(processing) as tx:
            yield tx


async def test_a_batch_that_meets_a_database_outage_is_delivered_again_until_it_is_projected(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> None:
    settings = lookup_settings(local_infra, unique_db("lookup"), pki)
    lookup = build(settings)
    outage = Outage(lookup.service.uow)
    lookup.service.uow = outage
    records = [published(pki), published(pki)]
    await lookup.runtime.start()
    try:
        await produce(
            local_infra.kafka_bootstrap,
            PUBLISHING_EVENTS.name,
            [make_envelope(p, source="hocba/publishing") for p in records],
        )
        # each delivery tries the batch retry_attempts times: more failures than that mean the
        # batch came again (not dead-lettered, nor projected event by event past the outage)
        await eventually(lambda: outage.failed_batches > 2 * settings.retry_attempts, timeout=60)
        outage.end()
        await eventually(lambda: projected(lookup, [p.document_id for p in records]), timeout=60)
    finally:
        await lookup.runtime.stop()
