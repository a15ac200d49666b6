"""The official PDF sealed with its school's organizational seal, its key in a PKCS#11 token
(SoftHSM2): signed by that school's certificate, trusted to the development root, a visible stamp
in Vietnamese in the top margin of the last page, the validation data embedded (PAdES B-LT) and,
with the development time-stamping authority, a document time-stamp (B-LTA); pdfsig (poppler,
NSS) says the same; one flipped byte breaks it."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_publishing.adapters.pades import (  # noqa: E402
    SEAL_FIELD,
    STAMP_BOX,
    PadesSealer,
    SealingRenderer,
    SealRefused,
    ValidationData,
)
from hocba_publishing.adapters.pkcs11_seal import SealMissing, TokenSeals  # noqa: E402
from hocba_publishing.adapters.render_pool import make_renderer  # noqa: E402
from hocba_publishing.adapters.weasyprint_renderer import WeasyPrintRenderer  # noqa: E402
from hocba_trust.keys import KeyDirectory  # noqa: E402
from publishing_fixtures import document  # noqa: E402
from pyhanko.keys import load_certs_from_pemder_data  # noqa: E402
from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402
from pyhanko.sign.diff_analysis.policy_api import ModificationLevel  # noqa: E402
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp  # noqa: E402
from pyhanko.sign.validation.dss import DocumentSecurityStore  # noqa: E402
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature  # noqa: E402
from pyhanko.sign.validation.status import SignatureCoverageLevel  # noqa: E402
from pyhanko_certvalidator import ValidationContext  # noqa: E402
from seal_fixtures import (  # noqa: E402
    SOFTHSM_LIBRARY,
    TOKEN_LABEL,
    TOKEN_PIN,
    crl_files,
    nss_database,
    provision_seal,
    running_tsa,
    seal_settings,
    softhsm_token,
)

pytestmark = pytest.mark.integration

SCHOOL_NAME = "Trường Tiểu học Đinh Tiên Hoàng"
DOCUMENT_ID = "HB-2024-SEAL-TEST-0001"


def school_id() -> str:
    return f"079-TH-S{uuid.uuid4().hex[:8].upper()}"


def record_of(school: str) -> dict[str, Any]:
    doc = document()
    doc["school"] = {**doc["school"], "school_id": school, "name": SCHOOL_NAME}
    return doc


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("seal-pki"))
    p.create()
    return p


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seals' certificates directory, beside the test process's token (made first)."""
    softhsm_token(tmp_path_factory.mktemp("seal-hsm"))
    return tmp_path_factory.mktemp("seal-certificates")


@pytest.fixture(scope="module")
def tsa(pki: DevPKI) -> Iterator[str]:
    with running_tsa(pki) as url:
        yield url


@pytest.fixture(scope="module")
def sealed(pki: DevPKI, certificates: Path) -> tuple[str, bytes]:
    """A record of school X rendered and sealed as a render process does (make_renderer), B-LT."""
    school = school_id()
    provision_seal(pki, certificates, school, SCHOOL_NAME)
    renderer = make_renderer("http://lookup.example", seal_settings(pki, certificates))
    return school, renderer.render(record_of(school), DOCUMENT_ID, "a" * 64, [])


@pytest.fixture(scope="module")
def sealed_lta(pki: DevPKI, certificates: Path, tsa: str) -> tuple[str, bytes]:
    """The same with the development TSA configured: B-LTA."""
    school = school_id()
    provision_seal(pki, certificates, school, SCHOOL_NAME)
    renderer = make_renderer("http://lookup.example", seal_settings(pki, certificates, tsa))
    return school, renderer.render(record_of(school), DOCUMENT_ID, "a" * 64, [])


def root_of(pki: DevPKI) -> Any:
    [root] = load_certs_from_pemder_data(pki.root_file.read_bytes())
    return root


def context(pki: DevPKI, trust: DevPKI | None = None) -> ValidationContext:
    """The development root (or another PKI's), its CRLs, nothing fetched, revocation required."""
    return ValidationData([str((trust or pki).root_file)], crl_files(pki)).context()


