"""Publishing's settings that seal each PDF with the school's seal (PAdES B-LT), its key in a
SoftHSM2 token, as in production: for the lookup's tests that verify sealed PDFs. Its importer puts
services/publishing/tests on sys.path (seal_fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hocba_devstack.devpki import DevPKI
from seal_fixtures import (
    SOFTHSM_LIBRARY,
    TOKEN_LABEL,
    TOKEN_PIN,
    crl_files,
    provision_seal,
    softhsm_token,
)

SCHOOL_ID, SCHOOL_NAME = "079-TH-L", "Trường Tiểu học Hòa Bình"


def school_seal(pki: DevPKI, directory: Path) -> dict[str, Any]:
    """The seal's settings, with the token made under `directory`."""
    softhsm_token(directory / "hsm")
    certificates = directory / "seals"
    certificates.mkdir(parents=True, exist_ok=True)
    provision_seal(pki, certificates, SCHOOL_ID, SCHOOL_NAME)
    return {
        "pdf_seal": True,
        "pkcs11_library": SOFTHSM_LIBRARY,
        "pkcs11_token_label": TOKEN_LABEL,
        "pkcs11_pin": TOKEN_PIN,
        "pdf_seal_certificates": str(certificates),
        "crl_files": list(crl_files(pki)),
    }
