"""Signing requests: order, verification before acceptance, one RecordSigned."""

from __future__ import annotations

import base64
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads.assessment import RecordCorrection, YearRecordClosed  # noqa: E402
from hocba_contracts.payloads.signing import RecordSigned  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_signing.adapters.trust import DevPKISigner, TrustListChecker  # noqa: E402
from hocba_signing.application.use_cases import SigningService  # noqa: E402
from hocba_signing.domain.model import (  # noqa: E402
    NotARequiredSigner,
    OutOfOrder,
    SignatureRefused,
    SigningRequest,
    build_document,
)
from hocba_trust.canonical import canonical_bytes, sha256_hex  # noqa: E402
from hocba_trust.cms import SignatureInvalid, TrustList, sign_detached, verify_detached  # noqa: E402
from signing_fixtures import SCHOOL_ID, FakeStore, closed_record  # noqa: E402

pytestmark = pytest.mark.unit


def next_signer_id(request: SigningRequest) -> str | None:
    signer = request.next_signer()
    return None if signer is None else signer.signer_id


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("pki"))
    p.create()
    return p


def test_document_is_the_record_tagged_with_type_and_format() -> None:
    record = closed_record()
    doc = build_document(record.model_dump(mode="json"))
    assert doc["document_type"] == "hocba.year_record" and doc["format_version"] == 1
    assert doc["student"]["full_name"] == "Nguyễn Hoàng Khôi"
    assert canonical_bytes(doc) == canonical_bytes(dict(reversed(list(doc.items()))))


def corrected(record: YearRecordClosed) -> YearRecordClosed:
    """The record's second version, after the class was unlocked to correct a mark."""
    correction = RecordCorrection(
        kind="unlock",
        reason="Sai điểm Toán cuối năm",
        approved_by="079-TH-T-QT",
        at=datetime(2025, 6, 12, 9, 30, tzinfo=UTC),
    )
    return YearRecordClosed.model_validate(
        {**record.model_dump(), "record_version": 2, "correction": correction}
    )


async def test_a_corrected_version_is_signed_with_its_correction_and_a_first_without_one(
    pki: DevPKI,
) -> None:
    store = FakeStore()
    trust = TrustList.from_pem_files([str(pki.root_file)])
    service = SigningService(store, TrustListChecker(trust), DevPKISigner(pki.signers, issuer=pki))
    first = closed_record()
    second = corrected(first)
    for record in (first, second):
        await service.open_request(record, make_envelope(record, source="hocba/assessment"))
    signed = [e.data for _, e in store.emitted]
    assert [s.record_version for s in signed if isinstance(s, RecordSigned)] == [1, 2]
    v1, v2 = (s for s in signed if isinstance(s, RecordSigned))
    assert "correction" not in v1.document  # a first version corrects nothing
    assert v2.document["correction"] == {
        "kind": "unlock",
        "reason": "Sai điểm Toán cuối năm",
        "approved_by": "079-TH-T-QT",
        "at": "2025-06-12T09:30:00Z",
    }
    # What the signatures cover is the document with its correction: the reason is signed too.
    content = canonical_bytes(v2.document)
    assert '"reason":"Sai điểm Toán cuối năm"'.encode() in content
    assert sha256_hex(content) == v2.content_sha256
    for sig in v2.signatures:
        verify_detached(content, base64.b64decode(sig.cms), trust)
    without = canonical_bytes({k: v for k, v in v2.document.items() if k != "correction"})
    with pytest.raises(SignatureInvalid):
        verify_detached(without, base64.b64decode(v2.signatures[0].cms), trust)
    # An external signer is given the same bytes to sign.
    external = SigningService(FakeStore(), TrustListChecker(trust))
    request = await external.open_request(second)
    assert request is not None and canonical_bytes(request.document) == content


