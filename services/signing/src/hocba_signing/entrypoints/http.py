"""Signing's HTTP API, for the signing apps of teachers and principals (USB token or remote
signing): what to sign, pending requests, and submitting a CMS signature."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from hocba_contracts.payloads.common import Code
from hocba_contracts.payloads.signing import SignerRole
from pydantic import BaseModel, Field

from hocba_signing.application.ports import SigningReader
from hocba_signing.application.use_cases import SigningService
from hocba_signing.domain.model import (
    SigningBatch,
    SigningRequest,
    UnknownBatch,
    UnknownRequest,
    request_key,
)

router = APIRouter(tags=["signing"])


def _service(request: Request) -> SigningService:
    return request.app.state.signing  # type: ignore[no-any-return]


def _reader(request: Request) -> SigningReader:
    return request.app.state.reader  # type: ignore[no-any-return]


Service = Annotated[SigningService, Depends(_service)]
Reader = Annotated[SigningReader, Depends(_reader)]
Version = Annotated[int, Path(ge=1)]


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
    history: list[dict[str, object]] = Field(default_factory=list, description="Audit trail: opened, signed, rejected, reassigned, reminded")
    content_sha256: str = Field(description="SHA-256 of the canonical bytes (RFC 8785) to sign")
    content_b64: str = Field(description="The canonical bytes to sign, base64; sign them as a detached CMS")
    next_signer: SignerOut | None
    required: list[SignerOut]
    signatures: list[SignatureOut]


class PendingOut(BaseModel):
    record_id: str
    record_version: int
    role: str


class SignatureIn(BaseModel):
    role: SignerRole
    signer_id: Code
    cms: str = Field(min_length=1, description="base64 of the DER CMS SignedData (detached, SHA-256, with the chain)")


def _out(r: SigningRequest) -> RequestOut:
    from hocba_runtime.canonical import canonical_bytes

    nxt = r.next_signer()
    return RequestOut(
        record_id=r.record_id, record_version=r.record_version, status=r.status, content_sha256=r.content_sha256,
        due_at=r.due_at, rejected=r.rejected, history=r.history,
        content_b64=base64.b64encode(canonical_bytes(r.document)).decode(),
        next_signer=SignerOut(role=nxt.role, signer_id=nxt.signer_id, signer_name=nxt.signer_name) if nxt else None,
        required=[SignerOut(role=s.role, signer_id=s.signer_id, signer_name=s.signer_name) for s in r.required],
        signatures=[SignatureOut(role=s.role, signer_id=s.signer_id, signer_name=s.signer_name, signed_at=s.signed_at)
                    for s in r.signatures],
    )


@router.get("/requests/{record_id}/versions/{version}", response_model=RequestOut, summary="What to sign, and who signs next")
async def get_request(record_id: Code, version: Version, reader: Reader) -> RequestOut:
    found = await reader.get(request_key(record_id, version))
    if found is None:
        raise UnknownRequest(f"no signing request for record {record_id} version {version}")
    return _out(found)


@router.get("/signers/{staff_id}/pending", response_model=list[PendingOut], summary="Requests waiting for this signer")
async def pending(staff_id: Code, reader: Reader) -> list[PendingOut]:
    out = []
    for r in await reader.pending_for(staff_id):
        nxt = r.next_signer()
        if nxt is not None:
            out.append(PendingOut(record_id=r.record_id, record_version=r.record_version, role=nxt.role))
    return out


@router.post("/requests/{record_id}/versions/{version}/signatures", response_model=RequestOut,
             summary="Submit a signature made by the signer's own software",
             responses={409: {"description": "not this signer's turn"}, 422: {"description": "signature refused, with the reason"}})
async def post_signature(record_id: Code, version: Version, body: SignatureIn, service: Service) -> RequestOut:
    return _out(await service.submit_signature(record_id, version, body.role, body.signer_id, body.cms))


class BatchIn(BaseModel):
    role: SignerRole


class BatchOut(BaseModel):
    batch_id: str
    signer_id: str
    role: str
    status: str
    documents: int
    statement: dict[str, object] = Field(description="The Merkle root statement; sign its canonical bytes")
    content_b64: str = Field(description="Canonical bytes (RFC 8785) of the statement, base64: sign them as a detached CMS")


class BatchSignatureIn(BaseModel):
    cms: str = Field(min_length=1, description="base64 DER CMS over the statement's canonical bytes")


class BatchSignedOut(BaseModel):
    batch_id: str
    signed: int = Field(description="Documents this signature signed")
    completed: int = Field(description="Of those, documents now signed by everyone")


def _batch_out(b: SigningBatch) -> BatchOut:
    from hocba_runtime.canonical import canonical_bytes

    return BatchOut(batch_id=b.batch_id, signer_id=b.signer_id, role=b.role, status=b.status, documents=len(b.members),
                    statement=b.statement, content_b64=base64.b64encode(canonical_bytes(b.statement)).decode())


@router.post("/signers/{staff_id}/batches", response_model=BatchOut,
             summary="Bulk signing: gather everything waiting for this signer into one Merkle root to sign once")
async def prepare_batch(staff_id: Code, body: BatchIn, service: Service) -> BatchOut:
    return _batch_out(await service.prepare_batch(staff_id, body.role))


@router.get("/batches/{batch_id}", response_model=BatchOut, summary="A bulk signing batch")
async def get_batch(batch_id: Code, reader: Reader) -> BatchOut:
    batch = await reader.get_batch(batch_id)
    if batch is None:
        raise UnknownBatch(f"no signing batch {batch_id}")
    return _batch_out(batch)


@router.post("/batches/{batch_id}/signature", response_model=BatchSignedOut,
             summary="Submit the one signature over a batch's root statement",
             responses={422: {"description": "signature refused, with the reason"}})
async def sign_batch(batch_id: Code, body: BatchSignatureIn, service: Service) -> BatchSignedOut:
    batch, signed, completed = await service.submit_batch_signature(batch_id, body.cms)
    return BatchSignedOut(batch_id=batch.batch_id, signed=signed, completed=completed)


class RejectionIn(BaseModel):
    role: SignerRole
    signer_id: Code
    reason: str = Field(min_length=1, max_length=1000, description="What the school must correct")


class HandoverIn(BaseModel):
    substitute_id: Code
    substitute_name: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500, description="Leave, retirement, transfer…")
    decided_by: Code = Field(description="The school administrator who decides the handover")


@router.post("/requests/{record_id}/versions/{version}/rejection", response_model=RequestOut,
             summary="Refuse to sign, with the reason: the record goes back to the school for correction")
async def reject(record_id: Code, version: Version, body: RejectionIn, service: Service) -> RequestOut:
    return _out(await service.reject(record_id, version, body.role, body.signer_id, body.reason))


@router.post("/signers/{staff_id}/handover", summary="Hand a signer's pending signatures to a substitute (recorded)")
async def handover(staff_id: Code, body: HandoverIn, service: Service) -> dict[str, object]:
    changed = await service.handover(staff_id, body.substitute_id, body.substitute_name, body.reason, body.decided_by)
    return {"signer_id": staff_id, "substitute_id": body.substitute_id, "requests": changed}
