"""Signing's HTTP API, for the signing apps of teachers and principals (USB token or remote
signing): what to sign, pending requests, and submitting a CMS signature. Who may call what is in
`policies.POLICIES`; each handler names the request, batch or signer its call touches, and a
signer acts in their own name only."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from hocba_contracts.payloads.common import Code
from hocba_contracts.payloads.signing import SignerRole
from hocba_runtime.auth import Access, Resource, Role, current_access
from pydantic import BaseModel, Field

from hocba_signing.application.ports import SigningReader
from hocba_signing.application.use_cases import SigningService
from hocba_signing.domain.model import (
    SigningBatch,
    SigningRequest,
    request_key,
)

router = APIRouter(tags=["signing"])


def _service(request: Request) -> SigningService:
    return request.app.state.signing  # type: ignore[no-any-return]


def _reader(request: Request) -> SigningReader:
    return request.app.state.reader  # type: ignore[no-any-return]


Service = Annotated[SigningService, Depends(_service)]
Reader = Annotated[SigningReader, Depends(_reader)]
Caller = Annotated[Access, Depends(current_access)]
Version = Annotated[int, Path(ge=1, le=100_000)]


def _request(r: SigningRequest | None) -> Resource | None:
    """A request touches its student's record in the class and school it was closed in; it is
    addressed to every required signer, whether they signed already or not."""
    if r is None:
        return None
    return Resource(
        school_id=r.school_id,
        class_id=r.class_id,
        student_ids=(r.student_id,),
        record_id=r.record_id,
        teachers=r.class_teachers,
        addressed_to=r.signer_ids,
    )


def _no_request(record_id: str, version: int) -> str:
    return (
        f"no signing request for record {record_id} version {version}; check the record id and version "
        "(a request opens when the class closes its year)"
    )


def _batch(b: SigningBatch | None) -> Resource | None:
    return Resource(school_id=b.school_id, addressed_to=frozenset({b.signer_id})) if b else None


def _no_batch(batch_id: str) -> str:
    return f"no signing batch {batch_id}; check the batch id that POST /signers/{{staff_id}}/batches returned"


async def _signer(staff_id: str, reader: SigningReader, access: Access) -> Resource | None:
    """A signer's endpoint touches that signer within the caller's school: the caller themself, or,
    for a school administrator, a member of staff whom requests of their school name as a signer, now
    or before a handover (signing knows staff only from its requests; None when none names them)."""
    p = access.principal
    mine = Resource(school_id=p.school_id, addressed_to=frozenset({staff_id}))
    if staff_id == p.staff_id or Role.SCHOOL_ADMIN not in access.roles:
        return mine
    schools = await reader.schools_naming(staff_id)
    if p.school_id in schools:
        return mine
    return Resource(school_id=min(schools), addressed_to=frozenset({staff_id})) if schools else None


def _no_signer(staff_id: str) -> str:
    return f"no signing request names staff member {staff_id}; check the staff id"


class SignerOut(BaseModel):
    role: str
    signer_id: str
    signer_name: str


class SignatureOut(SignerOut):
    signed_at: str


class RequestOut(BaseModel):
    record_id: str
    record_version: int
    status: str = Field(description="pending, signed or rejected")
    due_at: str | None = None
    rejected: dict[str, object] | None = None
    history: list[dict[str, object]] = Field(
        default_factory=list,
        description="Audit trail: opened, signed, rejected, reassigned, reminded",
    )
    content_sha256: str = Field(description="SHA-256 of the canonical bytes (RFC 8785) to sign")
    content_b64: str = Field(
        description="The canonical bytes to sign, base64; sign them as a detached CMS"
    )
    next_signer: SignerOut | None
    required: list[SignerOut]
    signatures: list[SignatureOut]


class PendingOut(BaseModel):
    record_id: str
    record_version: int
    role: str


class SignatureIn(BaseModel):
    role: SignerRole
    signer_id: Code | None = Field(
        default=None,
        description="Whose signature; a signer signs in their own name only (default: the caller)",
    )
    cms: str = Field(
        min_length=1,
        description="base64 of the DER CMS SignedData (detached, SHA-256, with the chain)",
    )


def _out(r: SigningRequest) -> RequestOut:
    from hocba_trust.canonical import canonical_bytes

    nxt = r.next_signer()
    return RequestOut(
        record_id=r.record_id,
        record_version=r.record_version,
        status=r.status,
        content_sha256=r.content_sha256,
        due_at=r.due_at,
        rejected=r.rejected,
        history=r.history,
        content_b64=base64.b64encode(canonical_bytes(r.document)).decode(),
        next_signer=SignerOut(role=nxt.role, signer_id=nxt.signer_id, signer_name=nxt.signer_name)
        if nxt
        else None,
        required=[
            SignerOut(role=s.role, signer_id=s.signer_id, signer_name=s.signer_name)
            for s in r.required
        ],
        signatures=[
            SignatureOut(
                role=s.role, signer_id=s.signer_id, signer_name=s.signer_name, signed_at=s.signed_at
            )
            for s in r.signatures
        ],
    )


@router.get(
    "/requests/{record_id}/versions/{version}",
    response_model=RequestOut,
    summary="What to sign, and who signs next (its signers; the school's principal and administrator)",
)
async def get_request(
    record_id: Code, version: Version, reader: Reader, access: Caller
) -> RequestOut:
    found = await reader.get(request_key(record_id, version))
    access.require(_request(found), missing=_no_request(record_id, version))
    assert found is not None
    return _out(found)


@router.get(
    "/signers/{staff_id}/pending",
    response_model=list[PendingOut],
    summary="Requests of the caller's school waiting for this signer (the signer; the school's administrator)",
)
async def pending(staff_id: Code, reader: Reader, access: Caller) -> list[PendingOut]:
    school = access.require(
        await _signer(staff_id, reader, access), missing=_no_signer(staff_id)
    ).school_id
    assert school is not None
    out = []
    for r in await reader.pending_for(staff_id, school):
        nxt = r.next_signer()
        if nxt is not None:
            out.append(
                PendingOut(record_id=r.record_id, record_version=r.record_version, role=nxt.role)
            )
    return out


@router.post(
    "/requests/{record_id}/versions/{version}/signatures",
    response_model=RequestOut,
    summary="Submit a signature made by the signer's own software",
    responses={
        409: {"description": "not this signer's turn"},
        422: {"description": "signature refused, with the reason"},
    },
)
async def post_signature(
    record_id: Code,
    version: Version,
    body: SignatureIn,
    service: Service,
    reader: Reader,
    access: Caller,
) -> RequestOut:
    access.require(
        _request(await reader.get(request_key(record_id, version))),
        missing=_no_request(record_id, version),
    )
    signer_id = access.acting_as(body.signer_id)
    return _out(await service.submit_signature(record_id, version, body.role, signer_id, body.cms))


class BatchIn(BaseModel):
    role: SignerRole


class BatchOut(BaseModel):
    batch_id: str
    signer_id: str
    role: str
    status: str
    documents: int
    statement: dict[str, object] = Field(
        description="The Merkle root statement; sign its canonical bytes"
    )
    content_b64: str = Field(
        description="Canonical bytes (RFC 8785) of the statement, base64: sign them as a detached CMS"
    )


class BatchSignatureIn(BaseModel):
    cms: str = Field(
        min_length=1, description="base64 DER CMS over the statement's canonical bytes"
    )


class BatchSignedOut(BaseModel):
    batch_id: str
    signed: int = Field(description="Documents this signature signed")
    completed: int = Field(description="Of those, documents now signed by everyone")


def _batch_out(b: SigningBatch) -> BatchOut:
    from hocba_trust.canonical import canonical_bytes

    return BatchOut(
        batch_id=b.batch_id,
        signer_id=b.signer_id,
        role=b.role,
        status=b.status,
        documents=len(b.members),
        statement=b.statement,
        content_b64=base64.b64encode(canonical_bytes(b.statement)).decode(),
    )


@router.post(
    "/signers/{staff_id}/batches",
    response_model=BatchOut,
    summary="Bulk signing: gather everything of the caller's school waiting for the caller into one Merkle "
    "root to sign once",
)
async def prepare_batch(
    staff_id: Code, body: BatchIn, service: Service, reader: Reader, access: Caller
) -> BatchOut:
    school = access.require(
        await _signer(staff_id, reader, access), missing=_no_signer(staff_id)
    ).school_id
    assert school is not None
    return _batch_out(await service.prepare_batch(staff_id, body.role, school_id=school))


@router.get(
    "/batches/{batch_id}", response_model=BatchOut, summary="A bulk signing batch (its signer)"
)
async def get_batch(batch_id: Code, reader: Reader, access: Caller) -> BatchOut:
    batch = await reader.get_batch(batch_id)
    access.require(_batch(batch), missing=_no_batch(batch_id))
    assert batch is not None
    return _batch_out(batch)


@router.post(
    "/batches/{batch_id}/signature",
    response_model=BatchSignedOut,
    summary="Submit the one signature over a batch's root statement",
    responses={422: {"description": "signature refused, with the reason"}},
)
async def sign_batch(
    batch_id: Code, body: BatchSignatureIn, service: Service, reader: Reader, access: Caller
) -> BatchSignedOut:
    access.require(_batch(await reader.get_batch(batch_id)), missing=_no_batch(batch_id))
    batch, signed, completed = await service.submit_batch_signature(batch_id, body.cms)
    return BatchSignedOut(batch_id=batch.batch_id, signed=signed, completed=completed)


class RejectionIn(BaseModel):
    role: SignerRole
    signer_id: Code | None = Field(
        default=None,
        description="Who refuses; a signer refuses in their own name only (default: the caller)",
    )
    reason: str = Field(min_length=1, max_length=1000, description="What the school must correct")


class HandoverIn(BaseModel):
    substitute_id: Code
    substitute_name: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500, description="Leave, retirement, transfer…")
    decided_by: Code | None = Field(
        default=None,
        description="The school administrator who decides the handover: the caller (default)",
    )


@router.post(
    "/requests/{record_id}/versions/{version}/rejection",
    response_model=RequestOut,
    summary="Refuse to sign, with the reason: the record goes back to the school for correction",
)
async def reject(
    record_id: Code,
    version: Version,
    body: RejectionIn,
    service: Service,
    reader: Reader,
    access: Caller,
) -> RequestOut:
    access.require(
        _request(await reader.get(request_key(record_id, version))),
        missing=_no_request(record_id, version),
    )
    signer_id = access.acting_as(body.signer_id)
    return _out(await service.reject(record_id, version, body.role, signer_id, body.reason))


@router.post(
    "/signers/{staff_id}/handover",
    summary="Hand what waits for a signer in the administrator's school to a substitute (recorded)",
)
async def handover(
    staff_id: Code, body: HandoverIn, service: Service, reader: Reader, access: Caller
) -> dict[str, object]:
    """A school administrator hands a signer's parts not signed yet to a substitute, in their own
    school's requests only: a teacher who moves to another school keeps what the new school waits
    for, and each school's administrator hands over their own. The signer must be named by a
    request of the administrator's school (403 when only other schools' requests name them)."""
    school = access.require(
        await _signer(staff_id, reader, access), missing=_no_signer(staff_id)
    ).school_id
    assert school is not None
    decided_by = access.acting_as(body.decided_by)
    changed = await service.handover(
        staff_id,
        body.substitute_id,
        body.substitute_name,
        body.reason,
        decided_by,
        school_id=school,
    )
    return {"signer_id": staff_id, "substitute_id": body.substitute_id, "requests": changed}
