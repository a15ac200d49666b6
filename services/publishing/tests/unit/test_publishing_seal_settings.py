"""The seal's settings: a seal needs the token's PIN and the trust roots of its validation data;
production refuses seals issued on demand by the development CA and never shows the PIN; the
render processes get what they seal with, the PIN still a secret."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_publishing.bootstrap import seal_settings  # noqa: E402
from hocba_publishing.config import PublishingSettings  # noqa: E402

pytestmark = pytest.mark.unit

PIN = "7f3c9a1e5b2d8046c1e9"
PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "oidc_issuer": "https://sso.hcm.edu.vn/realms/hocba",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_sasl_username": "publishing",
    "kafka_sasl_password": "c0d1e7a9b4f25e8d3a6c",
    "document_id_secret": "4b8e1f0c9d2a7e6b5c3f1a0d9e8b7c6a",
    "log_signing_key": "PRIVATE+KEY+hocba.local/publishing+00000000+AAAA",
    "pdf_seal": True,
    "pkcs11_pin": PIN,
    "trust_roots": ["/etc/hocba/pki/root.pem"],
    "crl_files": ["/etc/hocba/pki/vgca.crl"],
    "tsa_url": "https://tsa.example.vn/",
}


def test_production_seals_with_the_token_and_the_render_processes_get_it_without_showing_the_pin() -> (
    None
):
    settings = PublishingSettings(**PRODUCTION)
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert PIN not in shown
    seal = seal_settings(settings)
    assert seal is not None
    assert seal.pin.get_secret_value() == PIN and PIN not in repr(seal)
    assert seal.trust_roots == ("/etc/hocba/pki/root.pem",)
    assert seal.crl_files == ("/etc/hocba/pki/vgca.crl",)
    assert seal.tsa_url == "https://tsa.example.vn/" and seal.dev_ca_url is None
    assert pickle.loads(pickle.dumps(seal)) == seal  # handed to each render process
    assert seal_settings(PublishingSettings(**(PRODUCTION | {"pdf_seal": False}))) is None


@pytest.mark.parametrize(
    ("switch", "named"),
    [
        (
            {"pdf_seal_issue_on_demand": True, "dev_ca_url": "http://127.0.0.1:8090"},
            "HOCBA_PUBLISHING_PDF_SEAL_ISSUE_ON_DEMAND",
        ),
        ({"dev_ca_url": "http://127.0.0.1:8090"}, "HOCBA_PUBLISHING_DEV_CA_URL"),
        ({"pkcs11_pin": "1234"}, "HOCBA_PUBLISHING_PKCS11_PIN"),
    ],
)
def test_production_refuses_seals_issued_on_demand_and_a_placeholder_pin(
    switch: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        PublishingSettings(**(PRODUCTION | switch))
    message = str(refused.value)
    assert "refusing to start in production" in message and named in message
    assert PIN not in message and str(switch.get("pkcs11_pin", PIN)) not in message


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"pdf_seal": True, "trust_roots": ["root.pem"]}, "HOCBA_PUBLISHING_PKCS11_PIN"),
        ({"pdf_seal": True, "pkcs11_pin": "1234"}, "HOCBA_PUBLISHING_TRUST_ROOTS"),
        ({"pdf_seal_issue_on_demand": True}, "HOCBA_PUBLISHING_DEV_CA_URL"),
    ],
)
def test_a_seal_needs_its_pin_its_trust_roots_and_on_demand_seals_a_ca(
    settings: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        PublishingSettings(environment="development", **settings)
    assert named in str(refused.value)


def test_development_may_issue_seals_on_demand_through_the_development_ca() -> None:
    settings = PublishingSettings(
        environment="development",
        pdf_seal=True,
        pkcs11_pin="1234",
        trust_roots=["root.pem"],
        pdf_seal_issue_on_demand=True,
        dev_ca_url="http://127.0.0.1:8090",
    )
    seal = seal_settings(settings)
    assert seal is not None and seal.dev_ca_url == "http://127.0.0.1:8090"
