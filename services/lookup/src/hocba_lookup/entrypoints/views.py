"""What the lookup's answers say of a published record, for the JSON API and for the pages alike.

The models carry no personal field at all (no personal ID number, date of birth, place of birth or
parents), and the pages are rendered from them, not from the stored record. `summary` notes in the
audit trail whose record an answer showed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import Request
from hocba_runtime.auth import Resource, current_access
from pydantic import BaseModel, Field

from hocba_lookup.domain.model import (
    ROLE_TITLES,
    LogCheck,
    PublishedEntry,
    Revocation,
    SealCheck,
    Verification,
)
from hocba_lookup.entrypoints.pages import vn_time


class RevocationOut(BaseModel):
    """The school revoked the record (thu hồi): it has no value any more."""

    reason: str = Field(description="Why, as the school gave it (lý do thu hồi)")
    revoked_at: datetime
    revoked_on: str = Field(
        description="The time of the revocation as the page shows it, in Vietnam's time"
    )


class RecordSummary(BaseModel):
    """What identifies a published record to a verifier; nothing personal beyond the name."""

    document_id: str
    status: Literal["published", "superseded", "revoked"] = Field(
        description="published; superseded by a newer version (superseded_by); or revoked by the "
        "school (revocation: why and when), which no longer verifies as valid"
    )
    superseded_by: str | None
    superseded_reason: str | None = Field(
        default=None, description="Why the newer version was made (its correction's reason)"
    )
    correction_reason: str | None = Field(
        default=None, description="Why this version corrects an earlier one; null for the first"
    )
    revocation: RevocationOut | None
    school_year: str
    school_name: str
    class_name: str
    grade: int
    student_name: str
    result: str
    published_at: datetime
    verification_url: str


class SubjectOut(BaseModel):
    """A subject's year results as the record prints them."""

    subject_code: str
    subject_name: str
    rating_label: str | None = None
    score: float | None = None
    term1_average: float | None = None
    term2_average: float | None = None
    year_average: float | None = None
    passed: bool | None = None
    result_label: str | None = None
    comment: str = ""


class SignatureCheckOut(BaseModel):
    role: str
    role_title: str = Field(default="", description="The role as the record prints it")
    signer_name: str
    signed_at: str
    signing_time: datetime | None = Field(
        default=None, description="The signing time the signature itself carries"
    )
    signed_on: str | None = Field(
        default=None,
        description="The signing time the signature carries, in Vietnam's time (Vietnamese form)",
    )
    school: str | None = Field(default=None, description="The school the signer signed for")
    issuer: str | None = Field(
        default=None, description="Who issued the signer's certificate (a verified signature's)"
    )
    valid: bool
    reason: str | None
    message_vi: str | None
    message_en: str | None


class LogCheckOut(BaseModel):
    """The document's entry in the transparency log, proven under the log key this lookup pins."""

    state: Literal["included", "missing", "mismatch", "forged", "unavailable", "unconfigured"] = (
        Field(
            description="included (the only pass); missing, mismatch (other content logged) and "
            "forged fail; unavailable and unconfigured: could not be checked now"
        )
    )
    included: bool
    index: int | None = Field(default=None, description="The entry's index in the log")
    checkpoint_size: int | None = Field(
        default=None, description="The size of the signed checkpoint the inclusion is proven in"
    )
    message_vi: str
    message_en: str


class SealCheckOut(BaseModel):
    """An uploaded PDF's PAdES seal: the school's, covering the whole file."""

    valid: bool
    message_vi: str
    message_en: str
    details: list[str] = Field(description="Each signature of the PDF, as checked")


class ProblemOut(BaseModel):
    message_vi: str
    message_en: str


class VerificationOut(BaseModel):
    outcome: Literal["valid", "invalid", "revoked", "unchecked"] = Field(
        default="valid",
        description="valid; invalid (a check failed: see each); revoked by the school; unchecked: "
        "what could be checked passed, but the transparency log could not be asked now",
    )
    valid: bool = Field(
        description="Intact, signed by every signer with a valid certificate, in the transparency "
        "log (when asked), and not revoked"
    )
    content_intact: bool
    revoked: bool = Field(description="The school revoked the document: it is not valid")
    signatures: list[SignatureCheckOut]
    log: LogCheckOut | None = Field(default=None, description="The transparency log's word")
    seal: SealCheckOut | None = Field(default=None, description="An uploaded PDF's seal")
    problems: list[ProblemOut] = Field(default_factory=list)


