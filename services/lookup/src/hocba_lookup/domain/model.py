"""The lookup's read model and what a verification says.

Rules:
- parents find records by the student's personal ID number and date of birth; the read model
  keeps only an HMAC of the two (keyed by a secret), so its index reveals neither;
- a record is verified at every lookup, never from a stored flag: content hash, then each
  signature against the trust list and CRLs as they are now;
- a record superseded by a newer version says so and points to it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from hocba_runtime.errors import NotFound


def lookup_key(secret: str, citizen_id: str, date_of_birth: date) -> str:
    """HMAC-SHA256 of 'citizen id|YYYY-MM-DD' under the lookup secret, hex."""
    message = f"{citizen_id}|{date_of_birth.isoformat()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignatureCheck:
    role: str
    signer_name: str
    signed_at: str
    valid: bool
    reason: str | None = None
    message_vi: str | None = None
    message_en: str | None = None


@dataclass(frozen=True)
class Verification:
    content_intact: bool
    signatures: list[SignatureCheck] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.content_intact and bool(self.signatures) and all(s.valid for s in self.signatures)


@dataclass(frozen=True)
class PublishedEntry:
    document_id: str
    record_id: str
    record_version: int
    student_id: str
    school_year: str
    document: dict[str, Any]
    content_sha256: str
    signatures: list[dict[str, Any]]
    pdf_sha256: str
    pdf_path: str
    published_at: datetime
    supersedes: str | None = None
    superseded_by: str | None = None

    @property
    def status(self) -> str:
        return "superseded" if self.superseded_by else "published"


ROLE_TITLES = {"homeroom_teacher": "Giáo viên chủ nhiệm", "subject_teacher": "Giáo viên bộ môn", "principal": "Hiệu trưởng",
               "school_seal": "Con dấu số của nhà trường"}


class UnknownDocument(NotFound):
    code = "document_not_found"
