"""Publishing: document ids, verification before publication, immutability, the PDF's text."""

from __future__ import annotations

import contextlib
import hashlib
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts.payloads.publishing import RecordPublished, RecordRevoked  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_publishing.adapters.pades import (  # noqa: E402
    PadesSealer,
    SealingRenderer,
    SoftwareSealKeys,
)
from hocba_publishing.adapters.trust import TrustListVerifier  # noqa: E402
from hocba_publishing.adapters.weasyprint_renderer import WeasyPrintRenderer  # noqa: E402
from hocba_publishing.application.use_cases import PublishingService  # noqa: E402
from hocba_publishing.domain.model import (  # noqa: E402
    CROCKFORD,
    AlreadyRevoked,
    DocumentStatus,
    InvalidRevocation,
    NotPublishable,
    Revocation,
    UnknownDocument,
    document_id,
    document_status,
)
from hocba_trust.canonical import canonical_bytes, sha256_hex  # noqa: E402
from hocba_trust.cms import TrustList  # noqa: E402
from publishing_fixtures import (  # noqa: E402
    STUDENT_NAME,
    FakeStore,
    FakeTx,
    document,
    signed_record,
)

pytestmark = pytest.mark.unit
KEY = b"unit-test-document-id-secret-0123456789"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("pub-pki"))
    p.create()
    return p


def test_document_id_is_deterministic_readable_and_distinct() -> None:
    a = document_id("HS1.2024-2025", 1, "2024-2025", key=KEY)
    assert a == document_id("HS1.2024-2025", 1, "2024-2025", key=KEY)
    assert a != document_id("HS1.2024-2025", 2, "2024-2025", key=KEY)
    assert a.startswith("HB-2024-") and len(a) == len("HB-2024-XXXX-XXXX-XXXX")
    assert not set(a[8:].replace("-", "")) & set("ILOU")
    ids = {document_id(f"HS{i}.2024-2025", 1, "2024-2025", key=KEY) for i in range(20_000)}
    assert len(ids) == 20_000


def _plain_sha256_id(record_id: str, record_version: int, school_year: str) -> str:
    """The derivation document ids had before they were keyed: anyone could compute it."""
    digest = (
        int.from_bytes(hashlib.sha256(f"{record_id}:{record_version}".encode()).digest()[:8], "big")
        >> 4
    )
    chars = "".join(CROCKFORD[(digest >> (5 * i)) & 31] for i in reversed(range(12)))
    return f"HB-{school_year[:4]}-{chars[0:4]}-{chars[4:8]}-{chars[8:12]}"


def test_document_id_cannot_be_computed_from_the_record_id_without_the_key() -> None:
    records = [(f"HS{i:08d}.2024-2025", v) for i in range(200) for v in (1, 2)]
    keyed = {document_id(r, v, "2024-2025", key=KEY) for r, v in records}
    assert not keyed & {_plain_sha256_id(r, v, "2024-2025") for r, v in records}
    other_key = {
        document_id(r, v, "2024-2025", key=b"another-document-id-secret-0123") for r, v in records
    }
    assert not keyed & other_key


async def test_publishes_once_and_a_new_version_supersedes(pki: DevPKI) -> None:
    store = FakeStore()
    service = PublishingService(
        store,
        store,
        TrustListVerifier(TrustList.from_pem_files([str(pki.root_file)])),
        id_key=KEY,
    )
    signed = signed_record(pki)
    first = await service.publish(signed)
    assert first is not None and await service.publish(signed) is None
    assert len(store.emitted) == 1 and isinstance(store.emitted[0][1].data, RecordPublished)
    doc2 = document(signed.student_id, version=2)
    second = await service.publish(signed_record(pki, doc2))
    assert second is not None and second.supersedes == first.document_id
    assert store.docs[first.document_id] == first  # untouched
    assert first.document_id == document_id(signed.record_id, 1, "2024-2025", key=KEY)
    assert first.document_id != _plain_sha256_id(signed.record_id, 1, "2024-2025")