def signatures(pdf: bytes) -> list[EmbeddedPdfSignature]:
    return list(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures)


def the_seal(pdf: bytes) -> EmbeddedPdfSignature:
    [seal] = [s for s in signatures(pdf) if s.field_name == SEAL_FIELD]
    return seal


def flipped(pdf: bytes, at: int = 300) -> bytes:
    """One bit changed inside the first signed byte range (the file's first objects)."""
    changed = bytearray(pdf)
    changed[at] ^= 0x01
    return bytes(changed)


def test_a_record_of_school_x_is_sealed_by_x_s_certificate_trusted_to_the_development_root(
    pki: DevPKI, sealed: tuple[str, bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    school, pdf = sealed
    status = validate_pdf_signature(the_seal(pdf), context(pki))
    assert status.intact and status.valid and status.trusted
    subject = status.signing_cert.subject.native
    assert subject["user_id"] == school and subject["common_name"] == SCHOOL_NAME
    assert "Public-Duty" in status.signing_cert.issuer.native["common_name"]
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.modification_level == ModificationLevel.NONE
    other = DevPKI(tmp_path_factory.mktemp("other-pki"))
    other.create()
    assert not validate_pdf_signature(the_seal(pdf), context(pki, trust=other)).trusted
    assert not validate_pdf_signature(the_seal(flipped(pdf)), context(pki)).intact


def test_the_seal_carries_its_validation_data_b_lt_in_its_own_revision(
    pki: DevPKI, sealed: tuple[str, bytes], certificates: Path
) -> None:
    """The chain and CRLs are in the DSS: with them alone (no CRL given) the seal validates
    with revocation required; a B-B seal of the same school does not."""
    school, pdf = sealed
    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(pdf)))
    embedded = {c.subject.native["common_name"] for c in dss.load_certs()}
    assert "Hocba Dev Public-Duty CA (VGCA-like)" in embedded
    assert len(dss.crls) >= 1
    only_dss = dss.as_validation_context(
        {"trust_roots": [root_of(pki)], "allow_fetching": False, "revocation_mode": "hard-fail"}
    )
    status = validate_pdf_signature(the_seal(pdf), only_dss)
    assert status.valid and status.trusted

    keys = TokenSeals(SOFTHSM_LIBRARY, TOKEN_LABEL, TOKEN_PIN, KeyDirectory(certificates))
    plain = PadesSealer(keys).seal(
        WeasyPrintRenderer("http://lookup.example").render(
            record_of(school), DOCUMENT_ID, "a" * 64, []
        ),
        DOCUMENT_ID,
        school_id=school,
    )
    no_crls = ValidationContext(
        trust_roots=[root_of(pki)], crls=[], allow_fetching=False, revocation_mode="hard-fail"
    )
    assert not validate_pdf_signature(the_seal(plain), no_crls).trusted


