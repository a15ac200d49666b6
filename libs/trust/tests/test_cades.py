"""The CAdES-BES encoder: independent verification by OpenSSL, RSA and ECDSA, the ESS attribute."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import cms as acms
from cryptography.hazmat.primitives.asymmetric import rsa
from hocba_devstack.devpki import DevPKI
from hocba_trust import cades
from hocba_trust.canonical import canonical_bytes
from hocba_trust.cms import (
    SignatureInvalid,
    TrustList,
    VerifiedSignature,
    sign_detached,
    verify_detached,
)

pytestmark = pytest.mark.unit

DOCUMENT = {
    "document_type": "hocba.year_record",
    "student": {"full_name": "Nguyễn Thị Ánh Tuyết"},
    "score": 9.5,
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("cades-pki"))
    p.create()
    return p


def openssl_verify(
    tmp: Path, pki: DevPKI, signature: bytes, content: bytes
) -> subprocess.CompletedProcess[bytes]:
    (tmp / "sig.der").write_bytes(signature)
    (tmp / "content.json").write_bytes(content)
    (tmp / "ca.pem").write_bytes(
        pki.root_file.read_bytes() + pki.path("personal-ca.pem").read_bytes()
    )
    return subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp / "sig.der"),
            "-content",
            str(tmp / "content.json"),
            "-CAfile",
            str(tmp / "ca.pem"),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
    )


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "rsa-2048"])
def test_openssl_verifies_our_signature_and_one_changed_byte_fails_it(
    pki: DevPKI, tmp_path: Path, algorithm: str
) -> None:
    key = rsa.generate_private_key(65537, 2048) if algorithm == "rsa-2048" else None
    identity = pki.issue(f"GV-{algorithm}", "Trần Văn Bình", key=key, save=False)
    content = canonical_bytes(DOCUMENT)
    signature = sign_detached(content, identity)
    ok = openssl_verify(tmp_path, pki, signature, content)
    assert ok.returncode == 0, ok.stderr.decode()
    changed = bytearray(content)
    changed[10] ^= 0x01
    bad = openssl_verify(tmp_path, pki, signature, bytes(changed))
    assert bad.returncode != 0 and b"content verify error" in bad.stderr
    verified = verify_detached(content, signature, TrustList.from_pem_files([str(pki.root_file)]))
    assert verified.signer_common_name == "Trần Văn Bình"
    with pytest.raises(SignatureInvalid) as refused:
        verify_detached(bytes(changed), signature, TrustList.from_pem_files([str(pki.root_file)]))
    assert refused.value.reason == "tampered"


def test_cades_bes_attributes_are_all_there(pki: DevPKI) -> None:
    identity = pki.issue("GV-ATTR", "Lê Thị Hoa", save=False)
    info = acms.ContentInfo.load(sign_detached(b"x", identity))
    signer = info["content"]["signer_infos"][0]
    types = [a["type"].dotted for a in signer["signed_attrs"]]
    assert set(types) == {
        "1.2.840.113549.1.9.3",
        "1.2.840.113549.1.9.4",
        "1.2.840.113549.1.9.5",
        "1.2.840.113549.1.9.16.2.47",
    }
    assert signer["digest_algorithm"]["algorithm"].native == "sha256"
    assert len(info["content"]["certificates"]) == 2  # the signer and its issuing CA
    assert info["content"]["encap_content_info"]["content"].native is None  # detached


def test_a_signing_certificate_attribute_naming_another_certificate_is_refused(pki: DevPKI) -> None:
    a = pki.issue("GV-A", "A", save=False)
    b = pki.issue("GV-B", "B", save=False)
    other_ess = cades._template(b.certificate, b.chain, b.key).ess_attr
    cades._templates.clear()
    own = cades._template(a.certificate, a.chain, a.key)
    key = next(iter(cades._templates))
    cades._templates[key] = dataclasses.replace(own, ess_attr=other_ess)
    try:
        forged = sign_detached(b"x", a)
    finally:
        cades._templates.clear()
    with pytest.raises(SignatureInvalid) as refused:
        verify_detached(b"x", forged, TrustList.from_pem_files([str(pki.root_file)]))
    assert refused.value.reason == "bad_signature"


def test_fast_reader_and_asn1crypto_reach_the_same_verdicts(pki: DevPKI, tmp_path: Path) -> None:
    from hocba_trust.cms import _verify_detached_asn1, sign_detached_pkcs7

    trust = TrustList.from_pem_files([str(pki.root_file)])
    identity = pki.issue("GV-SAME", "Phạm Minh Châu", save=False)
    other = DevPKI(tmp_path / "other")
    other.create()
    stranger = other.issue("GV-SAME", "Phạm Minh Châu", save=False)
    content = canonical_bytes(DOCUMENT)
    cases = [
        (content, sign_detached(content, identity)),
        (content, sign_detached_pkcs7(content, identity)),
        (content + b" ", sign_detached(content, identity)),
        (content, sign_detached(content, stranger)),
    ]

    def verdict(
        fn: Callable[[bytes, bytes, TrustList], VerifiedSignature], data: bytes, der: bytes
    ) -> tuple[str, str]:
        try:
            return ("ok", fn(data, der, trust).signer_common_name)
        except SignatureInvalid as exc:
            return ("refused", exc.reason)

    verdicts = [verdict(verify_detached, d, s) for d, s in cases]
    assert verdicts == [verdict(_verify_detached_asn1, d, s) for d, s in cases]
    assert [v[0] for v in verdicts] == ["ok", "ok", "refused", "refused"]


def test_key_rotation_old_signatures_stay_valid_and_revocation_counts_from_its_time(
    pki: DevPKI, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).replace(microsecond=0)
    # (the development CAs start a day before the test: all times fall inside that day)
    old = pki.issue("GV-ROT", "Đỗ Văn Nam", not_before=now - timedelta(hours=20), save=False)
    new = pki.issue("GV-ROT", "Đỗ Văn Nam", save=False)  # replaced mid-year
    content = canonical_bytes(DOCUMENT)
    before = sign_detached(content, old, at=now - timedelta(hours=12))
    after_rotation = sign_detached(content, new, at=now)
    crl = pki.write_crl("personal-ca", [(old.certificate.serial_number, now - timedelta(hours=6))])
    copy = tmp_path / "crl.pem"
    copy.write_bytes(crl.read_bytes())
    pki.write_crl("personal-ca", [])
    trust = TrustList.from_pem_files([str(pki.root_file)], [str(copy)])
    assert (
        verify_detached(content, before, trust).signer_serial == old.certificate.serial_number
    )  # judged at its time
    assert (
        verify_detached(content, after_rotation, trust).signer_serial
        == new.certificate.serial_number
    )
    with pytest.raises(SignatureInvalid) as refused:  # the old key used after its revocation
        verify_detached(content, sign_detached(content, old, at=now), trust)
    assert refused.value.reason == "revoked"