async def test_a_document_published_under_another_key_keeps_its_id(pki: DevPKI) -> None:
    """A document published before the ids were keyed (or before a key change) is found by its
    record id and version: a redelivery publishes nothing new, and it keeps the id printed on it."""
    store = FakeStore()
    verifier = TrustListVerifier(TrustList.from_pem_files([str(pki.root_file)]))
    signed = signed_record(pki)
    old = await PublishingService(
        store, store, verifier, id_key=b"the-key-before-0123456789"
    ).publish(signed)
    assert old is not None
    service = PublishingService(store, store, verifier, id_key=KEY)
    assert await service.publish(signed) is None
    assert list(store.docs) == [old.document_id]
    new = await service.publish(signed_record(pki, document(signed.student_id, version=2)))
    assert new is not None and new.supersedes == old.document_id
    assert new.document_id == document_id(signed.record_id, 2, "2024-2025", key=KEY)


@pytest.mark.parametrize("change", ["content", "hash", "signature", "untrusted"])
async def test_refuses_what_does_not_verify_and_stores_nothing(
    pki: DevPKI, tmp_path: Path, change: str
) -> None:
    store = FakeStore()
    trust = TrustList.from_pem_files([str(pki.root_file)])
    signed = signed_record(pki)
    if change == "content":
        # Altered after signing, with the hash recomputed to match: the signatures catch it.
        signed.document["result"]["level_label"] = "Hoàn thành"
        signed = signed.model_copy(
            update={"content_sha256": sha256_hex(canonical_bytes(signed.document))}
        )
        expected = "tampered"
    elif change == "hash":
        signed = signed.model_copy(update={"content_sha256": "0" * 64})
        expected = "tampered"
    elif change == "signature":
        signed = signed.model_copy(update={"signatures": signed.signatures[:1]})
        expected = "missing_signature"
    else:
        other = DevPKI(tmp_path / "other")
        other.create()
        trust = TrustList.from_pem_files([str(other.root_file)])
        expected = "untrusted"
    service = PublishingService(store, store, TrustListVerifier(trust), id_key=KEY)
    with pytest.raises(NotPublishable) as refused:
        await service.publish(signed)
    assert refused.value.reason == expected
    assert store.docs == {} and store.emitted == []
    assert list(store.rejections.values()) == [expected]


def test_pdf_carries_vietnamese_text_with_diacritics() -> None:
    doc = document()
    renderer = WeasyPrintRenderer("http://lookup.example")
    pdf = renderer.render(
        doc,
        "HB-2024-ABCD-EFGH-JKMN",
        "a" * 64,
        [
            {
                "role": "homeroom_teacher",
                "signer_id": "GV-P",
                "signer_name": "Đỗ Thị Ngọc Diệp",
                "signed_at": "2025-05-30T08:00:00+00:00",
            }
        ],
    )
    text = " ".join(  # cells wrap their text: one space for every run of white space
        subprocess.run(
            ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
        )
        .stdout.decode()
        .split()
    )
    for expected in (
        STUDENT_NAME,
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "HỌC BẠ",
        "Hoàn thành xuất sắc",
        "Đỗ Thị Ngọc Diệp",
        "Đã ký số",
        "HB-2024-ABCD-EFGH-JKMN",
        "hoàn thành chương trình tiểu học",
        "20/11/2018",
        "http://lookup.example/verify/HB-2024-ABCD-EFGH-JKMN",
    ):
        assert expected in text, expected
    assert "Số ngày nghỉ" not in text and "Phẩm chất" not in text  # not in this record: not printed


