"""A signing request: the document to sign, who must sign it and in which order, and the
signatures collected so far.

Rules:
- the document is the closed-year record with its type and format version; what is signed is its
  canonical serialization (RFC 8785), so every verifier gets the same bytes back;
- a version after a record's first is signed with its `correction` (why it supersedes the one
  before: kind, reason, approved_by, at), so the signatures cover the reason too;
- the homeroom teacher signs first, the principal last (TT27/2020 Art. 14; DOMAIN §7);
- a request is complete when every required signer has signed; it never changes afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hocba_runtime.errors import Conflict, DomainError, NotFound

DOCUMENT_TYPE = "hocba.year_record"
FORMAT_VERSION = 1


def build_document(record: dict[str, Any]) -> dict[str, Any]:
    """The document to sign: the closed-year record (JSON form) tagged with its type and format,
    every field of it kept, `correction` included. A version without a correction (the first) has
    no `correction` key at all, as no document had before corrections were stated, so that a
    first version's document is the same whenever it was made."""
    document = {"document_type": DOCUMENT_TYPE, "format_version": FORMAT_VERSION, **record}
    if document.get("correction") is None:
        document.pop("correction", None)
    return document


@dataclass(frozen=True)
class RequiredSigner:
    role: str
    signer_id: str
    signer_name: str


def required_signers(record: dict[str, Any], school_seal: bool = False) -> list[RequiredSigner]:
    """Who signs a year record, in order (DOMAIN §7; TT22/2021 Art. 16 for secondary school):
    - secondary school: each subject teacher, for the results of their subjects, in the order the
      subjects are printed (a teacher of several subjects signs once; the homeroom teacher, who
      signs anyway, is not asked twice);
    - the homeroom teacher;
    - the principal, last, then the school's organizational seal when configured.
    A subject teacher's name is not in the record: it is taken from their certificate when they sign."""
    homeroom = record["class_info"]["homeroom_teacher"]
    signers: list[RequiredSigner] = []
    if str(record["result"].get("rules", "")).startswith("TT22"):
        seen = {homeroom["staff_id"]}
        for subject in record["subjects"]:
            teacher = subject.get("teacher_id")
            if teacher and teacher not in seen:
                seen.add(teacher)
                signers.append(RequiredSigner("subject_teacher", teacher, teacher))
    signers.append(RequiredSigner("homeroom_teacher", homeroom["staff_id"], homeroom["full_name"]))
    principal = record["school"]["principal"]
    signers.append(RequiredSigner("principal", principal["staff_id"], principal["full_name"]))
    if school_seal:
        signers.append(
            RequiredSigner("school_seal", record["school"]["school_id"], record["school"]["name"])
        )
    return signers


@dataclass(frozen=True)
class CollectedSignature:
    role: str
    signer_id: str
    signer_name: str
    signed_at: str  # ISO 8601, UTC, from the signature's signing time
    cms: str  # base64 DER
    batch: dict[str, Any] | None = None  # bulk signature: {statement, proof}


@dataclass
class SigningBatch:
    """A signer's approval of many documents at once: one signature over their Merkle root. A batch
    gathers the requests of one school only, the school the signer acts for."""

    batch_id: str
    signer_id: str
    role: str
    members: list[tuple[str, int]]  # (record_id, record_version), in leaf order
    statement: dict[str, Any]
    proofs: list[dict[str, Any]]
    status: str = "pending"  # pending | signed
    school_id: str | None = None


