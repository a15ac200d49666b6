"""The lookup's read model and what a verification says.

Rules:
- a parent's sign-in finds records by the student's personal ID number and date of birth (with
  the school's access code, `domain.access`); the read model
  keeps only an HMAC of the two (keyed by a secret), so its index reveals neither;
- a record is verified at every lookup, never from a stored flag: content hash, then each
  signature against the trust list and CRLs as they are now;
- a record superseded by a newer version says so and points to it;
- a record its school revoked (thu hồi) says so, with the reason and the time, and no longer
  verifies as valid, whatever its signatures; a revocation stands once made, even if the
  publication is projected again later;
- a parent downloads the PDF signed in (`domain.access`); the lookup fetches it from publishing
  with its own service token, so publishing's documents stay closed to the public.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from hocba_runtime.errors import DomainError, NotFound


def lookup_key(secret: str, citizen_id: str, date_of_birth: date) -> str:
    """HMAC-SHA256 of 'citizen id|YYYY-MM-DD' under the lookup secret, hex."""
    message = f"{citizen_id}|{date_of_birth.isoformat()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def derived_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose (CSRF), derived from the lookup secret: HMAC-SHA256 of
    the purpose's name, so that no key serves two purposes and none is the secret itself."""
    return hmac.new(secret.encode(), f"hocba-lookup/{purpose}/v1".encode(), hashlib.sha256).digest()


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
    revoked: bool = False
    """The school revoked the document: it is not valid, however intact and well signed."""

    @property
    def valid(self) -> bool:
        return (
            not self.revoked
            and self.content_intact
            and bool(self.signatures)
            and all(s.valid for s in self.signatures)
        )


@dataclass(frozen=True)
class Revocation:
    """Why and when the school revoked a published document (what the verification page shows)."""

    reason: str
    revoked_at: datetime


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
    pdf_sha256: str | None
    """Announced only for PDFs rendered before the publication; since, the PDF comes after."""
    pdf_path: str
    published_at: datetime
    supersedes: str | None = None
    superseded_by: str | None = None
    revocation: Revocation | None = None

    @property
    def correction_reason(self) -> str | None:
        """Why this version exists, as its signed record states it; None for a first version."""
        correction = self.document.get("correction")
        if isinstance(correction, dict) and isinstance(correction.get("reason"), str):
            return str(correction["reason"])
        return None

    @property
    def status(self) -> Literal["published", "superseded", "revoked"]:
        """Revoked outweighs superseded: a revoked version stays revoked after a newer one."""
        if self.revocation is not None:
            return "revoked"
        return "superseded" if self.superseded_by else "published"


ROLE_TITLES = {
    "homeroom_teacher": "Giáo viên chủ nhiệm",
    "subject_teacher": "Giáo viên bộ môn",
    "principal": "Hiệu trưởng",
    "school_seal": "Con dấu số của nhà trường",
}


class UnknownDocument(NotFound):
    code = "document_not_found"


class PdfUnavailable(DomainError):
    """Publishing cannot hand over a PDF now (unreachable, or it refused the lookup's token)."""

    status = 503
    code = "pdf_unavailable"


class LogUnavailable(DomainError):
    """Publishing's transparency log cannot be read now (unreachable, or it refused the lookup)."""

    status = 503
    code = "log_unavailable"
