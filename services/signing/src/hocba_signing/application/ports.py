"""What the signing use cases need from the outside world."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hocba_contracts import Envelope

from hocba_signing.domain.model import SigningBatch, SigningRequest


@dataclass(frozen=True)
class CheckedSignature:
    signer_common_name: str
    signing_time: datetime


class SignatureChecker(Protocol):
    def check(self, content: bytes, cms_der: bytes, signer_id: str) -> CheckedSignature:
        """Verify a detached CMS over `content` made by `signer_id`'s certificate, against the trust
        list; raise hocba_runtime.cms.SignatureInvalid saying why not."""
        ...


class ServerSigner(Protocol):
    def can_sign(self, role: str, signer_id: str) -> bool:
        """Whether a key is held (or may be issued) inside Hocba for this signer in this role."""
        ...

    def sign(self, role: str, signer_id: str, signer_name: str, content: bytes) -> bytes:
        """A detached CMS over `content` with the key held for `signer_id`."""
        ...


class SigningTx(Protocol):
    duplicate: bool

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None: ...
    async def get(self, key: str) -> SigningRequest | None: ...
    async def save(self, request: SigningRequest) -> None: ...
    async def pending_for(self, signer_id: str, limit: int = 500) -> list[SigningRequest]: ...
    async def get_batch(self, batch_id: str) -> SigningBatch | None: ...
    async def save_batch(self, batch: SigningBatch) -> None: ...
    async def awaiting(self, signer_id: str, limit: int = 5_000) -> list[SigningRequest]: ...
    async def due_before(self, at_iso: str, limit: int = 1_000) -> list[SigningRequest]: ...


class SigningUnitOfWork(Protocol):
    def __call__(self, processing: str | None = None) -> AbstractAsyncContextManager[SigningTx]: ...


class SigningReader(Protocol):
    async def get(self, key: str) -> SigningRequest | None: ...
    async def pending_for(self, signer_id: str, limit: int = 500) -> list[SigningRequest]: ...
    async def get_batch(self, batch_id: str) -> SigningBatch | None: ...