async def test_server_side_signing_signs_teacher_then_principal_and_announces_once(
    pki: DevPKI,
) -> None:
    store = FakeStore()
    trust = TrustList.from_pem_files([str(pki.root_file)])
    service = SigningService(store, TrustListChecker(trust), DevPKISigner(pki.signers, issuer=pki))
    record = closed_record()
    cause = make_envelope(record, source="hocba/assessment")
    await service.open_request(record, cause)
    await service.open_request(record, cause)  # redelivered
    await service.open_request(
        record, make_envelope(record, source="hocba/assessment")
    )  # re-sent, new id
    assert len(store.emitted) == 1
    signed = store.emitted[0][1].data
    assert isinstance(signed, RecordSigned)
    assert [s.role for s in signed.signatures] == ["homeroom_teacher", "principal"]
    content = canonical_bytes(signed.document)
    assert sha256_hex(content) == signed.content_sha256
    for sig in signed.signatures:
        verified = verify_detached(content, base64.b64decode(sig.cms), trust)
        assert sig.signer_id in verified.signer_subject


async def test_external_signatures_are_checked_and_ordered(pki: DevPKI, tmp_path: Path) -> None:
    store = FakeStore()
    trust = TrustList.from_pem_files([str(pki.root_file)])
    service = SigningService(store, TrustListChecker(trust))
    record = closed_record(teacher_id="GV-EXT-1", principal_id="HT-EXT-1")
    request = await service.open_request(record)
    assert request is not None and request.status == "pending" and store.emitted == []
    content = canonical_bytes(request.document)
    teacher = pki.issue("GV-EXT-1", "Vũ Đức Thắng")
    principal = pki.issue("HT-EXT-1", "Phan Thị Kim Oanh")

    def b64(der: bytes) -> str:
        return base64.b64encode(der).decode()

    with pytest.raises(OutOfOrder):
        await service.submit_signature(
            record.record_id, 1, "principal", "HT-EXT-1", b64(sign_detached(content, principal))
        )
    with pytest.raises(NotARequiredSigner):
        await service.submit_signature(
            record.record_id,
            1,
            "homeroom_teacher",
            "GV-OTHER",
            b64(sign_detached(content, teacher)),
        )
    with pytest.raises(
        SignatureRefused
    ) as refused:  # the principal's certificate used for the teacher
        await service.submit_signature(
            record.record_id,
            1,
            "homeroom_teacher",
            "GV-EXT-1",
            b64(sign_detached(content, principal)),
        )
    assert refused.value.details[0]["problem"] == "bad_signature"
    with pytest.raises(SignatureRefused) as refused:
        await service.submit_signature(
            record.record_id,
            1,
            "homeroom_teacher",
            "GV-EXT-1",
            b64(sign_detached(content + b" ", teacher)),
        )
    assert refused.value.details[0]["problem"] == "tampered"
    other = DevPKI(tmp_path / "other")
    other.create()
    stranger = other.issue("GV-EXT-1", "Vũ Đức Thắng")
    with pytest.raises(SignatureRefused) as refused:
        await service.submit_signature(
            record.record_id,
            1,
            "homeroom_teacher",
            "GV-EXT-1",
            b64(sign_detached(content, stranger)),
        )
    assert refused.value.details[0]["problem"] == "untrusted"
    expired = pki.issue(
        "GV-EXT-1",
        "Vũ Đức Thắng",
        not_before=datetime.now(UTC) - timedelta(days=30),
        days=10,
        save=False,
    )
    with pytest.raises(SignatureRefused) as refused:
        await service.submit_signature(
            record.record_id,
            1,
            "homeroom_teacher",
            "GV-EXT-1",
            b64(sign_detached(content, expired)),
        )
    assert refused.value.details[0]["problem"] == "expired"
    assert store.requests[request.key].signatures == []  # refusals changed nothing

    await service.submit_signature(
        record.record_id, 1, "homeroom_teacher", "GV-EXT-1", b64(sign_detached(content, teacher))
    )
    assert store.emitted == []
    done = await service.submit_signature(
        record.record_id, 1, "principal", "HT-EXT-1", b64(sign_detached(content, principal))
    )
    assert done.status == "signed" and len(store.emitted) == 1