def _words(pdf: bytes, page: int) -> list[tuple[str, float, float, float, float]]:
    """pdftotext's words on a page with their boxes, in PDF points from the bottom left."""
    html = subprocess.run(
        ["pdftotext", "-bbox", "-f", str(page), "-l", str(page), "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode()
    height = float(re.search(r'<page width="[\d.]+" height="([\d.]+)"', html).group(1))  # type: ignore[union-attr]
    return [
        (w, float(x1), height - float(y2), float(x2), height - float(y1))
        for x1, y1, x2, y2, w in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
            html,
        )
    ]


def _inside(
    box: tuple[float, float, float, float], x1: float, y1: float, x2: float, y2: float
) -> bool:
    return box[0] <= x1 and box[1] <= y1 and x2 <= box[2] and y2 <= box[3]


def _overlaps(
    box: tuple[float, float, float, float], x1: float, y1: float, x2: float, y2: float
) -> bool:
    return x1 < box[2] and box[0] < x2 and y1 < box[3] and box[1] < y2


def test_the_stamp_says_in_vietnamese_who_sealed_it_when_and_which_document_in_the_top_margin(
    sealed: tuple[str, bytes],
) -> None:
    school, pdf = sealed
    pages = len(PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"])
    last = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-f", str(pages), "-l", str(pages), "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert f"Đã ký số bởi: {SCHOOL_NAME}" in last
    assert f"Mã tài liệu: {DOCUMENT_ID}" in last
    assert re.search(r"Thời gian ký: \d\d/\d\d/\d{4} \d\d:\d\d:\d\d \(GMT\+7\)", last)

    box = tuple(float(v) for v in STAMP_BOX)
    assert len(box) == 4
    stamp = [w for w in _words(pdf, pages) if _inside(box, *w[1:])]
    inside = " ".join(w[0] for w in stamp)  # pdftotext may read a stamp's line as one word
    assert "Đã" in inside and "Đinh" in inside and "Hoàng" in inside and DOCUMENT_ID in inside
    unsealed = WeasyPrintRenderer("http://lookup.example").render(
        record_of(school), DOCUMENT_ID, "a" * 64, []
    )
    for page in range(1, pages + 1):
        printed = _words(unsealed, page)
        assert printed, "the page has text to compare the stamp's box with"
        assert not [w for w in printed if _overlaps(box, *w[1:])], (
            page,
            "the template prints there",
        )


def test_with_the_development_tsa_the_seal_is_b_lta_with_a_document_time_stamp(
    pki: DevPKI, sealed_lta: tuple[str, bytes]
) -> None:
    school, pdf = sealed_lta
    found = signatures(pdf)
    assert [s.field_name for s in found][0] == SEAL_FIELD
    doc_ts = found[-1]
    assert doc_ts.sig_object_type == "/DocTimeStamp"
    ts_status = validate_pdf_timestamp(doc_ts, context(pki))
    assert ts_status.valid and ts_status.intact and ts_status.trusted
    assert ts_status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert (
        ts_status.signing_cert.subject.native["common_name"] == "Hocba Dev Time-Stamping Authority"
    )

    status = validate_pdf_signature(the_seal(pdf), context(pki))
    assert status.valid and status.intact and status.trusted
    assert status.signing_cert.subject.native["user_id"] == school
    assert status.timestamp_validity is not None and status.timestamp_validity.valid
    assert status.timestamp_validity.trusted
    assert status.modification_level == ModificationLevel.LTA_UPDATES

    broken = flipped(pdf)
    assert not validate_pdf_timestamp(signatures(broken)[-1], context(pki)).intact
    assert not validate_pdf_signature(the_seal(broken), context(pki)).intact


@pytest.mark.parametrize("profile", ["b_lt", "b_lta"])
def test_pdfsig_reports_the_seal_valid_and_trusted_against_the_development_root(
    pki: DevPKI,
    sealed: tuple[str, bytes],
    sealed_lta: tuple[str, bytes],
    profile: str,
    tmp_path: Path,
) -> None:
    _, pdf = sealed if profile == "b_lt" else sealed_lta
    db = nss_database(tmp_path / "nss", pki.root_file)
    good, bad = tmp_path / "sealed.pdf", tmp_path / "flipped.pdf"
    good.write_bytes(pdf)
    bad.write_bytes(flipped(pdf))

    def pdfsig(path: Path) -> str:
        run = subprocess.run(["pdfsig", "-nssdir", db, str(path)], capture_output=True, text=True)
        return run.stdout

    report = pdfsig(good).split("Signature #2:")[0]  # the seal; #2 is the document time-stamp
    assert "Signature Field Name: HocbaSeal" in report
    assert f"Signer Certificate Common Name: {SCHOOL_NAME}" in report
    assert "Signature Validation: Signature is Valid." in report
    assert "Certificate Validation: Certificate is Trusted." in report
    if profile == "b_lt":
        assert "Total document signed" in report
    untrusted = subprocess.run(["pdfsig", str(good)], capture_output=True, text=True).stdout
    assert "Certificate is Trusted." not in untrusted  # without the NSS database
    assert "Signature is Valid." not in pdfsig(bad).split("Signature #2:")[0]


def test_a_school_without_a_seal_is_an_error_naming_the_school(
    pki: DevPKI, certificates: Path
) -> None:
    school = school_id()
    sealer = PadesSealer(
        TokenSeals(SOFTHSM_LIBRARY, TOKEN_LABEL, TOKEN_PIN, KeyDirectory(certificates)),
        ValidationData([str(pki.root_file)], crl_files(pki)),
    )
    renderer = SealingRenderer(WeasyPrintRenderer("http://lookup.example"), sealer)
    with pytest.raises(SealMissing, match=f"no organizational seal for school {school}"):
        renderer.render(record_of(school), DOCUMENT_ID, "a" * 64, [])


def test_in_development_a_missing_seal_is_made_once_in_the_token_and_certified(
    pki: DevPKI, certificates: Path
) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    school = school_id()
    first = TokenSeals(SOFTHSM_LIBRARY, TOKEN_LABEL, TOKEN_PIN, KeyDirectory(certificates), pki)
    signer = first.signer(school, SCHOOL_NAME)
    assert signer.signing_cert is not None
    assert signer.signing_cert.subject.native["user_id"] == school
    assert (certificates / f"{school}.pem").exists()
    assert not (certificates / f"{school}.key.pem").exists(), "no key file on disk"
    # another render process, which finds the seal the first one made
    again = TokenSeals(SOFTHSM_LIBRARY, TOKEN_LABEL, TOKEN_PIN, KeyDirectory(certificates), pki)
    assert again.signer(school, SCHOOL_NAME).signing_cert.dump() == signer.signing_cert.dump()
    with pkcs11.lib(SOFTHSM_LIBRARY).get_token(token_label=TOKEN_LABEL).open() as session:
        keys = list(
            session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: school})
        )
        assert len(keys) == 1
        assert keys[0][Attribute.EXTRACTABLE] is False and keys[0][Attribute.SENSITIVE] is True
    first.close()
    again.close()


