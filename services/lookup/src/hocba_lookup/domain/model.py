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
import re
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
    school: str | None = None
    """The school the signed record names, whose member signed it."""
    issuer: str | None = None
    """Who issued the signer's certificate (its issuer's common or organization name); None when
    the signature does not read far enough to name its certificate."""
    certificate_subject: str | None = None
    """The signer's certificate as it names its holder (RFC 4514)."""
    signing_time: datetime | None = None
    """The signing time the signature itself carries (its CMS signing-time attribute)."""


LogState = Literal["included", "missing", "mismatch", "forged", "unavailable", "unconfigured"]


@dataclass(frozen=True)
class LogCheck:
    """Whether the document's publication is in the transparency log, proven by an inclusion proof
    under a checkpoint signed with the log's key the lookup pins. `included` is the only pass;
    `missing` (no entry), `mismatch` (the log records other content) and `forged` (the bundle does
    not verify under the key) fail; `unavailable` (publishing cannot be reached now) and
    `unconfigured` (no log key set) mean it could not be checked now, which is not valid either."""

    state: LogState
    message_vi: str
    message_en: str
    index: int | None = None
    checkpoint_size: int | None = None
    logged_status: str | None = None
    """The standing the verified log entries give: published, superseded or revoked."""

    @property
    def included(self) -> bool:
        return self.state == "included"

    @property
    def failed(self) -> bool:
        return self.state in ("missing", "mismatch", "forged")


@dataclass(frozen=True)
class SealCheck:
    """A PDF's PAdES seal (the school's), as the offline verifier checks it."""

    valid: bool
    message_vi: str
    message_en: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class UploadedRecord:
    """What an uploaded PDF carries (its record, read from the PDF, not yet checked) and its seal,
    checked. Held in memory for the one answer; the record is personal and never shown whole."""

    document_id: str
    record_version: int | None
    document: dict[str, Any]
    content_sha256: str
    signatures: list[dict[str, Any]]
    seal: SealCheck


class UnreadablePdf(Exception):
    """An uploaded file that is not a Hocba PDF that can be read: why, in both languages, and its
    seal when the PDF's signatures could still be read."""

    def __init__(self, vi: str, en: str, seal: SealCheck | None = None) -> None:
        super().__init__(en)
        self.message_vi, self.message_en, self.seal = vi, en, seal


Outcome = Literal["valid", "invalid", "revoked", "unchecked"]


@dataclass(frozen=True)
class Verification:
    content_intact: bool
    signatures: list[SignatureCheck] = field(default_factory=list)
    revoked: bool = False
    """The school revoked the document: it is not valid, however intact and well signed."""
    log: LogCheck | None = None
    """The transparency log's word, when this verification asked it (None: not asked)."""
    seal: SealCheck | None = None
    """For an uploaded PDF: its seal."""
    problems: tuple[tuple[str, str], ...] = ()
    """Further reasons it is not valid, (Vietnamese, English): e.g. an uploaded PDF whose record
    is not the one published under its id."""

    @property
    def outcome(self) -> Outcome:
        """revoked; invalid when a check failed; unchecked when all that could be checked passed
        but the log could not be asked now; else valid."""
        if self.revoked:
            return "revoked"
        if (
            not self.content_intact
            or not self.signatures
            or not all(s.valid for s in self.signatures)
            or (self.log is not None and self.log.failed)
            or (self.seal is not None and not self.seal.valid)
            or self.problems
        ):
            return "invalid"
        if self.log is not None and not self.log.included:
            return "unchecked"
        return "valid"

    @property
    def valid(self) -> bool:
        return self.outcome == "valid"


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


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS = str.maketrans("OIL", "011")
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015_.·/]+")


def normalize_document_id(text: str) -> str | None:
    """A document id as someone types it off the paper (any case, spaces or no dashes, O for 0,
    I or L for 1) in its printed form `HB-2024-XXXX-XXXX-XXXX`; None when it cannot be one."""
    raw = _SEPARATORS.sub("", text).upper()
    if len(raw) > 40:
        return None
    body = raw[2:] if raw.startswith("HB") else raw
    year, rest = body[:4], body[4:].translate(_READ_AS)
    if not (year.isascii() and year.isdigit()) or len(rest) != 12:
        return None
    if any(c not in CROCKFORD for c in rest):
        return None
    return f"HB-{year}-{rest[0:4]}-{rest[4:8]}-{rest[8:12]}"


ROLE_TITLES = {
    "homeroom_teacher": "Giáo viên chủ nhiệm",
    "subject_teacher": "Giáo viên bộ môn",
    "principal": "Hiệu trưởng",
    "school_seal": "Con dấu số của nhà trường",
}


ROLE_TITLES_EN = {
    "homeroom_teacher": "homeroom teacher",
    "subject_teacher": "subject teacher",
    "principal": "principal",
    "school_seal": "school's seal",
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