async def test_bulk_one_teacher_signature_covers_the_class_and_each_record_verifies_alone(
    pki: DevPKI,
) -> None:
    from hocba_signing.domain.model import NothingToSign
    from hocba_trust.cms import verify_document_signature

    store = FakeStore()
    trust = TrustList.from_pem_files([str(pki.root_file)])
    # The principal signs server-side; the teacher signs with her own app (external).
    server = DevPKISigner(pki.signers, issuer=pki, external_signers=["EXT-*"])
    service = SigningService(store, TrustListChecker(trust), server)
    records = [closed_record(teacher_id="EXT-GV-9", principal_id="HT-BULK-1") for _ in range(7)]
    for r in records:
        await service.open_request(r)
    assert store.emitted == []
    with pytest.raises(NothingToSign):
        await service.prepare_batch("EXT-GV-9", "principal", school_id=SCHOOL_ID)
    batch = await service.prepare_batch("EXT-GV-9", "homeroom_teacher", school_id=SCHOOL_ID)
    assert len(batch.members) == 7 and batch.statement["tree_size"] == 7
    teacher = pki.issue("EXT-GV-9", "Vũ Đức Thắng")
    statement_bytes = canonical_bytes(batch.statement)
    wrong = base64.b64encode(sign_detached(statement_bytes + b"x", teacher)).decode()
    with pytest.raises(SignatureRefused):
        await service.submit_batch_signature(batch.batch_id, wrong)
    assert store.emitted == []
    _, signed, completed = await service.submit_batch_signature(
        batch.batch_id, base64.b64encode(sign_detached(statement_bytes, teacher)).decode()
    )
    assert (signed, completed) == (7, 7) and len(store.emitted) == 7
    one = store.emitted[3][1].data
    content = canonical_bytes(one.document)
    bulk, seal = one.signatures
    assert bulk.batch is not None and seal.batch is None
    verified = verify_document_signature(content, bulk.cms, bulk.batch, trust)  # this record alone
    assert "EXT-GV-9" in verified.signer_subject
    verify_document_signature(content, seal.cms, None, trust)
    other = canonical_bytes(store.emitted[4][1].data.document)
    with pytest.raises(SignatureInvalid) as refused:
        verify_document_signature(other, bulk.cms, bulk.batch, trust)  # another record, this proof
    assert refused.value.reason == "tampered"


