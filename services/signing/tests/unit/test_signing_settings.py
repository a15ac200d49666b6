"""Production settings refuse the development PKI's shortcuts and a placeholder PIN, and never show the PIN."""

from __future__ import annotations

from typing import Any

import pytest
from hocba_signing.config import SigningSettings
from pydantic import ValidationError

pytestmark = pytest.mark.unit

PIN = "7f3c9a1e5b2d8046c1e9"
PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "oidc_issuer": "https://sso.hcm.edu.vn/realms/hocba",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_sasl_username": "signing",
    "kafka_sasl_password": "c0d1e7a9b4f25e8d3a6c",
    "school_seal": True,
    "pkcs11_pin": PIN,
    "trust_roots": ["/etc/hocba/pki/root.pem"],
}


def test_production_settings_with_the_seal_in_the_hsm_start_and_never_show_the_pin() -> None:
    settings = SigningSettings(**PRODUCTION)
    assert settings.pkcs11_pin is not None and settings.pkcs11_pin.get_secret_value() == PIN
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert PIN not in shown


@pytest.mark.parametrize(
    ("switch", "named"),
    [
        (
            {"dev_issue_on_demand": True, "dev_ca_url": "http://127.0.0.1:8090"},
            "HOCBA_SIGNING_DEV_ISSUE_ON_DEMAND",
        ),
        (
            {"seal_issue_on_demand": True, "dev_ca_url": "http://127.0.0.1:8090"},
            "HOCBA_SIGNING_SEAL_ISSUE_ON_DEMAND",
        ),
        ({"dev_ca_url": "http://127.0.0.1:8090"}, "HOCBA_SIGNING_DEV_CA_URL"),
        ({"server_side_signing": True}, "HOCBA_SIGNING_SERVER_SIDE_SIGNING"),
        ({"pkcs11_pin": "1234"}, "HOCBA_SIGNING_PKCS11_PIN"),
        ({"pkcs11_pin": "change-me"}, "HOCBA_SIGNING_PKCS11_PIN"),
        ({"kafka_security_protocol": "PLAINTEXT"}, "KAFKA_SECURITY_PROTOCOL"),
    ],
)
def test_production_refuses_the_development_shortcuts_and_a_placeholder_pin(
    switch: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        SigningSettings(**(PRODUCTION | switch))
    message = str(refused.value)
    assert "refusing to start in production" in message and named in message
    for secret in (PIN, str(switch.get("pkcs11_pin", PIN)), PRODUCTION["kafka_sasl_password"]):
        assert secret not in message


def test_development_allows_the_shortcuts_and_a_short_pin_but_a_seal_needs_a_pin() -> None:
    dev = SigningSettings(
        environment="development",
        dev_issue_on_demand=True,
        seal_issue_on_demand=True,
        dev_ca_url="http://127.0.0.1:8090",
        server_side_signing=True,
        school_seal=True,
        pkcs11_pin="1234",
    )
    assert dev.server_side_signing and "1234" not in repr(dev)
    with pytest.raises(ValidationError) as refused:
        SigningSettings(environment="development", school_seal=True)
    assert "HOCBA_SIGNING_PKCS11_PIN" in str(refused.value)


@pytest.mark.parametrize("switch", ["dev_issue_on_demand", "seal_issue_on_demand"])
def test_issuing_on_demand_needs_the_development_ca_that_certifies_the_keys(switch: str) -> None:
    with pytest.raises(ValidationError) as refused:
        on: dict[str, Any] = {switch: True}
        SigningSettings(environment="development", **on)
    assert "HOCBA_SIGNING_DEV_CA_URL" in str(refused.value)
