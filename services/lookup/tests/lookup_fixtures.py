"""Published records for the lookup tests, signed with a development PKI (fictional people)."""

from __future__ import annotations

import base64
import copy
import dataclasses
import uuid
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from hocba_contracts.payloads.publishing import RecordPublished, RecordRevoked
from hocba_contracts.payloads.signing import DocumentSignature, RecordSigned
from hocba_devstack.devpki import DevPKI
from hocba_lookup.domain.model import PublishedEntry, Revocation
from hocba_trust.canonical import canonical_bytes, sha256_hex
from hocba_trust.cms import SigningIdentity, sign_detached

NAME = "Trịnh Thị Thanh Thảo"
BORN = date(2014, 2, 28)
PLACE_OF_BIRTH = "Huyện Nga Sơn, Thanh Hóa"
PARENTS = (
    {
        "relation": "mother",
        "full_name": "Lương Thị Mỹ Duyên",
        "occupation": "Kế toán viên",
        "phone": None,
    },
    {
        "relation": "father",
        "full_name": "Trịnh Văn Khải",
        "occupation": "Kỹ sư cầu đường",
        "phone": None,
    },
)


def personal_values(citizen_id: str) -> list[str]:
    """What a public answer about the fixture's student must never contain."""
    return [
        citizen_id,
        BORN.isoformat(),
        BORN.strftime("%d/%m/%Y"),
        f"{BORN.day}/{BORN.month}/{BORN.year}",
        PLACE_OF_BIRTH,
        *(value for p in PARENTS for field in ("full_name", "occupation") if (value := p[field])),
    ]


def unlock_correction(reason: str) -> dict[str, str]:
    """A version's correction as assessment states it: unlocked by the school's administrator."""
    return {
        "kind": "unlock",
        "reason": reason,
        "approved_by": "079-TH-L-QT",
        "at": "2025-06-12T09:30:00Z",
    }


def new_citizen_id() -> str:
    return f"0793140{uuid.uuid4().int % 10**5:05d}"


def signed(
    pki: DevPKI,
    citizen_id: str | None = None,
    version: int = 1,
    teacher: SigningIdentity | None = None,
    student_id: str | None = None,
    signed_at: datetime | None = None,
    correction: dict[str, Any] | None = None,
    school_year: str = "2024-2025",
    grade: int = 5,
) -> RecordSigned:
    """A signed record, as signing hands it to publishing (a later version with its
    `correction`, as assessment states it), of class `grade`B in `school_year`."""
    sid = student_id or f"HS{uuid.uuid4().int % 10**8:08d}"
    cid = citizen_id or new_citizen_id()
    doc: dict[str, Any] = {
        "document_type": "hocba.year_record",
        "format_version": 1,
        "record_id": f"{sid}.{school_year}",
        "record_version": version,
        "school_year": school_year,
        "student": {
            "student_id": sid,
            "citizen_id": cid,
            "full_name": NAME,
            "date_of_birth": BORN.isoformat(),
            "sex": "female",
            "ethnicity": "Kinh",
            "place_of_birth": PLACE_OF_BIRTH,
            "parents": list(PARENTS),
        },
        "school": {
            "school_id": "079-TH-L",
            "name": "Trường Tiểu học Hòa Bình",
            "level": "primary",
            "province_code": "079",
            "province_name": "Thành phố Hồ Chí Minh",
            "district": "Quận 1",
            "principal": {"staff_id": "HT-L", "full_name": "Bùi Văn Lộc"},
        },
        "class_info": {
            "class_id": f"079-TH-L-{grade}B",
            "school_id": "079-TH-L",
            "school_year": school_year,
            "grade": grade,
            "name": f"{grade}B",
            "homeroom_teacher": {"staff_id": "GV-L", "full_name": "Mai Thị Yến"},
        },
        "subjects": [
            {
                "subject_code": "TOAN",
                "subject_name": "Toán",
                "rating": "T",
                "rating_label": "Hoàn thành tốt",
                "score": 9.0,
                "comment": "",
            }
        ],
        "result": {
            "level": "hoan_thanh_tot",
            "level_label": "Hoàn thành tốt",
            "completed_programme": True,
            "rules": "t",
        },
        "closed_at": f"{school_year[-4:]}-05-30T08:00:00Z",
    }
    if correction is not None:
        doc["correction"] = correction
    content = canonical_bytes(doc)
    sigs = []
    for role, staff, name, ident in (
        ("homeroom_teacher", "GV-L", "Mai Thị Yến", teacher),
        ("principal", "HT-L", "Bùi Văn Lộc", None),
    ):
        identity = ident or pki.load_identity(staff) or pki.issue(staff, name)
        at = signed_at or datetime.now(UTC)
        sigs.append(
            DocumentSignature(
                role=role,
                signer_id=staff,
                signer_name=name,
                signed_at=at,
                cms=base64.b64encode(sign_detached(content, identity, at=at)).decode(),
            )
        )
    return RecordSigned(
        record_id=doc["record_id"],
        record_version=version,
        student_id=sid,
        document=doc,
        content_sha256=sha256_hex(content),
        signatures=tuple(sigs),
    )


def revoked(
    document: RecordPublished, reason: str = "Cấp nhầm học bạ, nhà trường đã cấp lại"
) -> RecordRevoked:
    """The revocation of a published record as publishing announces it."""
    return RecordRevoked(
        document_id=document.document_id,
        record_id=document.record_id,
        record_version=document.record_version,
        student_id=document.student_id,
        revoked_by="HT-L",
        reason=reason,
        revoked_at=datetime(2025, 6, 2, 9, 15, 30, 123000, tzinfo=UTC),
    )