async def test_a_batch_is_signed_in_bulk_per_signer_and_school_and_each_record_verifies_alone(
    pki: DevPKI,
) -> None:
    from hocba_trust.cms import verify_document_signature

    store = FakeStore()
    trust = TrustList.from_pem_files([str(pki.root_file)])
    service = SigningService(store, TrustListChecker(trust), DevPKISigner(pki.signers, issuer=pki))
    class_a = [closed_record(teacher_id="GV-BATCH-A", principal_id="HT-BATCH") for _ in range(3)]
    alone = closed_record(teacher_id="GV-BATCH-B", principal_id="HT-BATCH")
    other = closed_record(teacher_id="GV-BATCH-C", principal_id="HT-BATCH-2", school_id="079-X")
    already = closed_record(teacher_id="GV-BATCH-A", principal_id="HT-BATCH")
    await service.open_request(already)
    assert len(store.emitted) == 1
    records = [*class_a, alone, other, already]
    batch = [(r, make_envelope(r, source="hocba/assessment")) for r in records]
    opened = await service.open_requests([*batch, batch[0]])  # a record twice in one poll
    assert sorted(r.key for r in opened) == sorted(
        f"{r.record_id}:1" for r in [*class_a, alone, other]
    ), "each record version once; the one opened before is left alone"
    signed = {e.data.record_id: e.data for _, e in store.emitted[1:]}
    assert len(store.emitted) == 6 and set(signed) == {
        r.record_id for r in [*class_a, alone, other]
    }
    by_role = {rid: {s.role: s for s in record.signatures} for rid, record in signed.items()}
    teachers = {by_role[r.record_id]["homeroom_teacher"].cms for r in class_a}
    assert len(teachers) == 1, "one teacher signature over the class's three records"
    assert by_role[alone.record_id]["homeroom_teacher"].batch is None, "alone: signed directly"
    principals = {by_role[r.record_id]["principal"].cms for r in [*class_a, alone]}
    assert len(principals) == 1, "one principal signature over the school's four records"
    assert by_role[other.record_id]["principal"].cms not in principals, "never across schools"
    for record in signed.values():
        content = canonical_bytes(record.document)
        assert sha256_hex(content) == record.content_sha256
        assert [s.role for s in record.signatures] == ["homeroom_teacher", "principal"]
        for sig in record.signatures:
            verified = verify_document_signature(content, sig.cms, sig.batch, trust)
            assert sig.signer_id in verified.signer_subject
    first, second = (signed[r.record_id] for r in class_a[:2])
    bulk = first.signatures[0]
    with pytest.raises(SignatureInvalid):  # another record under this record's proof
        verify_document_signature(canonical_bytes(second.document), bulk.cms, bulk.batch, trust)
    saved = store.batches[str(bulk.batch["statement"]["batch_id"])]
    assert saved.status == "signed" and len(saved.members) == 3 and saved.school_id == SCHOOL_ID
    # The same poll delivered again: nothing new is opened or announced.
    assert await service.open_requests(batch) == [] and len(store.emitted) == 6
    # A record opened in a batch is the record open_request would have opened: same content.
    single = FakeStore()
    one = SigningService(single, TrustListChecker(trust), DevPKISigner(pki.signers, issuer=pki))
    await one.open_request(alone)
    assert single.emitted[0][1].data.document == signed[alone.record_id].document


async def test_a_signature_from_a_revoked_certificate_is_refused_and_changes_nothing(
    pki: DevPKI, tmp_path: Path
) -> None:
    store = FakeStore()
    record = closed_record(teacher_id="GV-REV-1", principal_id="HT-REV-1")
    teacher = pki.issue("GV-REV-1", "Vũ Đức Thắng", save=False)
    crl = pki.write_crl(
        "personal-ca", [(teacher.certificate.serial_number, datetime.now(UTC) - timedelta(hours=1))]
    )
    copy = tmp_path / "personal-ca.crl.pem"
    copy.write_bytes(crl.read_bytes())
    pki.write_crl("personal-ca", [])
    trust = TrustList.from_pem_files([str(pki.root_file)], [str(copy)])
    service = SigningService(store, TrustListChecker(trust))
    request = await service.open_request(record)
    assert request is not None
    content = canonical_bytes(request.document)
    with pytest.raises(SignatureRefused) as refused:
        await service.submit_signature(
            record.record_id,
            1,
            "homeroom_teacher",
            "GV-REV-1",
            base64.b64encode(sign_detached(content, teacher)).decode(),
        )
    assert refused.value.details[0]["problem"] == "revoked"
    assert "thu hồi" in refused.value.details[0]["message_vi"]
    assert store.requests[request.key].signatures == [] and store.emitted == []