def verification_out(v: Verification) -> VerificationOut:
    return VerificationOut(
        outcome=v.outcome,
        valid=v.valid,
        content_intact=v.content_intact,
        revoked=v.revoked,
        signatures=[
            SignatureCheckOut(
                role=s.role,
                role_title=ROLE_TITLES.get(s.role, s.role),
                signer_name=s.signer_name,
                signed_at=s.signed_at,
                signing_time=s.signing_time,
                signed_on=None if s.signing_time is None else vn_time(s.signing_time),
                school=s.school,
                issuer=s.issuer,
                valid=s.valid,
                reason=s.reason,
                message_vi=s.message_vi,
                message_en=s.message_en,
            )
            for s in v.signatures
        ],
        log=None if v.log is None else log_out(v.log),
        seal=None if v.seal is None else seal_out(v.seal),
        problems=[ProblemOut(message_vi=vi, message_en=en) for vi, en in v.problems],
    )


def log_out(c: LogCheck) -> LogCheckOut:
    return LogCheckOut(
        state=c.state,
        included=c.included,
        index=c.index,
        checkpoint_size=c.checkpoint_size,
        message_vi=c.message_vi,
        message_en=c.message_en,
    )


def seal_out(c: SealCheck) -> SealCheckOut:
    return SealCheckOut(
        valid=c.valid, message_vi=c.message_vi, message_en=c.message_en, details=list(c.details)
    )


class DocumentOut(RecordSummary):
    record_version: int
    content_sha256: str = Field(
        description="As printed on the record: the hash of its signed content"
    )
    pdf_sha256: str | None = Field(
        description="The PDF's SHA-256 when it was announced with the publication; publications "
        "since do not wait for their PDF, so it is null"
    )
    subjects: list[SubjectOut]
    verification: VerificationOut


def revocation_out(r: Revocation) -> RevocationOut:
    return RevocationOut(reason=r.reason, revoked_at=r.revoked_at, revoked_on=vn_time(r.revoked_at))


def summary(
    request: Request, e: PublishedEntry, superseded_reason: str | None = None
) -> RecordSummary:
    """What every public answer says of a record; the audit trail notes whose record it showed."""
    d = e.document
    current_access(request).touched(
        Resource(
            school_id=str(d.get("school", {}).get("school_id") or "") or None,
            student_ids=(e.student_id,),
            record_id=e.record_id,
        )
    )
    base = request.app.state.runtime.settings.base_url.rstrip("/")
    return RecordSummary(
        document_id=e.document_id,
        status=e.status,
        superseded_by=e.superseded_by,
        superseded_reason=superseded_reason,
        correction_reason=e.correction_reason,
        revocation=None if e.revocation is None else revocation_out(e.revocation),
        school_year=e.school_year,
        school_name=d["school"]["name"],
        class_name=d["class_info"]["name"],
        grade=d["class_info"]["grade"],
        student_name=d["student"]["full_name"],
        result=d["result"]["level_label"],
        published_at=e.published_at,
        verification_url=f"{base}/verify/{e.document_id}",
    )


def document_out(
    request: Request, e: PublishedEntry, v: Verification, reasons: dict[str, str]
) -> DocumentOut:
    return DocumentOut(
        **summary(request, e, reasons.get(e.document_id)).model_dump(),
        record_version=e.record_version,
        content_sha256=e.content_sha256,
        pdf_sha256=e.pdf_sha256,
        subjects=[SubjectOut.model_validate(s) for s in e.document.get("subjects", [])],
        verification=verification_out(v),
    )


class PdfVerificationOut(BaseModel):
    """An uploaded PDF, verified: the record it carries (content, signatures), its seal, its
    entry in the transparency log, and the standing of its document id in this lookup."""

    outcome: Literal["valid", "invalid", "revoked", "unchecked"]
    valid: bool
    document_id: str | None = Field(description="The document id the PDF's record states")
    record_version: int | None
    known: bool = Field(description="This lookup has the PDF's document (published here)")
    unreadable: ProblemOut | None = Field(
        default=None, description="Why the file could not be read as a học bạ số PDF"
    )
    record: RecordSummary | None = Field(
        default=None,
        description="The published record under the PDF's document id, as this lookup has it "
        "(status: current, superseded or revoked)",
    )
    verification: VerificationOut | None = Field(
        default=None, description="The PDF's own record and seal, checked"
    )
