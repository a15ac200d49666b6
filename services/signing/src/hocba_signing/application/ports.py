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
        list; raise hocba_trust.cms.SignatureInvalid saying why not."""
        ...


class ServerSigner(Protocol):
    def can_sign(self, role: str, signer_id: str) -> bool:
        """Whether a key is held (or may be issued) inside Hocba for this signer in this role."""
        ...

    def sign(self, role: str, signer_id: str, signer_name: str, content: bytes) -> bytes:
        """A detached CMS over `content` with the key held for `signer_id`."""
        ...


class SigningTx(Protocol):
    @property
    def duplicate(self) -> bool: ...  # the message was handled before (read-only)

    @property
    def processed(self) -> set[str]: ...  # of a batch's events, those handled before (many)

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None: ...
    async def emit_many(self, topic: str, envelopes: list[Envelope[Any]]) -> None: ...
    async def get(self, key: str) -> SigningRequest | None: ...
    async def existing(self, keys: list[str]) -> set[str]:
        """Which of these request keys are stored."""
        ...

    async def save(self, request: SigningRequest) -> None: ...
    async def save_many(self, requests: list[SigningRequest]) -> None: ...
    async def pending_for(
        self, signer_id: str, school_id: str, limit: int = 500
    ) -> list[SigningRequest]:
        """Requests of `school_id` whose next signer is `signer_id`, in key order."""
        ...

    async def get_batch(self, batch_id: str) -> SigningBatch | None: ...
    async def save_batch(self, batch: SigningBatch) -> None: ...
    async def save_batches(self, batches: list[SigningBatch]) -> None: ...
    async def awaiting(
        self, signer_id: str, school_id: str, limit: int = 5_000
    ) -> list[SigningRequest]:
        """Pending requests of `school_id` with a part of `signer_id` not signed yet."""
        ...

    async def due_before(self, at_iso: str, limit: int = 1_000) -> list[SigningRequest]: ...


class SigningUnitOfWork(Protocol):
    def __call__(self, processing: str | None = None) -> AbstractAsyncContextManager[SigningTx]: ...
    def many(self, processing: list[str]) -> AbstractAsyncContextManager[SigningTx]:
        """One transaction for a batch of incoming events; `tx.processed` names those handled
        before, and the others are marked processed when it commits."""
        ...


class SigningReader(Protocol):
    async def get(self, key: str) -> SigningRequest | None: ...
    async def pending_for(
        self, signer_id: str, school_id: str, limit: int = 500
    ) -> list[SigningRequest]: ...
    async def get_batch(self, batch_id: str) -> SigningBatch | None: ...
    async def schools_naming(self, signer_id: str) -> set[str]:
        """The schools whose requests name `signer_id` as a required signer, now or before a handover:
        where signing knows a member of staff from."""
        ...