async def test_refusal_handover_and_reminders_are_recorded(pki: DevPKI) -> None:
    from hocba_contracts.payloads.signing import SignatureReminderDue, SigningRejected
    from hocba_signing.domain.model import OutOfOrder, ReasonRequired

    store = FakeStore()
    trust = TrustList.from_pem_files([str(pki.root_file)])
    service = SigningService(store, TrustListChecker(trust), deadline=timedelta(days=14))
    first, second = (
        closed_record(teacher_id="GV-OLD", principal_id="HT-W"),
        closed_record(teacher_id="GV-OLD", principal_id="HT-W"),
    )
    for r in (first, second):
        await service.open_request(r)

    with pytest.raises(OutOfOrder):
        await service.reject(first.record_id, 1, "principal", "HT-W", "sai điểm Toán")
    with pytest.raises(ReasonRequired):
        await service.reject(first.record_id, 1, "homeroom_teacher", "GV-OLD", "  ")
    rejected = await service.reject(
        first.record_id, 1, "homeroom_teacher", "GV-OLD", "Điểm Toán nhập sai, đề nghị sửa"
    )
    assert rejected.status == "rejected" and rejected.next_signer() is None
    event = store.emitted[-1][1].data
    assert (
        isinstance(event, SigningRejected)
        and event.class_id == first.class_info.class_id
        and event.reason.startswith("Điểm")
    )

    assert (
        await service.handover(
            "GV-OLD", "GV-NEW", "Hồ Thị Lan", "nghỉ thai sản", "ADMIN-1", school_id=SCHOOL_ID
        )
        == 1
    )  # the rejected one stays
    moved = store.requests[f"{second.record_id}:1"]
    assert next_signer_id(moved) == "GV-NEW"
    assert moved.history[-1] == {
        **moved.history[-1],
        "action": "reassigned",
        "from_signer": "GV-OLD",
        "to_signer": "GV-NEW",
        "reason": "nghỉ thai sản",
        "by": "ADMIN-1",
    }
    teacher = pki.issue("GV-NEW", "Hồ Thị Lan")
    content = canonical_bytes(moved.document)
    await service.submit_signature(
        second.record_id,
        1,
        "homeroom_teacher",
        "GV-NEW",
        base64.b64encode(sign_detached(content, teacher)).decode(),
    )

    now = datetime.now(UTC)
    assert await service.send_reminders(now, timedelta(days=1)) == 0  # deadline two weeks away
    assert (
        await service.send_reminders(now + timedelta(days=13, hours=1), timedelta(days=1)) == 1
    )  # the principal
    assert (
        await service.send_reminders(now + timedelta(days=13, hours=2), timedelta(days=1)) == 0
    )  # once only
    reminder = store.emitted[-1][1].data
    assert isinstance(reminder, SignatureReminderDue) and reminder.signer_id == "HT-W"
    assert [h["action"] for h in store.requests[f"{second.record_id}:1"].history] == [
        "opened",
        "reassigned",
        "signed",
        "reminded",
    ]


async def test_secondary_subject_teachers_sign_their_subjects_first_then_homeroom_then_principal(
    pki: DevPKI,
) -> None:
    from hocba_contracts.payloads.assessment import SubjectResult, YearResult

    store = FakeStore()
    trust = TrustList.from_pem_files([str(pki.root_file)])
    service = SigningService(store, TrustListChecker(trust))
    base = closed_record(teacher_id="GV-CN-9", principal_id="HT-SEC-9")
    subjects = tuple(
        SubjectResult(
            subject_code=code,
            subject_name=name,
            year_average=8.0,
            result_label="8.0",
            teacher_id=teacher,
        )
        for code, name, teacher in (
            ("NV", "Ngữ văn", "GV-NV-9"),
            ("TOAN", "Toán", "GV-TOAN-9"),
            ("KHTN", "Khoa học tự nhiên", "GV-NV-9"),  # teaches two subjects
            ("GDCD", "Giáo dục công dân", "GV-CN-9"),  # the homeroom teacher
            ("GDTC", "Giáo dục thể chất", None),
        )
    )  # teacher not known
    record = base.model_copy(
        update={
            "subjects": subjects,
            "result": YearResult(
                level="tot", level_label="Tốt", completed_programme=True, rules="TT22/2021"
            ),
        }
    )
    request = await service.open_request(record)
    assert request is not None
    assert [(s.role, s.signer_id) for s in request.required] == [
        ("subject_teacher", "GV-NV-9"),
        ("subject_teacher", "GV-TOAN-9"),
        ("homeroom_teacher", "GV-CN-9"),
        ("principal", "HT-SEC-9"),
    ]
    content = canonical_bytes(request.document)
    people = {
        sid: pki.issue(sid, name)
        for sid, name in (
            ("GV-NV-9", "Đặng Thu Hà"),
            ("GV-TOAN-9", "Lý Minh Tuấn"),
            ("GV-CN-9", "Vũ Đức Thắng"),
            ("HT-SEC-9", "Phan Thị Kim Oanh"),
        )
    }

    def b64(sid: str) -> str:
        return base64.b64encode(sign_detached(content, people[sid])).decode()

    with pytest.raises(OutOfOrder):  # the homeroom teacher signs after the subject teachers
        await service.submit_signature(
            record.record_id, 1, "homeroom_teacher", "GV-CN-9", b64("GV-CN-9")
        )
    for role, sid in (
        ("subject_teacher", "GV-NV-9"),
        ("subject_teacher", "GV-TOAN-9"),
        ("homeroom_teacher", "GV-CN-9"),
        ("principal", "HT-SEC-9"),
    ):
        await service.submit_signature(record.record_id, 1, role, sid, b64(sid))
    [(_, announced)] = store.emitted
    assert [(s.role, s.signer_name) for s in announced.data.signatures] == [
        ("subject_teacher", "Đặng Thu Hà"),
        ("subject_teacher", "Lý Minh Tuấn"),
        ("homeroom_teacher", "Vũ Đức Thắng"),
        ("principal", "Phan Thị Kim Oanh"),
    ]
    primary = await service.open_request(closed_record())
    assert primary is not None and [s.role for s in primary.required] == [
        "homeroom_teacher",
        "principal",
    ]