def test_a_secondary_record_prints_averages_conduct_title_and_promotion() -> None:
    doc = document()
    doc["school"]["level"] = "lower_secondary"
    doc["class_info"]["grade"] = 7
    doc["subjects"] = [
        {
            "subject_code": "TOAN",
            "subject_name": "Toán",
            "term1_average": 8.4,
            "term2_average": 9.1,
            "year_average": 8.9,
            "result_label": "8.9",
            "comment": "Tư duy tốt",
        },
        {
            "subject_code": "GDTC",
            "subject_name": "Giáo dục thể chất",
            "passed": True,
            "result_label": "Đạt",
        },
    ]
    doc["result"] = {
        "level": "tot",
        "level_label": "Tốt",
        "completed_programme": True,
        "rules": "TT22/2021",
        "term1_level": "kha",
        "conduct_term1": "kha",
        "conduct_term2": "tot",
        "conduct": "tot",
        "conduct_label": "Tốt",
        "commendation": "Học sinh Giỏi",
        "days_absent": 2,
        "promotion": "len_lop",
        "promotion_label": "Được lên lớp",
        "retake_subjects": [],
        "reassessed": False,
    }
    pdf = WeasyPrintRenderer("http://lookup.example").render(
        doc, "HB-2024-ABCD-EFGH-JKMN", "a" * 64, []
    )
    text = subprocess.run(  # -layout: a table row's cells on one line
        ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for expected in (
        r"Toán\s+8\.4\s+9\.1\s+8\.9\s",
        r"Giáo dục thể chất\s+Đạt\s",
        r"Kết quả học tập\s+Kết quả rèn luyện",
        r"Học kỳ I\s+Khá\s+Khá",  # a record of before academic_term1: its term1_level
        r"Học kỳ II\s+Tốt",  # conduct; the record states no academic result of term II
        r"Cả năm\s+Tốt\s+Tốt",
        r"Khen thưởng \(danh hiệu\):\s+Học sinh Giỏi",
        r"Xét lên lớp:\s+Được lên lớp",
        r"Số ngày nghỉ học cả năm:\s+2",
    ):
        assert re.search(expected, text), expected
    assert "Điểm KTĐK" not in text


def seal_files(pki: DevPKI, seal_id: str, name: str) -> tuple[str, str]:
    """A school's seal as a software key (the service's is in a token: tests/integration):
    issued by the development public-duty CA, a certificate file and a key file."""
    pki.issue(seal_id, name, organization=True)
    return str(pki.signers.certificate_file(seal_id)), str(pki.signers.key_file(seal_id))


def software_sealer(pki: DevPKI, seal_id: str, name: str) -> PadesSealer:
    """A B-B sealer (no validation data) with a software seal: what these unit tests look at."""
    return PadesSealer(SoftwareSealKeys(*seal_files(pki, seal_id, name)))


def test_a_seal_key_that_is_not_the_certificates_is_refused(pki: DevPKI) -> None:
    cert, _ = seal_files(pki, "HOCBA-PUB-A", "Sở A")
    _, other_key = seal_files(pki, "HOCBA-PUB-B", "Sở B")
    with pytest.raises(LookupError, match="not the key of the certificate"):
        PadesSealer(SoftwareSealKeys(cert, other_key)).seal(b"%PDF-1.7", "HB-X", school_id="A")


def test_a_record_without_a_school_is_not_sealed(pki: DevPKI) -> None:
    doc = document()
    del doc["school"]
    renderer = SealingRenderer(
        WeasyPrintRenderer("http://lookup.example"), software_sealer(pki, "HOCBA-PUB-N", "Sở N")
    )
    with pytest.raises(LookupError, match="names no school"):
        renderer.render(doc, "HB-2024-ABCD-EFGH-JKMN", "a" * 64, [])


def test_a_secondary_record_prints_the_academic_result_of_each_term_and_the_year_with_its_adjustment() -> (
    None
):
    doc = document()
    doc["school"]["level"] = "lower_secondary"
    doc["class_info"]["grade"] = 7
    doc["subjects"] = [
        {
            "subject_code": "CN",
            "subject_name": "Công nghệ",
            "term1_average": 4.0,
            "term2_average": 8.0,
            "year_average": 6.7,
            "result_label": "6.7",
        },
        {
            "subject_code": "TIN",
            "subject_name": "Tin học",
            "term1_average": 8.0,
            "term2_average": 3.0,
            "year_average": 4.7,
            "result_label": "4.7",
        },
    ]
    doc["result"] = {
        "level": "kha",
        "level_label": "Khá",
        "completed_programme": True,
        "rules": "TT22/2021",
        "term1_level": "kha",
        "term2_level": "dat",
        "academic_term1": {
            "level": "kha",
            "level_label": "Khá",
            "unadjusted_level": "dat",
            "adjusted_for": "CN",
        },
        "academic_term2": {
            "level": "dat",
            "level_label": "Đạt",
            "unadjusted_level": "chua_dat",
            "adjusted_for": "TIN",
        },
        "academic_full_year": {
            "level": "kha",
            "level_label": "Khá",
            "unadjusted_level": "kha",
            "adjusted_for": None,
        },
        "conduct_term1": "tot",
        "conduct_term2": "tot",
        "conduct": "tot",
        "conduct_label": "Tốt",
        "promotion": "len_lop",
        "promotion_label": "Được lên lớp",
        "retake_subjects": [],
        "reassessed": False,
    }
    pdf = WeasyPrintRenderer("http://lookup.example").render(
        doc, "HB-2024-ABCD-EFGH-JKMN", "a" * 64, []
    )
    text = " ".join(
        subprocess.run(
            ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
        )
        .stdout.decode()
        .split()
    )
    layout = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for when, level in (("Học kỳ I", "Khá"), ("Học kỳ II", "Đạt"), ("Cả năm", "Khá")):
        assert re.search(rf"^\s*{when}\s+{level}\s+Tốt$", layout, re.M), when
    assert (
        "Học kỳ I: điều chỉnh từ Đạt lên Khá, vì chỉ một môn Công nghệ (khoản 3 Điều 9 Thông tư 22/2021)"
        in text
    )
    assert "Học kỳ II: điều chỉnh từ Chưa đạt lên Đạt, vì chỉ một môn Tin học" in text
    assert "Cả năm: điều chỉnh" not in text  # the year was not adjusted: nothing said
    assert "sau kiểm tra lại" not in text

    # After a summer retake the record keeps the close's year result and states the re-assessment.
    doc["result"] = {
        **doc["result"],
        "level": "dat",
        "level_label": "Đạt",
        "reassessed": True,
        "retake_subjects": ["TIN"],
        "promotion_label": "Được lên lớp",
        "academic_full_year": {
            "level": "chua_dat",
            "level_label": "Chưa đạt",
            "unadjusted_level": "chua_dat",
            "adjusted_for": None,
        },
    }
    pdf = WeasyPrintRenderer("http://lookup.example").render(
        doc, "HB-2024-ABCD-EFGH-JKMN", "a" * 64, []
    )
    text = " ".join(
        subprocess.run(
            ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
        )
        .stdout.decode()
        .split()
    )
    layout = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert re.search(r"^\s*Cả năm\s+Chưa đạt\s+Tốt$", layout, re.M)
    assert re.search(r"^\s*Học kỳ II\s+Đạt\s+Tốt$", layout, re.M)
    assert "Kết quả học tập sau kiểm tra lại: Đạt" in text


def test_the_pdf_is_sealed_pades_and_a_change_after_the_seal_shows(pki: DevPKI) -> None:
    import io

    from pyhanko.keys import load_certs_from_pemder_data
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    renderer = SealingRenderer(
        WeasyPrintRenderer("http://lookup.example"),
        software_sealer(pki, "HOCBA-PUB-TEST", "Trường Tiểu học Đinh Tiên Hoàng"),
    )
    pdf = renderer.render(document(), "HB-2024-ABCD-EFGH-JKMN", "a" * 64, [])
    # the annotated loader (load_cert_from_pemder has none); one certificate, as that one checks
    [root] = load_certs_from_pemder_data(pki.root_file.read_bytes())
    context = ValidationContext(
        trust_roots=[root],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    status = validate_pdf_signature(PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0], context)
    assert status.intact and status.valid and status.trusted
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert STUDENT_NAME in text
    tampered = bytearray(pdf)
    tampered[200] ^= 0x01  # inside the first signed byte range
    changed = validate_pdf_signature(
        PdfFileReader(io.BytesIO(bytes(tampered)), strict=False).embedded_signatures[0], context
    )
    assert not changed.intact


def test_the_sealed_pdf_carries_its_record_inside_the_seal(pki: DevPKI, tmp_path: Path) -> None:
    """hocba-record.json: what the offline verifier checks a PDF by, in the revision the seal
    covers (an attachment added after the seal would show as a modification)."""
    import io
    import json

    from pyhanko.keys import load_certs_from_pemder_data
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.diff_analysis.policy_api import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    renderer = SealingRenderer(
        WeasyPrintRenderer("http://lookup.example"),
        software_sealer(pki, "HOCBA-PUB-REC", "Trường Tiểu học Đinh Tiên Hoàng"),
    )
    signed = signed_record(pki)
    signatures = [s.model_dump(mode="json") for s in signed.signatures]
    pdf = renderer.render(
        signed.document, "HB-2024-ABCD-EFGH-JKMN", signed.content_sha256, signatures
    )
    (tmp_path / "sealed.pdf").write_bytes(pdf)
    listed = subprocess.run(
        ["pdfdetach", "-list", str(tmp_path / "sealed.pdf")], capture_output=True, check=True
    )
    assert "1: hocba-record.json" in listed.stdout.decode()  # what any PDF tool lists
    reader = PdfFileReader(io.BytesIO(pdf))
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    spec = names[1].get_object()
    attached = json.loads(spec["/EF"]["/F"].get_object().data)
    assert attached == {
        "document_id": "HB-2024-ABCD-EFGH-JKMN",
        "record_version": 1,
        "school_year": "2024-2025",
        "content_sha256": signed.content_sha256,
        "signatures": signatures,
        "document": signed.document,
    }
    assert sha256_hex(canonical_bytes(attached["document"])) == signed.content_sha256
    [root] = load_certs_from_pemder_data(pki.root_file.read_bytes())
    context = ValidationContext(
        trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail"
    )
    status = validate_pdf_signature(reader.embedded_signatures[0], context)
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.modification_level == ModificationLevel.NONE
    unversioned = {k: v for k, v in signed.document.items() if k != "record_version"}
    pdf = renderer.render(unversioned, "HB-2024-ABCD-EFGH-JKMN", signed.content_sha256, signatures)
    names = PdfFileReader(io.BytesIO(pdf)).root["/Names"]["/EmbeddedFiles"]["/Names"]
    attached = json.loads(names[1].get_object()["/EF"]["/F"].get_object().data)
    assert "record_version" not in attached and attached["document"] == unversioned


def _service(pki: DevPKI, store: FakeStore) -> PublishingService:
    verifier = TrustListVerifier(TrustList.from_pem_files([str(pki.root_file)]))
    return PublishingService(store, store, verifier, id_key=KEY)


async def test_a_published_document_is_revoked_once_with_its_reason_and_stays_as_published(
    pki: DevPKI,
) -> None:
    store = FakeStore()
    service = _service(pki, store)
    doc = await service.publish(signed_record(pki))
    assert doc is not None
    stored, pdfs = store.docs[doc.document_id], dict(store.pdfs)
    revocation = await service.revoke(
        doc.document_id, "  Cấp nhầm học bạ của học sinh khác \n", "HT-P"
    )
    assert (revocation.reason, revocation.revoked_by, revocation.school_id) == (
        "Cấp nhầm học bạ của học sinh khác",
        "HT-P",
        "079-TH-P",
    )
    assert store.revoked == {doc.document_id: revocation}
    assert store.docs[doc.document_id] == stored and store.pdfs == pdfs
    topic, event = store.emitted[-1]
    assert topic == "hocba.publishing.events" and isinstance(event.data, RecordRevoked)
    assert event.subject == doc.student_id, (
        "keyed like the publication: one student's events in order"
    )
    assert event.data.model_dump() == {
        "document_id": doc.document_id,
        "record_id": doc.record_id,
        "record_version": 1,
        "student_id": doc.student_id,
        "revoked_by": "HT-P",
        "reason": "Cấp nhầm học bạ của học sinh khác",
        "revoked_at": revocation.revoked_at,
    }
    with pytest.raises(AlreadyRevoked) as again:
        await service.revoke(doc.document_id, "Lý do khác", "HT-P2")
    assert again.value.status == 409 and again.value.code == "already_revoked"
    at = revocation.revoked_at.isoformat(timespec="seconds")
    assert f"at {at} by HT-P;" in again.value.message
    assert again.value.details[0]["revoked_by"] == "HT-P"
    assert len(store.emitted) == 2 and store.revoked == {doc.document_id: revocation}


async def test_revoking_an_unknown_document_is_404_saying_what_to_check(pki: DevPKI) -> None:
    store = FakeStore()
    with pytest.raises(UnknownDocument) as missing:
        await _service(pki, store).revoke("HB-2024-0000-0000-0000", "Cấp nhầm", "HT-P")
    assert missing.value.status == 404 and "check the id printed on the record" in (
        missing.value.message
    )
    assert store.revoked == {} and store.emitted == []


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("", "give the reason"),
        (" \t\n ", "give the reason"),
        ("x" * 501, "at most 500"),
        ("Sai số định danh 079318004321 của học sinh", "personal identification number"),
        ("CMND 038 123 456", "personal identification number"),
    ],
    ids=["empty", "blank", "too long", "personal id", "grouped id"],
)
async def test_a_revocation_without_a_usable_reason_is_422_and_changes_nothing(
    pki: DevPKI, reason: str, expected: str
) -> None:
    store = FakeStore()
    service = _service(pki, store)
    doc = await service.publish(signed_record(pki))
    assert doc is not None
    with pytest.raises(InvalidRevocation) as refused:
        await service.revoke(doc.document_id, reason, "HT-P")
    assert refused.value.status == 422 and expected in refused.value.message
    assert refused.value.details == [{"field": "reason", "problem": refused.value.message}]
    assert reason.strip() == "" or reason.strip() not in refused.value.message, "never echoed"
    assert "079318004321" not in refused.value.message and "038 123" not in refused.value.message
    assert store.revoked == {} and len(store.emitted) == 1


