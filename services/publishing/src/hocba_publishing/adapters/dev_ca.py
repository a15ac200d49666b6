"""The development CA's client: certifies a school's seal key, generated inside the token, when
a school has no seal yet (the same client as signing's: services share no code but the contracts).

Development only (`HOCBA_PUBLISHING_DEV_CA_URL` with `HOCBA_PUBLISHING_PDF_SEAL_ISSUE_ON_DEMAND`,
which production refuses): the local stack serves that CA (hocba_devstack.devca); this service
never holds a CA key nor imports the development kit. In production a school's seal certificate
comes from VGCA or a licensed CA, out of band.
"""

from __future__ import annotations

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PATH = "/dev-ca/certificates"


class DevCAClient:
    """hocba_trust.keys.CertificateIssuer over HTTP."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/") + PATH
        self.timeout = timeout

    def certify_key(
        self,
        subject_id: str,
        common_name: str,
        public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
        *,
        organization: bool,
    ) -> tuple[x509.Certificate, ...]:
        body = {
            "subject_id": subject_id,
            "common_name": common_name,
            "organization": organization,
            "public_key": public_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode(),
        }
        try:
            response = httpx.post(self.url, json=body, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise LookupError(
                f"the development CA at {self.url} does not answer ({type(exc).__name__})"
            ) from None
        if response.status_code != 201:
            raise LookupError(
                f"the development CA at {self.url} refused to certify a key: HTTP {response.status_code}"
            )
        certs = tuple(x509.load_pem_x509_certificates(response.json()["certificates"].encode()))
        if certs[0].public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise LookupError("the development CA certified another key")
        return certs