async def test_a_batch_and_a_handover_take_only_the_requests_of_one_school(pki: DevPKI) -> None:
    """A teacher who teaches at two schools signs each school's records in its own batch, and a
    school hands over only what it waits for."""
    from hocba_signing.domain.model import NothingToSign

    store = FakeStore()
    service = SigningService(
        store, TrustListChecker(TrustList.from_pem_files([str(pki.root_file)]))
    )
    here = [closed_record(teacher_id="GV-TWO", school_id="079-TH-A") for _ in range(3)]
    there = [closed_record(teacher_id="GV-TWO", school_id="079-TH-C") for _ in range(2)]
    for r in here + there:
        await service.open_request(r)
    batch = await service.prepare_batch("GV-TWO", "homeroom_teacher", school_id="079-TH-A")
    assert batch.school_id == "079-TH-A"
    assert sorted(m[0] for m in batch.members) == sorted(r.record_id for r in here)
    with pytest.raises(NothingToSign):
        await service.prepare_batch("GV-TWO", "homeroom_teacher", school_id="079-TH-X")

    assert (
        await service.handover(
            "GV-TWO", "GV-SUB", "Hồ Thị Lan", "chuyển trường", "079-TH-C-QT", school_id="079-TH-C"
        )
        == 2
    )
    assert {r.record_id: next_signer_id(r) for r in store.requests.values()} == {
        **{r.record_id: "GV-TWO" for r in here},
        **{r.record_id: "GV-SUB" for r in there},
    }


async def test_a_refused_request_takes_no_more_signatures_and_says_it_was_refused(
    pki: DevPKI,
) -> None:
    from hocba_signing.domain.model import AlreadyRejected

    store = FakeStore()
    service = SigningService(
        store, TrustListChecker(TrustList.from_pem_files([str(pki.root_file)]))
    )
    record = closed_record(teacher_id="GV-REF-1", principal_id="HT-REF-1")
    request = await service.open_request(record)
    assert request is not None
    await service.reject(record.record_id, 1, "homeroom_teacher", "GV-REF-1", "Sai ngày sinh")
    teacher = pki.issue("GV-REF-1", "Vũ Đức Thắng")
    cms = base64.b64encode(sign_detached(canonical_bytes(request.document), teacher)).decode()
    with pytest.raises(AlreadyRejected) as refused:
        await service.submit_signature(record.record_id, 1, "homeroom_teacher", "GV-REF-1", cms)
    assert "refused by homeroom_teacher GV-REF-1" in refused.value.message
    assert store.requests[request.key].signatures == []
