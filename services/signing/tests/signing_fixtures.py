"""Sample closed-year records and an in-memory unit of work for the signing tests."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from hocba_contracts import Envelope
from hocba_contracts.payloads.assessment import SubjectResult, YearRecordClosed, YearResult
from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StaffMember, StudentProfile
from hocba_signing.domain.model import SigningBatch, SigningRequest
from pymongo.errors import DuplicateKeyError

SCHOOL_ID = "079-TH-T"


def closed_record(
    teacher_id: str = "GV-TEST-01", principal_id: str = "HT-TEST-01", school_id: str = SCHOOL_ID
) -> YearRecordClosed:
    """A primary school's closed year record for a new student, signed by `teacher_id` (homeroom)
    then `principal_id`, in class 1A of `school_id`."""
    n = uuid.uuid4().int
    sid = f"HS{n % 10**8:08d}"
    return YearRecordClosed(
        record_id=f"{sid}.2024-2025",
        record_version=1,
        school_year="2024-2025",
        student=StudentProfile(
            student_id=sid,
            citizen_id=f"079218{n % 10**6:06d}",
            full_name="Nguyễn Hoàng Khôi",
            date_of_birth=date(2018, 9, 1),
            sex="male",
            place_of_birth="Cần Thơ",
        ),
        school=SchoolProfile(
            school_id=school_id,
            name="Trường Tiểu học Trần Quốc Toản",
            level="primary",
            province_code="079",
            province_name="Thành phố Hồ Chí Minh",
            district="Quận 5",
            principal=StaffMember(staff_id=principal_id, full_name="Phan Thị Kim Oanh"),
        ),
        class_info=ClassProfile(
            class_id=f"{school_id}-1A",
            school_id=school_id,
            school_year="2024-2025",
            grade=1,
            name="1A",
            homeroom_teacher=StaffMember(staff_id=teacher_id, full_name="Vũ Đức Thắng"),
        ),
        subjects=(
            SubjectResult(
                subject_code="TOAN",
                subject_name="Toán",
                rating="T",
                rating_label="Hoàn thành tốt",
                score=9,
            ),
        ),
        result=YearResult(
            level="hoan_thanh_tot",
            level_label="Hoàn thành tốt",
            completed_programme=True,
            rules="test",
        ),
        closed_at=datetime(2025, 5, 30, 8, 0, tzinfo=UTC),
    )


class FakeTx:
    def __init__(
        self, store: FakeStore, duplicate: bool, processed: set[str] | None = None
    ) -> None:
        self.s = store
        self.duplicate = duplicate
        self.processed = processed or set()

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None:
        """As the outbox, whose entries are keyed by event id: an event is recorded once."""
        if any(e.id == envelope.id for _, e in [*self.s.emitted, *self.s.pending]):
            raise DuplicateKeyError(f"event {envelope.id} is in the outbox already", 11000)
        self.s.pending.append((topic, envelope))

    async def emit_many(self, topic: str, envelopes: list[Envelope[Any]]) -> None:
        for envelope in envelopes:
            await self.emit(topic, envelope)

    async def get(self, key: str) -> SigningRequest | None:
        return copy.deepcopy(self.s.requests.get(key))

    async def existing(self, keys: list[str]) -> set[str]:
        return {k for k in keys if k in self.s.requests}

    async def save(self, request: SigningRequest) -> None:
        self.s.requests[request.key] = copy.deepcopy(request)

    async def save_many(self, requests: list[SigningRequest]) -> None:
        for request in requests:
            await self.save(request)

    async def pending_for(
        self, signer_id: str, school_id: str, limit: int = 500
    ) -> list[SigningRequest]:
        return [
            copy.deepcopy(r)
            for _, r in sorted(self.s.requests.items())
            if (n := r.next_signer()) is not None
            and n.signer_id == signer_id
            and r.school_id == school_id
        ][:limit]

    async def get_batch(self, batch_id: str) -> SigningBatch | None:
        return copy.deepcopy(self.s.batches.get(batch_id))

    async def awaiting(
        self, signer_id: str, school_id: str, limit: int = 5_000
    ) -> list[SigningRequest]:
        return [
            copy.deepcopy(r)
            for r in self.s.requests.values()
            if r.status == "pending"
            and r.school_id == school_id
            and signer_id in [x.signer_id for x in r.required[len(r.signatures) :]]
        ][:limit]

    async def due_before(self, at_iso: str, limit: int = 1_000) -> list[SigningRequest]:
        return [
            copy.deepcopy(r)
            for r in self.s.requests.values()
            if r.status == "pending" and r.due_at is not None and r.due_at <= at_iso
        ][:limit]

    async def save_batch(self, batch: SigningBatch) -> None:
        self.s.batches[batch.batch_id] = copy.deepcopy(batch)

    async def save_batches(self, batches: list[SigningBatch]) -> None:
        for batch in batches:
            await self.save_batch(batch)


class FakeStore:
    def __init__(self) -> None:
        self.requests: dict[str, SigningRequest] = {}
        self.batches: dict[str, SigningBatch] = {}
        self.processed: set[str] = set()
        self.emitted: list[tuple[str, Envelope[Any]]] = []
        self.pending: list[tuple[str, Envelope[Any]]] = []

    @asynccontextmanager
    async def __call__(self, processing: str | None = None) -> AsyncIterator[FakeTx]:
        async with self.many([] if processing is None else [processing]) as tx:
            tx.duplicate = processing is not None and processing in tx.processed
            yield tx

    @asynccontextmanager
    async def many(self, processing: list[str]) -> AsyncIterator[FakeTx]:
        saved = copy.deepcopy((self.requests, self.batches))
        self.pending = []
        try:
            yield FakeTx(self, False, {p for p in processing if p in self.processed})
        except BaseException:
            self.requests, self.batches = saved
            raise
        self.processed.update(processing)
        self.emitted.extend(self.pending)


SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN_LABEL, TOKEN_PIN = "hocba-test", "246810"


def softhsm_token(directory: str) -> str:
    """A SoftHSM2 token for this test process (the library reads its config once per process,
    so the first call decides where tokens live). Returns the token label."""
    import os
    import subprocess
    from pathlib import Path

    if "SOFTHSM2_CONF" not in os.environ:
        tokens = Path(directory) / "tokens"
        tokens.mkdir(parents=True, exist_ok=True)
        conf = Path(directory) / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )
        os.environ["SOFTHSM2_CONF"] = str(conf)
    listed = subprocess.run(
        ["softhsm2-util", "--show-slots"], capture_output=True, text=True
    ).stdout
    if f"Label:            {TOKEN_LABEL}" not in listed:
        subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                TOKEN_LABEL,
                "--so-pin",
                "13579135",
                "--pin",
                TOKEN_PIN,
            ],
            check=True,
            capture_output=True,
        )
    return TOKEN_LABEL