async def test_a_reason_may_name_the_school_year_and_a_date(pki: DevPKI) -> None:
    store = FakeStore()
    service = _service(pki, store)
    doc = await service.publish(signed_record(pki))
    assert doc is not None
    kept = await service.revoke(
        doc.document_id, "Năm học 2024-2025: điểm Toán nhập sai ngày 30/05/2025", "HT-P"
    )
    assert kept.reason.startswith("Năm học 2024-2025")


class StaleTx(FakeTx):
    """A transaction that missed a revocation committed meanwhile by another request."""

    async def revocation(self, document_id: str) -> Revocation | None:
        return None


class RacingStore(FakeStore):
    """Its transactions read no revocation, as one racing another would."""

    @contextlib.asynccontextmanager
    async def __call__(self, processing: str | None = None) -> AsyncIterator[FakeTx]:
        async with super().__call__(processing) as tx:
            yield StaleTx(self, tx.duplicate)


async def test_a_revocation_made_meanwhile_by_another_request_is_a_conflict_too(
    pki: DevPKI,
) -> None:
    store = RacingStore()
    service = _service(pki, store)
    doc = await service.publish(signed_record(pki))
    assert doc is not None
    first = await service.revoke(doc.document_id, "Cấp nhầm", "HT-P")
    with pytest.raises(AlreadyRevoked) as conflict:
        await service.revoke(doc.document_id, "Lần hai", "HT-P2")
    assert conflict.value.revocation == first and store.revoked == {doc.document_id: first}
    assert [type(e.data) for _, e in store.emitted] == [RecordPublished, RecordRevoked]


def test_a_revoked_document_is_revoked_even_once_superseded() -> None:
    r = Revocation("D1", "R1", 1, "S1", "SC", "HT", "Cấp nhầm", datetime.now(UTC))
    assert document_status(None, None) is DocumentStatus.PUBLISHED
    assert document_status("D2", None) is DocumentStatus.SUPERSEDED
    assert document_status("D2", r) is DocumentStatus.REVOKED
    assert document_status(None, r) is DocumentStatus.REVOKED
