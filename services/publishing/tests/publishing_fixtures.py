"""Signed records for the publishing tests, signed with a development PKI (fictional people)."""

from __future__ import annotations

import base64
import copy
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from hocba_contracts import Envelope
from hocba_contracts.payloads.signing import DocumentSignature, RecordSigned
from hocba_devstack.devpki import DevPKI
from hocba_publishing.adapters.weasyprint_renderer import WeasyPrintRenderer
from hocba_publishing.application.books import RecordBooks
from hocba_publishing.domain.model import PublishedDocument, Revocation, StoredPdf
from hocba_trust.canonical import canonical_bytes, sha256_hex
from hocba_trust.cms import sign_detached
from pymongo.errors import DuplicateKeyError

STUDENT_NAME = "Nguyễn Thị Ánh Tuyết"
SCHOOL_ID = "079-TH-P"
CLASS_ID = "079-TH-P-5A"
HOMEROOM_TEACHER = "GV-P"
SUBJECT_TEACHER = "GV-P-TA"
"""Teaches the class English (Tiếng Anh), not its homeroom."""
PRINCIPAL = "HT-P"


def document(student_id: str | None = None, version: int = 1) -> dict[str, Any]:
    sid = student_id or f"HS{uuid.uuid4().int % 10**8:08d}"
    return {
        "document_type": "hocba.year_record",
        "format_version": 1,
        "record_id": f"{sid}.2024-2025",
        "record_version": version,
        "school_year": "2024-2025",
        "student": {
            "student_id": sid,
            "citizen_id": "079318004321",
            "full_name": STUDENT_NAME,
            "date_of_birth": "2018-11-20",
            "sex": "female",
            "ethnicity": "Kinh",
            "place_of_birth": "Đồng Nai",
            "parents": [
                {
                    "relation": "mother",
                    "full_name": "Trương Thị Hằng",
                    "occupation": "Giáo viên",
                    "phone": None,
                }
            ],
        },
        "school": {
            "school_id": "079-TH-P",
            "name": "Trường Tiểu học Đinh Tiên Hoàng",
            "level": "primary",
            "province_code": "079",
            "province_name": "Thành phố Hồ Chí Minh",
            "district": "Quận Bình Thạnh",
            "principal": {"staff_id": "HT-P", "full_name": "Lâm Quốc Hùng"},
        },
        "class_info": {
            "class_id": "079-TH-P-5A",
            "school_id": "079-TH-P",
            "school_year": "2024-2025",
            "grade": 5,
            "name": "5A",
            "homeroom_teacher": {"staff_id": "GV-P", "full_name": "Đỗ Thị Ngọc Diệp"},
            "subject_teachers": [
                {"subject_code": "TA", "staff_id": SUBJECT_TEACHER, "full_name": "Phạm Minh Khôi"}
            ],
        },
        "subjects": [
            {
                "subject_code": "TV",
                "subject_name": "Tiếng Việt",
                "rating": "T",
                "rating_label": "Hoàn thành tốt",
                "score": 10.0,
                "comment": "Đọc diễn cảm, viết đúng chính tả.",
            }
        ],
        "result": {
            "level": "hoan_thanh_xuat_sac",
            "level_label": "Hoàn thành xuất sắc",
            "completed_programme": True,
            "rules": "test",
        },
        "closed_at": "2025-05-30T08:00:00Z",
    }


def serve_record_books(app: Any, lookup_public_url: str) -> RecordBooks:
    """Wire the record books into a built service's app as its composition root is to
    (`app.state.books`: the app's reader, and a WeasyPrintRenderer of the books' own)."""
    books = RecordBooks(app.state.reader, WeasyPrintRenderer(lookup_public_url))
    app.state.books = books
    return books