def test_a_certificate_that_is_not_the_token_key_s_is_refused(
    pki: DevPKI, certificates: Path
) -> None:
    school, other = school_id(), school_id()
    provision_seal(pki, certificates, school, SCHOOL_NAME)
    provision_seal(pki, certificates, other, SCHOOL_NAME)
    (certificates / f"{school}.pem").write_bytes((certificates / f"{other}.pem").read_bytes())
    seals = TokenSeals(SOFTHSM_LIBRARY, TOKEN_LABEL, TOKEN_PIN, KeyDirectory(certificates))
    with pytest.raises(SealMissing, match="not the certificate of its key"):
        seals.signer(school, SCHOOL_NAME)


def test_a_revoked_seal_certificate_is_refused_before_anything_is_signed(
    tmp_path_factory: pytest.TempPathFactory, certificates: Path
) -> None:
    """DOMAIN §7: signing software checks the certificate's validity before it signs."""
    from cryptography import x509 as cx509

    revoking = DevPKI(tmp_path_factory.mktemp("revoking-pki"))
    revoking.create()
    school = school_id()
    provision_seal(revoking, certificates, school, SCHOOL_NAME)
    sealer = make_renderer("http://lookup.example", seal_settings(revoking, certificates))
    assert sealer.render(record_of(school), DOCUMENT_ID, "a" * 64, [])  # valid until revoked
    leaf = cx509.load_pem_x509_certificates((certificates / f"{school}.pem").read_bytes())[0]
    revoking.write_crl("public-duty-ca", [(leaf.serial_number, leaf.not_valid_before_utc)])
    again = make_renderer("http://lookup.example", seal_settings(revoking, certificates))
    with pytest.raises(SealRefused, match=f"the seal of school {school} .*(?i:revoked)"):
        again.render(record_of(school), DOCUMENT_ID, "a" * 64, [])
