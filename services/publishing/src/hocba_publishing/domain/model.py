"""A published record: immutable, with a document id people can type and a content hash.

Rules:
- the document id is derived from (record id, version) under the publisher's secret key, so a
  re-delivered or re-sent signed record always maps to the same id and is published once, and
  nobody without the key can compute a record's id from the student id and school year;
- a published document never changes; a new version of the same record is a new document that
  supersedes the previous one;
- nothing is published unless its content hash matches and every required signature verifies.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hocba_runtime.errors import DomainError, NotFound

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
    pdf_sha256: str
    published_at: datetime
    supersedes: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pdf_path(self) -> str:
        return f"/documents/{self.document_id}/pdf"


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