@dataclass
class SigningRequest:
    record_id: str
    record_version: int
    student_id: str
    document: dict[str, Any]
    content_sha256: str
    required: list[RequiredSigner]
    signatures: list[CollectedSignature] = field(default_factory=list)
    due_at: str | None = None  # ISO 8601 UTC: when every signature should be in
    rejected: dict[str, Any] | None = None  # {role, signer_id, reason, at}
    reminded: list[str] = field(default_factory=list)  # signer ids reminded for this request
    history: list[dict[str, Any]] = field(default_factory=list)  # the audit trail of this request

    @property
    def key(self) -> str:
        return request_key(self.record_id, self.record_version)

    @property
    def school_id(self) -> str:
        return str(self.document["school"]["school_id"])

    @property
    def class_id(self) -> str:
        return str(self.document["class_info"]["class_id"])

    @property
    def signer_ids(self) -> frozenset[str]:
        """Everyone the request is addressed to: every required signer, whether signed already or not."""
        return frozenset(s.signer_id for s in self.required)

    @property
    def class_teachers(self) -> frozenset[str]:
        """Who teaches the student's class: the homeroom teacher and the subject teachers."""
        info = self.document["class_info"]
        return frozenset(
            {str(info["homeroom_teacher"]["staff_id"])}
            | {str(t["staff_id"]) for t in info.get("subject_teachers", ())}
        )

    @property
    def complete(self) -> bool:
        return len(self.signatures) == len(self.required)

    @property
    def status(self) -> str:
        if self.rejected:
            return "rejected"
        return "signed" if self.complete else "pending"

    def next_signer(self) -> RequiredSigner | None:
        return None if self.complete or self.rejected else self.required[len(self.signatures)]

    def log(self, at: str, action: str, **details: Any) -> None:
        self.history.append({"at": at, "action": action, **details})

    def reject(self, role: str, signer_id: str, reason: str, at: str) -> None:
        """The next signer refuses, with a reason: nobody signs this version any more."""
        if not reason.strip():
            raise ReasonRequired("say why you refuse to sign; the reason goes back to the school")
        self.check_turn(role, signer_id)
        self.rejected = {"role": role, "signer_id": signer_id, "reason": reason, "at": at}
        self.log(at, "rejected", role=role, signer_id=signer_id, reason=reason)

    def reassign(
        self, signer_id: str, substitute: RequiredSigner, at: str, reason: str, by: str
    ) -> bool:
        """Hand a signer's part that is not signed yet to a substitute (leave, retirement, transfer)."""
        done = len(self.signatures)
        changed = False
        for i, required in enumerate(self.required):
            if i >= done and required.signer_id == signer_id and not self.rejected:
                self.required[i] = RequiredSigner(
                    required.role, substitute.signer_id, substitute.signer_name
                )
                changed = True
                self.log(
                    at,
                    "reassigned",
                    role=required.role,
                    from_signer=signer_id,
                    to_signer=substitute.signer_id,
                    reason=reason,
                    by=by,
                )
        return changed

    def check_turn(self, role: str, signer_id: str) -> RequiredSigner:
        """Who may sign now: the next required signer, and nobody else."""
        if self.rejected:
            raise AlreadyRejected(
                f"record {self.record_id} version {self.record_version} was refused by "
                f"{self.rejected['role']} {self.rejected['signer_id']}; a corrected version comes to sign"
            )
        nxt = self.next_signer()
        if nxt is None:
            raise AlreadySigned(
                f"record {self.record_id} version {self.record_version} is already fully signed"
            )
        if (role, signer_id) != (nxt.role, nxt.signer_id):
            expected = f"{nxt.role} {nxt.signer_id}"
            if any((r.role, r.signer_id) == (role, signer_id) for r in self.required):
                raise OutOfOrder(
                    f"it is not yet the turn of {role} {signer_id}; next to sign: {expected}"
                )
            raise NotARequiredSigner(
                f"{role} {signer_id} is not a required signer of this record; next to sign: {expected}"
            )
        return nxt

    def add(self, signature: CollectedSignature) -> None:
        self.check_turn(signature.role, signature.signer_id)
        self.signatures.append(signature)


def request_key(record_id: str, record_version: int) -> str:
    return f"{record_id}:{record_version}"


class UnknownRequest(NotFound):
    code = "signing_request_not_found"


class AlreadySigned(Conflict):
    code = "already_signed"


class AlreadyRejected(Conflict):
    code = "already_rejected"


class OutOfOrder(Conflict):
    code = "out_of_order"


class NotARequiredSigner(Conflict):
    code = "not_a_required_signer"


class SignatureRefused(DomainError):
    status = 422
    code = "signature_invalid"


class UnknownBatch(NotFound):
    code = "signing_batch_not_found"


class NothingToSign(Conflict):
    code = "nothing_to_sign"


class ReasonRequired(DomainError):
    status = 422
    code = "reason_required"
