"""The development PKI's CRLs stay fresh for the local stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from hocba_devstack.devpki import DevPKI

pytestmark = pytest.mark.unit


def test_a_crl_near_its_next_update_is_signed_again_with_the_same_entries(tmp_path: Path) -> None:
    """The seal's validation data refuses a stale CRL; a local stack outlives a CRL's week."""
    pki = DevPKI(tmp_path / "pki")
    pki.create()
    assert pki.refresh_crls() == []  # a week ahead: kept
    revoked_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    pki.write_crl("public-duty-ca", [(1234, revoked_at)])
    assert pki.refresh_crls(within=timedelta(days=8)) == ["root", "public-duty-ca", "personal-ca"]
    crl = x509.load_pem_x509_crl(pki.crl_file("public-duty-ca").read_bytes())
    assert [(r.serial_number, r.revocation_date_utc) for r in crl] == [(1234, revoked_at)]