def signed_record(pki: DevPKI, doc: dict[str, Any] | None = None) -> RecordSigned:
    doc = doc or document()
    content = canonical_bytes(doc)
    sigs = []
    for role, sid, name in (
        ("homeroom_teacher", "GV-P", "Đỗ Thị Ngọc Diệp"),
        ("principal", "HT-P", "Lâm Quốc Hùng"),
    ):
        identity = pki.load_identity(sid) or pki.issue(sid, name)
        sigs.append(
            DocumentSignature(
                role=role,
                signer_id=sid,
                signer_name=name,
                signed_at=datetime.now(UTC),
                cms=base64.b64encode(sign_detached(content, identity)).decode(),
            )
        )
    return RecordSigned(
        record_id=doc["record_id"],
        record_version=doc["record_version"],
        student_id=doc["student"]["student_id"],
        document=doc,
        content_sha256=sha256_hex(content),
        signatures=tuple(sigs),
    )


def _as_stored(doc: PublishedDocument) -> PublishedDocument:
    """A copy, with its time to the millisecond: what a MongoDB date keeps."""
    at = doc.published_at
    return copy.deepcopy(
        dataclasses.replace(doc, published_at=at.replace(microsecond=at.microsecond // 1000 * 1000))
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

    async def find(self, record_id: str, record_version: int) -> PublishedDocument | None:
        return next(
            (
                copy.deepcopy(d)
                for d in self.s.docs.values()
                if (d.record_id, d.record_version) == (record_id, record_version)
            ),
            None,
        )

    async def latest(self, record_id: str) -> PublishedDocument | None:
        mine = sorted(
            (d for d in self.s.docs.values() if d.record_id == record_id),
            key=lambda d: d.record_version,
        )
        return copy.deepcopy(mine[-1]) if mine else None

    async def save(self, doc: PublishedDocument) -> None:
        """Documents are inserted, never replaced; one per record version (the unique index)."""
        if doc.document_id in self.s.docs:
            raise DuplicateKeyError(f"document {doc.document_id} is published already", 11000)
        if await self.find(doc.record_id, doc.record_version) is not None:
            raise DuplicateKeyError("this record version is published already", 11000)
        self.s.docs[doc.document_id] = _as_stored(doc)

    async def save_many(self, docs: list[PublishedDocument]) -> None:
        """All or none, as one insert_many in a transaction is."""
        ids = [d.document_id for d in docs]
        keys = [(d.record_id, d.record_version) for d in docs]
        stored = {(d.record_id, d.record_version) for d in self.s.docs.values()}
        if (
            len(set(ids)) < len(ids)
            or len(set(keys)) < len(keys)
            or any(i in self.s.docs for i in ids)
            or stored & set(keys)
        ):
            raise DuplicateKeyError("a document of the batch is published already", 11000)
        for d in docs:
            self.s.docs[d.document_id] = _as_stored(d)

    async def versions(self, record_ids: Collection[str]) -> dict[str, dict[int, str]]:
        return self.s.versions_of(record_ids)

    async def emit_many(self, topic: str, envelopes: list[Envelope[Any]]) -> None:
        for envelope in envelopes:
            await self.emit(topic, envelope)

    async def revocation(self, document_id: str) -> Revocation | None:
        return self.s.revoked.get(document_id)

    async def revoke(self, revocation: Revocation) -> None:
        """One per document (keyed by its id, as the collection is)."""
        if revocation.document_id in self.s.revoked:
            raise DuplicateKeyError(f"document {revocation.document_id} is revoked already", 11000)
        at = revocation.revoked_at
        self.s.revoked[revocation.document_id] = dataclasses.replace(
            revocation, revoked_at=at.replace(microsecond=at.microsecond // 1000 * 1000)
        )

    async def log(self, entries: list[dict[str, Any]]) -> None:
        """Keyed by kind and document, as the log's queue is: an entry is queued once."""
        for entry in entries:
            key = f"{entry['kind']}:{entry['document_id']}"
            if key in self.s.log_queue:
                raise DuplicateKeyError(f"log entry {key} is queued already", 11000)
            self.s.log_queue[key] = copy.deepcopy(entry)


class FakeStore:
    """In-memory unit of work and reader with the Mongo adapter's semantics."""

    def __init__(self) -> None:
        self.docs: dict[str, PublishedDocument] = {}
        self.pdfs: dict[str, StoredPdf] = {}
        self.renders: dict[str, tuple[str, float]] = {}
        """Who renders which PDF, until when (monotonic seconds)."""
        self.rejections: dict[str, str] = {}
        self.revoked: dict[str, Revocation] = {}
        self.log_queue: dict[str, dict[str, Any]] = {}
        """Transparency-log entries queued, by kind and document id, in the order queued."""
        self.processed: set[str] = set()
        self.emitted: list[tuple[str, Envelope[Any]]] = []
        self.pending: list[tuple[str, Envelope[Any]]] = []

    @asynccontextmanager
    async def __call__(self, processing: str | None = None) -> AsyncIterator[FakeTx]:
        saved = (copy.copy(self.docs), copy.copy(self.revoked), copy.copy(self.log_queue))
        self.pending = []
        try:
            yield FakeTx(self, processing is not None and processing in self.processed)
        except BaseException:
            self.docs, self.revoked, self.log_queue = saved
            raise
        if processing is not None:
            self.processed.add(processing)
        self.emitted.extend(self.pending)

    @asynccontextmanager
    async def many(self, processing: list[str]) -> AsyncIterator[FakeTx]:
        saved = (copy.copy(self.docs), copy.copy(self.revoked), copy.copy(self.log_queue))
        self.pending = []
        try:
            yield FakeTx(self, False, {p for p in processing if p in self.processed})
        except BaseException:
            self.docs, self.revoked, self.log_queue = saved
            raise
        self.processed.update(processing)
        self.emitted.extend(self.pending)

    def versions_of(self, record_ids: Collection[str]) -> dict[str, dict[int, str]]:
        out: dict[str, dict[int, str]] = {}
        for d in self.docs.values():
            if d.record_id in record_ids:
                out.setdefault(d.record_id, {})[d.record_version] = d.document_id
        return out

    async def versions(self, record_ids: Collection[str]) -> dict[str, dict[int, str]]:
        return self.versions_of(record_ids)

    async def document(self, document_id: str) -> PublishedDocument | None:
        return copy.deepcopy(self.docs.get(document_id))

    # PdfStore

    async def get(self, document_id: str) -> StoredPdf | None:
        return self.pdfs.get(document_id)

    async def sha256(self, document_id: str) -> str | None:
        kept = self.pdfs.get(document_id)
        return None if kept is None else kept.sha256

    async def save(self, document_id: str, pdf: StoredPdf) -> StoredPdf:
        """The first PDF kept stands."""
        return self.pdfs.setdefault(document_id, StoredPdf(bytes(pdf.pdf), pdf.sha256))

    async def claim(self, document_id: str, owner: str, seconds: float) -> bool:
        held = self.renders.get(document_id)
        if held is not None and held[0] != owner and held[1] > time.monotonic():
            return False
        self.renders[document_id] = (owner, time.monotonic() + seconds)
        return True

    async def release(self, document_id: str, owner: str) -> None:
        if self.renders.get(document_id, ("", 0.0))[0] == owner:
            del self.renders[document_id]

    async def for_record(self, record_id: str) -> list[PublishedDocument]:
        return sorted(
            (copy.deepcopy(d) for d in self.docs.values() if d.record_id == record_id),
            key=lambda d: d.record_version,
        )

    async def for_student(self, student_id: str) -> list[PublishedDocument]:
        return sorted(
            (copy.deepcopy(d) for d in self.docs.values() if d.student_id == student_id),
            key=lambda d: (d.school_year, d.record_version),
        )

    async def find(self, record_id: str, record_version: int) -> PublishedDocument | None:
        return await FakeTx(self, False).find(record_id, record_version)

    async def save_rejection(self, record_id: str, record_version: int, reason: str) -> None:
        self.rejections[f"{record_id}:{record_version}"] = reason

    async def superseded_by(self, document_id: str) -> str | None:
        return next(
            (d.document_id for d in self.docs.values() if d.supersedes == document_id), None
        )

    async def revocation(self, document_id: str) -> Revocation | None:
        return self.revoked.get(document_id)

    async def revocations(self, record_id: str) -> list[Revocation]:
        return sorted(
            (r for r in self.revoked.values() if r.record_id == record_id),
            key=lambda r: r.record_version,
        )
