"""Signing use cases.

- A closed-year record becomes a signing request (once per record version, whatever the
  redeliveries): the document, its canonical bytes' SHA-256, and the signers in order.
- With server-side signing configured, the required signers sign inside Hocba at once, each
  signature verified before it is kept.
- From outside, a signer's own software submits a CMS signature; it is verified (content, chain,
  key usage, validity, revocation, signer identity) and refused with the reason otherwise; a
  refusal changes nothing.
- When the last required signature is in, RecordSigned is emitted in the same transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hocba_contracts import Envelope, make_envelope
from hocba_contracts.payloads.assessment import YearRecordClosed
from hocba_contracts.payloads.signing import (
    DocumentSignature,
    RecordSigned,
    SignatureReminderDue,
    SigningRejected,
)
from hocba_contracts.topics import SIGNING_EVENTS
from hocba_trust import merkle
from hocba_trust.canonical import canonical_bytes, sha256_hex
from hocba_trust.cms import SignatureInvalid

from hocba_signing.application.ports import (
    CheckedSignature,
    ServerSigner,
    SignatureChecker,
    SigningTx,
    SigningUnitOfWork,
)
from hocba_signing.domain.model import (
    CollectedSignature,
    NothingToSign,
    ReasonRequired,
    RequiredSigner,
    SignatureRefused,
    SigningBatch,
    SigningRequest,
    UnknownBatch,
    UnknownRequest,
    build_document,
    request_key,
    required_signers,
)

SOURCE = "hocba/signing"
log = logging.getLogger("hocba.signing")


class SigningService:
    def __init__(
        self,
        uow: SigningUnitOfWork,
        checker: SignatureChecker,
        server_signer: ServerSigner | None = None,
        *,
        school_seal: bool = False,
        deadline: timedelta = timedelta(days=14),
    ) -> None:
        self.uow = uow
        self.checker = checker
        self.server_signer = server_signer
        self.school_seal = school_seal
        self.deadline = deadline

    def _announce(self, data: Any, cause: Envelope[Any] | None) -> Envelope[Any]:
        if cause is None:
            return make_envelope(data, source=SOURCE)
        return make_envelope(
            data, source=SOURCE, correlation_id=cause.correlation_id, causation_id=cause.id
        )

    def _new_request(self, record: YearRecordClosed, cause: Envelope[Any] | None) -> SigningRequest:
        document = build_document(record.model_dump(mode="json"))
        request = SigningRequest(
            record_id=record.record_id,
            record_version=record.record_version,
            student_id=record.student.student_id,
            document=document,
            content_sha256=sha256_hex(canonical_bytes(document)),
            required=required_signers(document, self.school_seal),
            due_at=(datetime.now(UTC) + self.deadline).isoformat(),
        )
        request.log(_now(), "opened", cause=cause.id if cause else None)
        return request

    async def open_request(
        self, record: YearRecordClosed, cause: Envelope[Any] | None = None
    ) -> SigningRequest | None:
        """Turn a closed-year record into a signing request; sign server-side if configured."""
        async with self.uow(cause.id if cause else None) as tx:
            if (
                tx.duplicate
                or await tx.get(request_key(record.record_id, record.record_version)) is not None
            ):
                return None
            request = self._new_request(record, cause)
            self._advance(request)
            await tx.save(request)
            await self._announce_if_complete(tx, request, cause)
            return request

    async def open_requests(
        self, batch: Sequence[tuple[YearRecordClosed, Envelope[Any] | None]]
    ) -> list[SigningRequest]:
        """A poll's worth of closed-year records become signing requests in one transaction, each
        as `open_request` makes it (once per record version, whatever the redeliveries). The
        server-side signers sign in bulk: each signer signs the batch's documents of one school
        that wait for them with one signature over their Merkle root (as a signer outside Hocba
        signs a class through a batch), verified before it is kept, and each document carries its
        inclusion proof; a document alone in its group is signed directly. Returns the requests
        opened."""
        causes = [cause.id for _, cause in batch if cause is not None]
        async with self.uow.many(causes) as tx:
            stored = await tx.existing(
                [request_key(r.record_id, r.record_version) for r, _ in batch]
            )
            opened: dict[str, tuple[SigningRequest, Envelope[Any] | None]] = {}
            for record, cause in batch:
                key = request_key(record.record_id, record.record_version)
                if (
                    key in stored
                    or key in opened
                    or (cause is not None and cause.id in tx.processed)
                ):
                    continue
                opened[key] = (self._new_request(record, cause), cause)
            requests = [r for r, _ in opened.values()]
            await tx.save_batches(self._advance_all(requests))
            await tx.save_many(requests)
            await tx.emit_many(
                SIGNING_EVENTS.name,
                [self._announce(_signed(r), c) for r, c in opened.values() if r.complete],
            )
            return requests

    async def submit_signature(
        self, record_id: str, record_version: int, role: str, signer_id: str, cms_b64: str
    ) -> SigningRequest:
        """A signature made outside Hocba (token or remote signing). Verified before it is kept."""
        try:
            cms = base64.b64decode(cms_b64, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureRefused(
                "cms must be the base64 of a DER CMS SignedData", code="signature_malformed"
            ) from None
        async with self.uow() as tx:
            request = await tx.get(request_key(record_id, record_version))
            if request is None:
                raise UnknownRequest(
                    f"no signing request for record {record_id} version {record_version}"
                )
            request.check_turn(role, signer_id)
            self._accept(request, role, signer_id, cms, canonical_bytes(request.document))
            self._advance(request)
            await tx.save(request)
            await self._announce_if_complete(tx, request, None)
            return request

    def _check(self, content: bytes, cms: bytes, signer_id: str) -> CheckedSignature:
        try:
            return self.checker.check(content, cms, signer_id)
        except SignatureInvalid as exc:
            raise SignatureRefused(
                f"{exc.message_en} / {exc.message_vi}",
                code="signature_invalid",
                details=[
                    {
                        "field": "cms",
                        "problem": exc.reason,
                        "message_vi": exc.message_vi,
                        "message_en": exc.message_en,
                    }
                ],
            ) from None

    def _accept(
        self, request: SigningRequest, role: str, signer_id: str, cms: bytes, content: bytes
    ) -> None:
        signer = request.check_turn(role, signer_id)
        checked = self._check(content, cms, signer_id)
        name = signer.signer_name if signer.signer_name != signer_id else checked.signer_common_name
        request.add(
            CollectedSignature(
                role=role,
                signer_id=signer_id,
                signer_name=name,
                signed_at=checked.signing_time.astimezone(UTC).isoformat(),
                cms=base64.b64encode(cms).decode(),
            )
        )
        request.log(_now(), "signed", role=role, signer_id=signer_id)

    def _advance(self, request: SigningRequest) -> None:
        """Sign server-side for every next signer whose key Hocba holds, until one must sign outside."""
        if self.server_signer is None:
            return
        while (nxt := request.next_signer()) is not None and self.server_signer.can_sign(
            nxt.role, nxt.signer_id
        ):
            self._sign_one(request)

    def _advance_all(self, requests: list[SigningRequest]) -> list[SigningBatch]:
        """`_advance` for many requests at once: round by round, each group of requests of one
        school whose next signer is the same server-side signer is signed with one signature over
        the group's Merkle root. Returns the batches signed."""
        signed: list[SigningBatch] = []
        if self.server_signer is None:
            return signed
        while True:
            groups: dict[tuple[str, str, str], list[SigningRequest]] = {}
            for request in requests:
                nxt = request.next_signer()
                if nxt is not None and self.server_signer.can_sign(nxt.role, nxt.signer_id):
                    groups.setdefault((request.school_id, nxt.role, nxt.signer_id), []).append(
                        request
                    )
            if not groups:
                return signed
            for (school_id, role, signer_id), members in groups.items():
                if len(members) == 1:
                    self._sign_one(members[0])
                else:
                    signed.append(self._sign_group(school_id, role, signer_id, members))

    def _sign_one(self, request: SigningRequest) -> None:
        nxt = request.next_signer()
        assert nxt is not None and self.server_signer is not None
        content = canonical_bytes(request.document)
        cms = self.server_signer.sign(nxt.role, nxt.signer_id, nxt.signer_name, content)
        self._accept(request, nxt.role, nxt.signer_id, cms, content)

    def _sign_group(
        self, school_id: str, role: str, signer_id: str, members: list[SigningRequest]
    ) -> SigningBatch:
        """One server-side signature over the Merkle root of `members`' documents."""
        assert self.server_signer is not None
        batch = _new_batch(sorted(members, key=lambda r: r.key), role, signer_id, school_id)
        batch.status = "signed"
        first = members[0].next_signer()
        assert first is not None
        statement = canonical_bytes(batch.statement)
        cms = self.server_signer.sign(role, signer_id, first.signer_name, statement)
        checked = self._check(statement, cms, signer_id)
        by_key = {r.key: r for r in members}
        encoded = base64.b64encode(cms).decode()
        for (record_id, version), proof in zip(batch.members, batch.proofs, strict=True):
            _sign_in_batch(by_key[request_key(record_id, version)], batch, proof, encoded, checked)
        return batch

    # -- bulk: one approval for a whole class -----------------------------------------------------
    async def prepare_batch(
        self, signer_id: str, role: str, *, school_id: str, limit: int = 2_000
    ) -> SigningBatch:
        """Gather every request of `school_id` waiting for this signer in this role, build the Merkle
        tree over their documents, and return the root statement to sign (one approval for all). A
        batch never mixes schools: a teacher who teaches at two schools signs each school's apart."""
        async with self.uow() as tx:
            pending = [
                r
                for r in await tx.pending_for(signer_id, school_id, limit)
                if (n := r.next_signer()) is not None and n.role == role
            ]
            if not pending:
                raise NothingToSign(f"nothing of school {school_id} waits for {role} {signer_id}")
            batch = _new_batch(pending, role, signer_id, school_id)
            await tx.save_batch(batch)
            return batch

    async def submit_batch_signature(
        self, batch_id: str, cms_b64: str
    ) -> tuple[SigningBatch, int, int]:
        """One CMS over the batch's root statement signs every member still waiting for this signer.
        Returns the batch, how many documents it signed and how many became fully signed."""
        try:
            cms = base64.b64decode(cms_b64, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureRefused(
                "cms must be the base64 of a DER CMS SignedData", code="signature_malformed"
            ) from None
        async with self.uow() as tx:
            batch = await tx.get_batch(batch_id)
            if batch is None:
                raise UnknownBatch(f"no signing batch {batch_id}")
            checked = self._check(canonical_bytes(batch.statement), cms, batch.signer_id)
            encoded = base64.b64encode(cms).decode()
            signed = completed = 0
            for (record_id, version), proof in zip(batch.members, batch.proofs, strict=True):
                request = await tx.get(request_key(record_id, version))
                nxt = request.next_signer() if request else None
                if (
                    request is None
                    or nxt is None
                    or (nxt.role, nxt.signer_id) != (batch.role, batch.signer_id)
                ):
                    continue  # signed another way meanwhile
                _sign_in_batch(request, batch, proof, encoded, checked)
                self._advance(request)
                await tx.save(request)
                await self._announce_if_complete(tx, request, None)
                signed += 1
                completed += int(request.complete)
            batch.status = "signed"
            await tx.save_batch(batch)
            return batch, signed, completed

    async def _announce_if_complete(
        self, tx: SigningTx, request: SigningRequest, cause: Envelope[Any] | None
    ) -> None:
        if request.complete:
            await tx.emit(SIGNING_EVENTS.name, self._announce(_signed(request), cause))

    # -- refusals, handovers, reminders -------------------------------------------------------------
    async def reject(
        self, record_id: str, record_version: int, role: str, signer_id: str, reason: str
    ) -> SigningRequest:
        """The signer whose turn it is refuses, with a reason; assessment is told (SigningRejected),
        so that the school corrects the record and a new version comes to sign."""
        async with self.uow() as tx:
            request = await tx.get(request_key(record_id, record_version))
            if request is None:
                raise UnknownRequest(
                    f"no signing request for record {record_id} version {record_version}"
                )
            request.reject(role, signer_id, reason, _now())
            await tx.save(request)
            await tx.emit(
                SIGNING_EVENTS.name,
                self._announce(
                    SigningRejected(
                        record_id=request.record_id,
                        record_version=request.record_version,
                        student_id=request.student_id,
                        class_id=str(request.document["class_info"]["class_id"]),
                        school_year=str(request.document["school_year"]),
                        role=role,
                        signer_id=signer_id,
                        reason=reason,
                    ),
                    None,
                ),
            )
            return request

    async def handover(
        self,
        signer_id: str,
        substitute_id: str,
        substitute_name: str,
        reason: str,
        by: str,
        *,
        school_id: str,
    ) -> int:
        """A teacher retires, goes on leave or changes school: the school `school_id` hands every part
        of theirs not signed yet in its own requests to a substitute; what other schools wait for
        stays with them. Recorded on each request. Returns how many requests changed."""
        if not reason.strip():
            raise ReasonRequired("say why the signer is replaced (leave, retirement, transfer)")
        changed = 0
        async with self.uow() as tx:
            for request in await tx.awaiting(signer_id, school_id):
                if request.reassign(
                    signer_id,
                    RequiredSigner("", substitute_id, substitute_name),
                    _now(),
                    reason,
                    by,
                ):
                    self._advance(request)
                    await tx.save(request)
                    await self._announce_if_complete(tx, request, None)
                    changed += 1
        return changed

    async def send_reminders(self, now: datetime, within: timedelta) -> int:
        """Emit SignatureReminderDue once per waiting signer whose deadline is within `within`."""
        sent = 0
        async with self.uow() as tx:
            for request in await tx.due_before((now + within).isoformat()):
                nxt = request.next_signer()
                if nxt is None or nxt.signer_id in request.reminded or request.due_at is None:
                    continue
                request.reminded.append(nxt.signer_id)
                request.log(now.isoformat(), "reminded", role=nxt.role, signer_id=nxt.signer_id)
                await tx.save(request)
                await tx.emit(
                    SIGNING_EVENTS.name,
                    self._announce(
                        SignatureReminderDue(
                            record_id=request.record_id,
                            record_version=request.record_version,
                            student_id=request.student_id,
                            role=nxt.role,
                            signer_id=nxt.signer_id,
                            due_at=datetime.fromisoformat(request.due_at),
                        ),
                        None,
                    ),
                )
                sent += 1
        return sent


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _new_batch(
    members: list[SigningRequest], role: str, signer_id: str, school_id: str
) -> SigningBatch:
    """The batch of `members` (in this order, their leaves) for one signer: the Merkle tree over
    their documents and the root statement to sign."""
    tree = merkle.build([bytes.fromhex(r.content_sha256) for r in members])
    batch_id = _batch_id([r.key for r in members], signer_id)
    return SigningBatch(
        batch_id=batch_id,
        signer_id=signer_id,
        role=role,
        members=[(r.record_id, r.record_version) for r in members],
        statement=merkle.statement(tree.root, len(members), batch_id, role, signer_id),
        proofs=tree.proofs,
        school_id=school_id,
    )


def _sign_in_batch(
    request: SigningRequest,
    batch: SigningBatch,
    proof: dict[str, Any],
    cms_b64: str,
    checked: CheckedSignature,
) -> None:
    """The batch's signature (verified) added to one of its members, with the member's proof."""
    nxt = request.check_turn(batch.role, batch.signer_id)
    request.add(
        CollectedSignature(
            role=batch.role,
            signer_id=batch.signer_id,
            signer_name=nxt.signer_name
            if nxt.signer_name != nxt.signer_id
            else checked.signer_common_name,
            signed_at=checked.signing_time.astimezone(UTC).isoformat(),
            cms=cms_b64,
            batch={"statement": batch.statement, "proof": proof},
        )
    )
    request.log(
        _now(), "signed", role=batch.role, signer_id=batch.signer_id, batch_id=batch.batch_id
    )


def _batch_id(keys: list[str], signer_id: str) -> str:
    """A batch's id: the same members and signer, the same id."""
    return "B-" + hashlib.sha256("|".join(keys).encode() + signer_id.encode()).hexdigest()[:20]


def _signed(request: SigningRequest) -> RecordSigned:
    """The announcement of a fully signed request."""
    return RecordSigned(
        record_id=request.record_id,
        record_version=request.record_version,
        student_id=request.student_id,
        document=request.document,
        content_sha256=request.content_sha256,
        signatures=tuple(
            DocumentSignature(
                role=s.role,
                signer_id=s.signer_id,
                signer_name=s.signer_name,
                signed_at=s.signed_at,
                cms=s.cms,
                batch=s.batch,
            )
            for s in request.signatures
        ),
    )
