"""Signing's settings (`HOCBA_SIGNING_*`).

Production refuses the development shortcuts: certificates issued on demand by the local stack's
development CA (`dev_issue_on_demand`, `seal_issue_on_demand`, through `dev_ca_url`) and server-side signing, whose personal keys are the
development PKI's software keys; teachers and principals sign with their own tokens or signing apps,
the school's seal with its key in the HSM. The HSM's PIN is a secret: never in `repr`, logs or the
errors that refuse the settings (pydantic would otherwise quote the input).
"""

from __future__ import annotations

from hocba_runtime.settings import ServiceSettings
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict


class SigningSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="HOCBA_SIGNING_", extra="ignore", hide_input_in_errors=True
    )

    service_name: str = "signing"
    mongo_database: str = "hocba_signing"
    http_port: int = 8103
    trust_roots: list[str] = Field(
        default_factory=list, description="PEM files of trusted roots (JSON list)"
    )
    crl_files: list[str] = Field(
        default_factory=list, description="CRL files, PEM or DER (JSON list)"
    )
    crl_urls: list[str] = Field(
        default_factory=list, description="CRL distribution points to fetch (JSON list)"
    )
    crl_refresh_seconds: float = Field(
        default=3600, description="How often CRLs are re-read and re-fetched"
    )
    server_side_signing: bool = Field(
        default=False,
        description="Development: sign inside Hocba with the software "
        "keys of the development PKI in pki_dir",
    )
    pki_dir: str = Field(
        default="var/pki",
        description="Signers' files are in its signers/ directory: <id>.pem (certificate "
        "and chain) for each seal in the HSM and, with server_side_signing, <id>.key.pem (python -m "
        "hocba_devstack.devpki creates a development PKI there)",
    )
    dev_ca_url: str | None = Field(
        default=None,
        description="Development: the local stack's development CA "
        "(hocba_devstack.devca), which certifies keys for signers and seals issued on demand",
    )
    dev_issue_on_demand: bool = Field(
        default=False, description="Development: issue certificates for unknown signers"
    )
    school_seal: bool = Field(
        default=False, description="The school's seal signs last, with its key in a PKCS#11 token"
    )
    pkcs11_library: str = Field(
        default="/usr/lib/softhsm/libsofthsm2.so", description="PKCS#11 module of the HSM"
    )
    pkcs11_token_label: str = Field(
        default="hocba", description="Label of the token holding the seals"
    )
    pkcs11_pin: SecretStr | None = Field(
        default=None, description="User PIN of the token holding the seals"
    )
    seal_issue_on_demand: bool = Field(
        default=False, description="Development: generate and certify missing seals"
    )
    signing_deadline_days: float = Field(
        default=14, description="Days from a record's close to its signing deadline"
    )
    reminder_within_hours: float = Field(
        default=48, description="Remind a waiting signer this long before the deadline"
    )
    reminder_poll_seconds: float = Field(
        default=600, description="How often to look for deadlines near"
    )
    external_signers: list[str] = Field(
        default_factory=list,
        description="Staff ids (or prefixes ending in *) who always "
        "sign with their own apps, never server-side",
    )

    def production_problems(self) -> list[str]:
        """The base checks, and none of the development PKI's shortcuts."""
        problems = super().production_problems()
        if self.dev_issue_on_demand:
            problems.append(
                "HOCBA_SIGNING_DEV_ISSUE_ON_DEMAND issues development certificates to anyone named as a "
                "signer; set it to false"
            )
        if self.seal_issue_on_demand:
            problems.append(
                "HOCBA_SIGNING_SEAL_ISSUE_ON_DEMAND certifies seals with the development public-duty CA; "
                "set it to false and install each school's seal certificate from VGCA or a licensed CA"
            )
        if self.dev_ca_url:
            problems.append(
                "HOCBA_SIGNING_DEV_CA_URL names the development CA, which certifies any key for any name; "
                "unset it: seals and signers are certified by VGCA or a licensed CA"
            )
        if self.server_side_signing:
            problems.append(
                "HOCBA_SIGNING_SERVER_SIDE_SIGNING signs with the development PKI's software keys; set it "
                "to false: teachers and principals sign with their own tokens or signing apps"
            )
        return problems

    @model_validator(mode="after")
    def _on_demand_needs_a_ca(self) -> SigningSettings:
        if (self.dev_issue_on_demand or self.seal_issue_on_demand) and not self.dev_ca_url:
            raise ValueError(
                "HOCBA_SIGNING_DEV_ISSUE_ON_DEMAND and HOCBA_SIGNING_SEAL_ISSUE_ON_DEMAND need "
                "HOCBA_SIGNING_DEV_CA_URL, the development CA that certifies the keys (the local stack's "
                "issuer serves it)"
            )
        return self

    @model_validator(mode="after")
    def _seal_needs_pin(self) -> SigningSettings:
        if self.school_seal and self.pkcs11_pin is None:
            raise ValueError(
                "HOCBA_SIGNING_SCHOOL_SEAL needs HOCBA_SIGNING_PKCS11_PIN, the user PIN of the token "
                "holding the seals"
            )
        return self