def published(
    pki: DevPKI,
    citizen_id: str | None = None,
    version: int = 1,
    supersedes: str | None = None,
    teacher: SigningIdentity | None = None,
    student_id: str | None = None,
    signed_at: datetime | None = None,
) -> RecordPublished:
    """A published record as publishing announces it (without a PDF behind it)."""
    record = signed(pki, citizen_id, version, teacher, student_id, signed_at)
    return RecordPublished(
        document_id=f"HB-2024-{uuid.uuid4().hex[:4].upper()}-{version:04d}-TEST",
        record_id=record.record_id,
        record_version=version,
        student_id=record.student_id,
        document=record.document,
        content_sha256=record.content_sha256,
        signatures=record.signatures,
        pdf_sha256="0" * 64,
        pdf_path="/documents/x/pdf",
        published_at=datetime.now(UTC),
        supersedes=supersedes,
    )


def _as_stored(entry: PublishedEntry) -> PublishedEntry:
    """A copy, with its time to the millisecond: what a MongoDB date keeps."""
    at = entry.published_at
    return copy.deepcopy(
        dataclasses.replace(
            entry, published_at=at.replace(microsecond=at.microsecond // 1000 * 1000)
        )
    )


class FakeTx:
    def __init__(
        self, store: FakeStore, duplicate: bool, processed: set[str] | None = None
    ) -> None:
        self.s = store
        self.duplicate = duplicate
        self.processed = processed or set()

    async def upsert(self, entry: PublishedEntry, key: str) -> None:
        self.s.rows[entry.document_id] = (_as_stored(entry), key)

    async def mark_superseded(self, document_id: str, by: str) -> None:
        if document_id in self.s.rows:
            entry, key = self.s.rows[document_id]
            self.s.rows[document_id] = (dataclasses.replace(entry, superseded_by=by), key)

    async def superseding(self, document_id: str) -> str | None:
        return next(
            (e.document_id for e, _ in self.s.rows.values() if e.supersedes == document_id), None
        )

    async def revoke(self, document_id: str, revocation: Revocation) -> None:
        """The first revocation of a document stands, as `$setOnInsert` keeps it."""
        at = revocation.revoked_at
        stored = dataclasses.replace(
            revocation, revoked_at=at.replace(microsecond=at.microsecond // 1000 * 1000)
        )
        kept = self.s.revocations.setdefault(document_id, stored)
        if document_id in self.s.rows:
            entry, key = self.s.rows[document_id]
            if entry.revocation is None:
                self.s.rows[document_id] = (dataclasses.replace(entry, revocation=kept), key)

    async def revocation(self, document_id: str) -> Revocation | None:
        return self.s.revocations.get(document_id)

    async def superseding_many(self, document_ids: Collection[str]) -> dict[str, str]:
        return {d: by for d in document_ids if (by := await self.superseding(d)) is not None}

    async def revocations_many(self, document_ids: Collection[str]) -> dict[str, Revocation]:
        return {d: r for d in document_ids if (r := await self.revocation(d)) is not None}

    async def upsert_many(self, entries: Sequence[tuple[PublishedEntry, str]]) -> None:
        for entry, key in entries:
            await self.upsert(entry, key)

    async def mark_superseded_many(self, marks: Mapping[str, str]) -> None:
        for document_id, by in marks.items():
            await self.mark_superseded(document_id, by)

    async def revoke_many(self, revocations: Mapping[str, Revocation]) -> None:
        for document_id, revocation in revocations.items():
            await self.revoke(document_id, revocation)


class FakeStore:
    """The lookup's read model in memory: its unit of work (committing or rolling back what a
    transaction wrote) and its reader, returning copies."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[PublishedEntry, str]] = {}
        self.revocations: dict[str, Revocation] = {}
        self.processed: set[str] = set()

    @asynccontextmanager
    async def __call__(self, processing: str | None = None) -> AsyncIterator[FakeTx]:
        saved = dict(self.rows), dict(self.revocations)
        try:
            yield FakeTx(self, processing is not None and processing in self.processed)
        except BaseException:
            self.rows, self.revocations = saved
            raise
        if processing is not None:
            self.processed.add(processing)

    @asynccontextmanager
    async def many(self, processing: list[str]) -> AsyncIterator[FakeTx]:
        saved = dict(self.rows), dict(self.revocations)
        try:
            yield FakeTx(self, False, {p for p in processing if p in self.processed})
        except BaseException:
            self.rows, self.revocations = saved
            raise
        self.processed.update(processing)

    async def by_key(self, key: str) -> list[PublishedEntry]:
        return [copy.deepcopy(e) for e, k in self.rows.values() if k == key]

    async def by_student(self, student_id: str) -> list[PublishedEntry]:
        return [copy.deepcopy(e) for e, _ in self.rows.values() if e.student_id == student_id]

    async def students_of_class(
        self, school_id: str, school_year: str, class_name: str
    ) -> list[str]:
        return sorted(
            {
                e.student_id
                for e, _ in self.rows.values()
                if e.document.get("school", {}).get("school_id") == school_id
                and e.school_year == school_year
                and e.document.get("class_info", {}).get("name") == class_name
            }
        )

    async def by_id(self, document_id: str) -> PublishedEntry | None:
        row = self.rows.get(document_id)
        return copy.deepcopy(row[0]) if row else None
