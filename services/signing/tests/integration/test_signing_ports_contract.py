"""The signing unit of work's contract (SigningUnitOfWork, SigningTx), one suite for both of its
implementations: the fake the unit tests use (signing_fixtures.FakeStore) and
MongoSigningUnitOfWork on the local database. A behaviour the fake gets wrong fails here."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import Envelope, make_envelope  # noqa: E402
from hocba_contracts.payloads.assessment import YearRecordClosed  # noqa: E402
from hocba_contracts.topics import SIGNING_EVENTS  # noqa: E402
from hocba_devstack.testing import LocalInfra, outbox_event_ids, scratch_database  # noqa: E402
from hocba_runtime.mongo import is_duplicate_key  # noqa: E402
from hocba_runtime.uow import MongoUnitOfWork  # noqa: E402
from hocba_signing.adapters.mongo_signing import (  # noqa: E402
    MongoSigningUnitOfWork,
    ensure_indexes,
)
from hocba_signing.application.ports import SigningUnitOfWork  # noqa: E402
from hocba_signing.domain.model import (  # noqa: E402
    CollectedSignature,
    SigningBatch,
    SigningRequest,
    build_document,
    required_signers,
)
from hocba_trust.canonical import canonical_bytes, sha256_hex  # noqa: E402
from signing_fixtures import SCHOOL_ID, FakeStore, closed_record  # noqa: E402

pytestmark = pytest.mark.integration

TEACHER, PRINCIPAL = "GV-C-01", "HT-C-01"
OTHER_SCHOOL = "079-TH-OTHER"


@dataclass
class Signing:
    """One implementation of the port, and what it committed to announce (event ids, in order)."""

    uow: SigningUnitOfWork
    committed_events: Callable[[], Awaitable[list[str]]]


@pytest.fixture
async def signing(contract_backend: LocalInfra | None) -> AsyncIterator[Signing]:
    if contract_backend is None:
        fake = FakeStore()

        async def committed() -> list[str]:
            return [e.id for _, e in fake.emitted]

        yield Signing(fake, committed)
        return
    async with scratch_database(contract_backend, "signing_contract") as (mongo, outbox):
        await ensure_indexes(mongo)
        uow = MongoSigningUnitOfWork(mongo, MongoUnitOfWork(mongo, outbox, "signing"))
        yield Signing(uow, lambda: outbox_event_ids(outbox))


def request(
    school_id: str = SCHOOL_ID, due_at: str | None = "2025-06-13T08:00:00+00:00"
) -> SigningRequest:
    """A new request of `school_id`: the homeroom teacher TEACHER signs first, then PRINCIPAL."""
    record = closed_record(TEACHER, PRINCIPAL, school_id)
    document = build_document(record.model_dump(mode="json"))
    return SigningRequest(
        record_id=record.record_id,
        record_version=record.record_version,
        student_id=record.student.student_id,
        document=document,
        content_sha256=sha256_hex(canonical_bytes(document)),
        required=required_signers(document),
        due_at=due_at,
    )


def signature(role: str, signer_id: str) -> CollectedSignature:
    return CollectedSignature(
        role=role,
        signer_id=signer_id,
        signer_name="Vũ Đức Thắng",
        signed_at="2025-06-01T09:30:00.123456+00:00",
        cms="MIIBdGVzdA==",
        batch={"statement": {"root": "ab" * 32}, "proof": [{"left": "cd" * 32}]},
    )


def teacher_signed(r: SigningRequest) -> SigningRequest:
    r.add(signature("homeroom_teacher", TEACHER))
    return r


def announcement() -> Envelope[YearRecordClosed]:
    return make_envelope(closed_record(), source="test")


class Rollback(Exception):
    pass


def keys(requests: list[SigningRequest]) -> list[str]:
    return [r.key for r in requests]


async def test_what_is_saved_reads_back_equal(signing: Signing) -> None:
    signed_once = teacher_signed(request())
    signed_once.reminded.append(PRINCIPAL)
    signed_once.log("2025-06-01T09:30:00+00:00", "signed", role="homeroom_teacher")
    refused = request(due_at=None)
    refused.reject("homeroom_teacher", TEACHER, "điểm Toán chưa đúng", "2025-06-02T10:00:00+00:00")
    batch = SigningBatch(
        batch_id=f"B-{uuid.uuid4().hex[:8]}",
        signer_id=TEACHER,
        role="homeroom_teacher",
        members=[(signed_once.record_id, 1), (refused.record_id, 1)],
        statement={"root": "ef" * 32, "count": 2},
        proofs=[{"index": 0, "path": []}, {"index": 1, "path": ["ab" * 32]}],
        school_id=SCHOOL_ID,
    )
    async with signing.uow() as tx:
        await tx.save(signed_once)
        await tx.save(refused)
        await tx.save_batch(batch)
        assert await tx.get(refused.key) == refused, "a transaction reads its own writes"
    async with signing.uow() as tx:
        assert await tx.get(signed_once.key) == signed_once
        assert await tx.get(refused.key) == refused
        assert await tx.get_batch(batch.batch_id) == batch


async def test_what_was_never_saved_is_none_or_empty(signing: Signing) -> None:
    async with signing.uow() as tx:
        assert await tx.get("HS-NONE.2024-2025:1") is None
        assert await tx.get_batch("B-NONE") is None
        assert await tx.pending_for(TEACHER, SCHOOL_ID) == []
        assert await tx.awaiting(TEACHER, SCHOOL_ID) == []
        assert await tx.due_before("2100-01-01T00:00:00+00:00") == []


async def test_a_read_request_is_a_copy_until_saved(signing: Signing) -> None:
    r = request()
    async with signing.uow() as tx:
        await tx.save(r)
    async with signing.uow() as tx:
        read = await tx.get(r.key)
        assert read is not None
        teacher_signed(read)
    async with signing.uow() as tx:
        assert await tx.get(r.key) == r, "changed in memory, never saved"
        await tx.save(teacher_signed(r))
    async with signing.uow() as tx:
        assert await tx.get(r.key) == r


async def test_pending_for_lists_the_next_signer_s_requests_of_one_school_in_key_order(
    signing: Signing,
) -> None:
    waiting = [request() for _ in range(4)]
    elsewhere = request(OTHER_SCHOOL)
    principal_s_turn = teacher_signed(request())
    refused = request()
    refused.reject("homeroom_teacher", TEACHER, "sai họ tên", "2025-06-02T10:00:00+00:00")
    async with signing.uow() as tx:
        for r in [*waiting, elsewhere, principal_s_turn, refused]:
            await tx.save(r)
    in_order = sorted(keys(waiting))
    async with signing.uow() as tx:
        assert keys(await tx.pending_for(TEACHER, SCHOOL_ID)) == in_order
        assert keys(await tx.pending_for(TEACHER, SCHOOL_ID, limit=2)) == in_order[:2]
        assert keys(await tx.pending_for(TEACHER, OTHER_SCHOOL)) == [elsewhere.key]
        assert keys(await tx.pending_for(PRINCIPAL, SCHOOL_ID)) == [principal_s_turn.key]


async def test_awaiting_lists_pending_requests_with_a_part_of_the_signer_not_signed_yet(
    signing: Signing,
) -> None:
    new = request()
    teacher_done = teacher_signed(request())
    complete = teacher_signed(request())
    complete.add(signature("principal", PRINCIPAL))
    refused = request()
    refused.reject("homeroom_teacher", TEACHER, "sai ngày sinh", "2025-06-02T10:00:00+00:00")
    elsewhere = request(OTHER_SCHOOL)
    async with signing.uow() as tx:
        for r in (new, teacher_done, complete, refused, elsewhere):
            await tx.save(r)
    async with signing.uow() as tx:
        assert set(keys(await tx.awaiting(PRINCIPAL, SCHOOL_ID))) == {new.key, teacher_done.key}
        assert keys(await tx.awaiting(TEACHER, SCHOOL_ID)) == [new.key]
        assert keys(await tx.awaiting(TEACHER, OTHER_SCHOOL)) == [elsewhere.key]
        assert len(await tx.awaiting(PRINCIPAL, SCHOOL_ID, limit=1)) == 1


async def test_due_before_lists_pending_requests_due_by_then(signing: Signing) -> None:
    early = request(due_at="2025-06-10T08:00:00+00:00")
    on_time = request(due_at="2025-06-12T08:00:00+00:00")
    late = request(due_at="2025-06-20T08:00:00+00:00")
    undated = request(due_at=None)
    done = teacher_signed(request(due_at="2025-06-01T08:00:00+00:00"))
    done.add(signature("principal", PRINCIPAL))
    async with signing.uow() as tx:
        for r in (early, on_time, late, undated, done):
            await tx.save(r)
    async with signing.uow() as tx:
        due = await tx.due_before("2025-06-12T08:00:00+00:00")
        assert set(keys(due)) == {early.key, on_time.key}
        assert len(await tx.due_before("2025-06-12T08:00:00+00:00", limit=1)) == 1


async def test_a_transaction_that_fails_leaves_nothing_behind(signing: Signing) -> None:
    kept = request()
    async with signing.uow() as tx:
        await tx.save(kept)
    new = request()
    batch = SigningBatch(f"B-{uuid.uuid4().hex[:8]}", TEACHER, "homeroom_teacher", [], {}, [])
    with pytest.raises(Rollback):
        async with signing.uow("event-rolled-back") as tx:
            assert tx.duplicate is False
            await tx.save(new)
            await tx.save(teacher_signed(await tx.get(kept.key) or kept))
            await tx.save_batch(batch)
            await tx.emit(SIGNING_EVENTS.name, announcement())
            raise Rollback
    async with signing.uow("event-rolled-back") as tx:
        assert tx.duplicate is False, "the event was not processed: its redelivery is handled"
        assert await tx.get(new.key) is None
        assert await tx.get(kept.key) == kept
        assert await tx.get_batch(batch.batch_id) is None
    assert await signing.committed_events() == []


async def test_an_event_id_is_processed_once(signing: Signing) -> None:
    async with signing.uow("event-1") as tx:
        assert tx.duplicate is False
    async with signing.uow("event-1") as tx:
        assert tx.duplicate is True
    async with signing.uow("event-2") as tx:
        assert tx.duplicate is False
    async with signing.uow() as tx:
        assert tx.duplicate is False, "a change without an incoming event is never a duplicate"


async def test_committed_events_are_announced_in_the_order_they_were_emitted(
    signing: Signing,
) -> None:
    first = [announcement() for _ in range(3)]
    later = announcement()
    async with signing.uow() as tx:
        for env in first:
            await tx.emit(SIGNING_EVENTS.name, env)
    async with signing.uow() as tx:
        await tx.emit(SIGNING_EVENTS.name, later)
    assert await signing.committed_events() == [e.id for e in [*first, later]]


async def test_an_event_is_emitted_once(signing: Signing) -> None:
    env = announcement()
    with pytest.raises(Exception) as raised:
        async with signing.uow() as tx:
            await tx.emit(SIGNING_EVENTS.name, env)
            await tx.emit(SIGNING_EVENTS.name, env)
    assert is_duplicate_key(raised.value), raised.value
    assert await signing.committed_events() == []


async def test_a_batch_is_saved_and_read_back_in_one_transaction(signing: Signing) -> None:
    stored, first, second = request(), request(), teacher_signed(request())
    batch = SigningBatch(
        batch_id=f"B-{uuid.uuid4().hex[:8]}",
        signer_id=TEACHER,
        role="homeroom_teacher",
        members=[(first.record_id, 1), (second.record_id, 1)],
        statement={"root": "ef" * 32, "tree_size": 2},
        proofs=[{"index": 0, "path": []}, {"index": 1, "path": ["ab" * 32]}],
        status="signed",
        school_id=SCHOOL_ID,
    )
    async with signing.uow() as tx:
        await tx.save(stored)
    async with signing.uow() as tx:
        assert await tx.existing([first.key, stored.key, second.key]) == {stored.key}
        assert await tx.existing([]) == set()
        await tx.save_many([first, second])
        await tx.save_batches([batch])
        await tx.save_many([])
        await tx.save_batches([])
    async with signing.uow() as tx:
        assert await tx.get(first.key) == first and await tx.get(second.key) == second
        assert await tx.get_batch(batch.batch_id) == batch
        assert await tx.existing([first.key, second.key, "HS-NONE:1"]) == {first.key, second.key}


async def test_a_batch_of_events_is_processed_once_each(signing: Signing) -> None:
    async with signing.uow.many(["b-1", "b-2"]) as tx:
        assert tx.processed == set()
    async with signing.uow.many(["b-2", "b-3"]) as tx:
        assert tx.processed == {"b-2"}, "only the event handled before"
    async with signing.uow("b-3") as tx:
        assert tx.duplicate is True, "marked when its batch committed"
    with pytest.raises(Rollback):
        async with signing.uow.many(["b-4"]) as tx:
            raise Rollback
    async with signing.uow.many(["b-4"]) as tx:
        assert tx.processed == set(), "a batch rolled back marks nothing"
    envs = [announcement() for _ in range(3)]
    async with signing.uow.many([]) as tx:
        await tx.emit_many(SIGNING_EVENTS.name, envs)
    assert (await signing.committed_events())[-3:] == [e.id for e in envs]
