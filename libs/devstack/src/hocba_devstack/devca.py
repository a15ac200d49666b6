"""The development CA over HTTP: certifies a public key for a signer or a school's seal with the
development PKI, so that a service in the local stack (signing, with its dev switches) never holds
a CA key nor imports the development kit. Served by the development issuer process
(`python -m hocba_devstack.issuer --pki DIR`), on loopback only, like everything it hands out.

    POST /dev-ca/certificates  {"subject_id", "common_name", "organization", "public_key": PEM}
      201 {"certificates": PEM: the certificate, then its chain up to, not including, the root}

Development only: it certifies any key for any name for whoever asks, which is what the
`*_ISSUE_ON_DEMAND` settings mean and why production refuses them.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI, HTTPException
from hocba_trust.keys import check_signer_id, pem
from pydantic import BaseModel, Field

from hocba_devstack.devpki import DevPKI

PATH = "/dev-ca/certificates"


class CertificateRequest(BaseModel):
    subject_id: str = Field(min_length=1, max_length=128)
    common_name: str = Field(min_length=1, max_length=200)
    organization: bool = False
    public_key: str = Field(min_length=1, max_length=10_000, description="PEM SubjectPublicKeyInfo")


def add_routes(app: FastAPI, pki: DevPKI) -> None:
    @app.post(PATH, status_code=201)
    async def certify(request: CertificateRequest) -> dict[str, Any]:
        try:
            check_signer_id(request.subject_id)
            key = serialization.load_pem_public_key(request.public_key.encode())
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
            raise HTTPException(400, "an EC or RSA public key is expected")
        pki.create()
        certs = pki.certify_key(
            request.subject_id, request.common_name, key, organization=request.organization
        )
        return {"certificates": pem(certs).decode()}
