"""A published record: immutable, with a document id people can type and a content hash.

Rules:
- the document id is derived from (record id, version) under the publisher's secret key, so a
  re-delivered or re-sent signed record always maps to the same id and is published once, and
  nobody without the key can compute a record's id from the student id and school year;
- a published document never changes; a new version of the same record is a new document that
  supersedes the previous one;
- nothing is published unless its content hash matches and every required signature verifies;
- the principal of the record's school may revoke (thu hồi) a published document, once, with a
  reason: the document stays as it was published, its revocation is a record of its own, and from
  then on it no longer verifies as valid. A document's status is `revoked` once revoked, else
  `superseded` once a newer version supersedes it, else `published`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from hocba_contracts.payloads.publishing import REVOCATION_REASON_MAX_LENGTH
from hocba_runtime.errors import Conflict, DomainError, NotFound

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REQUIRED_ROLES = ("homeroom_teacher", "principal")


def document_id(record_id: str, record_version: int, school_year: str, *, key: bytes) -> str:
    """HB-<first year of the school year>-XXXX-XXXX-XXXX: 60 bits of HMAC-SHA256 of the record's
    id and version under `key` (the publisher's secret), in Crockford base32 (no I, L, O, U: easy
    to read out and type). Without the key, an id cannot be computed from a record id."""
    mac = hmac.new(key, f"{record_id}:{record_version}".encode(), hashlib.sha256).digest()
    digest = int.from_bytes(mac[:8], "big") >> 4
    chars = "".join(CROCKFORD[(digest >> (5 * i)) & 31] for i in reversed(range(12)))
    return f"HB-{school_year[:4]}-{chars[0:4]}-{chars[4:8]}-{chars[8:12]}"


@dataclass(frozen=True)
class PublishedDocument:
    document_id: str
    record_id: str
    record_version: int
    student_id: str
    school_year: str
    document: dict[str, Any]
    content_sha256: str
    signatures: list[dict[str, Any]]
    pdf_sha256: str | None
    """Of a PDF rendered before the publication (documents published before PDFs were rendered
    afterwards); None since: the PDF's own record (`StoredPdf`) has it."""
    published_at: datetime
    supersedes: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pdf_path(self) -> str:
        return f"/documents/{self.document_id}/pdf"


@dataclass(frozen=True)
class StoredPdf:
    """A document's official PDF, rendered once and kept as it is served."""

    pdf: bytes
    sha256: str


class NotPublishable(DomainError):
    """A signed record that fails verification: it is refused and never published."""

    status = 422
    code = "not_publishable"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(
            message, code="not_publishable", details=[{"field": "signatures", "problem": reason}]
        )
        self.reason = reason


class UnknownDocument(NotFound):
    code = "document_not_found"


@dataclass(frozen=True)
class Revocation:
    """The revocation (thu hồi) of a published document: who revoked it, when and why. Kept apart
    from the document, which never changes; one per document, and final."""

    document_id: str
    record_id: str
    record_version: int
    student_id: str
    school_id: str | None
    revoked_by: str
    reason: str
    revoked_at: datetime


class DocumentStatus(StrEnum):
    PUBLISHED = "published"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"


def document_status(superseded_by: str | None, revocation: Revocation | None) -> DocumentStatus:
    """Revoked outweighs superseded: a revoked version stays revoked after a newer one."""
    if revocation is not None:
        return DocumentStatus.REVOKED
    return DocumentStatus.SUPERSEDED if superseded_by else DocumentStatus.PUBLISHED


_PERSONAL_ID = re.compile(r"(?<!\d)(?:\d[ .-]?){8,}\d(?!\d)")
"""Nine digits or more, maybe grouped: an identity card's number (9 digits) or a personal
identification number (12)."""


class InvalidRevocation(DomainError):
    status = 422
    code = "invalid_revocation"

    def __init__(self, message: str) -> None:
        super().__init__(message, details=[{"field": "reason", "problem": message}])


def revocation_reason(reason: str) -> str:
    """The reason as kept, trimmed. The verification page shows it to anybody, so it must say
    something, be short, and hold no personal identification number."""
    kept = reason.strip()
    if not kept:
        raise InvalidRevocation(
            "give the reason for revoking the document (lý do thu hồi): the verification page "
            "shows it to whoever checks the record"
        )
    if len(kept) > REVOCATION_REASON_MAX_LENGTH:
        raise InvalidRevocation(
            f"the reason is {len(kept)} characters long; shorten it to at most "
            f"{REVOCATION_REASON_MAX_LENGTH}"
        )
    if _PERSONAL_ID.search(kept):
        raise InvalidRevocation(
            "the reason holds what looks like a personal identification number; the verification "
            "page is public, so leave out personal ID numbers, dates of birth and parents' names"
        )
    return kept


class AlreadyRevoked(Conflict):
    """A document is revoked once; the first revocation stands."""

    code = "already_revoked"

    def __init__(self, revocation: Revocation) -> None:
        at = revocation.revoked_at.isoformat(timespec="seconds")
        super().__init__(
            f"document {revocation.document_id} was revoked already, at {at} by "
            f"{revocation.revoked_by}; a revocation is final and cannot be repeated or changed",
            details=[
                {
                    "field": "document_id",
                    "problem": "already revoked",
                    "revoked_at": at,
                    "revoked_by": revocation.revoked_by,
                }
            ],
        )
        self.revocation = revocation


@dataclass(frozen=True)
class LogCheckpoint:
    """A signed tree head of the transparency log: its size, root and the signed note text
    (c2sp.org/tlog-checkpoint) that verifiers and witnesses read."""

    size: int
    root: bytes
    note: str
    signed_at: datetime


@dataclass(frozen=True)
class LogEntry:
    """One leaf of the transparency log: its index and entry (hocba_trust.logentry)."""

    index: int
    entry: dict[str, Any]


class OutsideTheLog(DomainError):
    """A proof asked for sizes or an index the log does not have (yet)."""

    status = 422
    code = "outside_the_log"


def correction_reason(document: dict[str, Any]) -> str | None:
    """Why this version exists, as its signed record states it (assessment's `correction`: the
    unlock's or the summer re-assessment's reason); None for a first version."""
    correction = document.get("correction")
    if isinstance(correction, dict) and isinstance(correction.get("reason"), str):
        return str(correction["reason"])
    return None
