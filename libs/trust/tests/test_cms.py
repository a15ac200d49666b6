"""Detached CMS signatures: made, verified, and refused with the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hocba_devstack.devpki import PERSONAL_CA, DevPKI
from hocba_trust.canonical import canonical_bytes
from hocba_trust.cms import SignatureInvalid, TrustList, sign_detached, verify_detached

pytestmark = pytest.mark.unit

DOC = {"student": {"full_name": "Đặng Thị Ngọc Hân"}, "result": {"level": "hoan_thanh_tot"}, "n": 1}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("pki"))
    p.create()
    return p


def trust(pki: DevPKI, crls: list[Path] | None = None) -> TrustList:
    return TrustList.from_pem_files([str(pki.root_file)], [str(c) for c in crls or []])


def test_a_signature_verifies_and_names_the_signer(pki: DevPKI) -> None:
    teacher = pki.issue("GV-001", "Trần Văn Đức")
    content = canonical_bytes(DOC)
    result = verify_detached(content, sign_detached(content, teacher), trust(pki))
    assert result.signer_common_name == "Trần Văn Đức"
    assert abs((result.signing_time - datetime.now(UTC)).total_seconds()) < 120


def test_canonical_bytes_do_not_depend_on_key_order() -> None:
    assert (
        canonical_bytes({"b": 1, "a": [1, 2]})
        == canonical_bytes({"a": [1, 2], "b": 1})
        == b'{"a":[1,2],"b":1}'
    )


def test_one_changed_byte_is_tampering(pki: DevPKI) -> None:
    content = canonical_bytes(DOC)
    sig = sign_detached(content, pki.issue("GV-002", "A"))
    changed = bytearray(content)
    changed[5] ^= 1
    with pytest.raises(SignatureInvalid) as err:
        verify_detached(bytes(changed), sig, trust(pki))
    assert err.value.reason == "tampered" and "thay đổi" in err.value.message_vi


def test_a_certificate_from_another_ca_is_untrusted(pki: DevPKI, tmp_path: Path) -> None:
    other = DevPKI(tmp_path / "other")
    other.create()
    content = canonical_bytes(DOC)
    with pytest.raises(SignatureInvalid) as err:
        verify_detached(content, sign_detached(content, other.issue("GV-X", "X")), trust(pki))
    assert err.value.reason == "untrusted"


def test_an_expired_certificate_is_refused(pki: DevPKI) -> None:
    old = pki.issue(
        "GV-OLD", "B", not_before=datetime.now(UTC) - timedelta(days=400), days=30, save=False
    )
    content = canonical_bytes(DOC)
    with pytest.raises(SignatureInvalid) as err:
        verify_detached(content, sign_detached(content, old), trust(pki))
    assert err.value.reason == "expired"


def test_a_certificate_revoked_before_signing_is_refused(pki: DevPKI) -> None:
    ident = pki.issue("GV-REV", "C", save=False)
    content = canonical_bytes(DOC)
    sig = sign_detached(content, ident)
    assert verify_detached(content, sig, trust(pki))
    crl = pki.write_crl(
        PERSONAL_CA, [(ident.certificate.serial_number, datetime.now(UTC) - timedelta(minutes=5))]
    )
    try:
        with pytest.raises(SignatureInvalid) as err:
            verify_detached(content, sig, trust(pki, [crl]))
        assert err.value.reason == "revoked"
    finally:
        pki.write_crl(PERSONAL_CA, [])


def test_garbage_is_malformed(pki: DevPKI) -> None:
    with pytest.raises(SignatureInvalid) as err:
        verify_detached(b"x", b"\x30\x03\x02\x01\x01", trust(pki))
    assert err.value.reason == "malformed"
