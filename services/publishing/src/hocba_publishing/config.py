from typing import Literal

from hocba_runtime.settings import ServiceSettings
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

DEV_SECRET = "dev-only-change-me"
"""Development only: production refuses it (a placeholder)."""


class PublishingSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="HOCBA_PUBLISHING_", extra="ignore", hide_input_in_errors=True
    )
    """Errors never print the input: it holds the secrets."""

    service_name: str = "publishing"
    mongo_database: str = "hocba_publishing"
    http_port: int = 8104
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
    pdf_seal: bool = Field(
        default=False,
        description="Seal each PDF (PAdES B-LT, B-LTA with a TSA) with its school's "
        "organizational seal, its key in the PKCS#11 token",
    )
    pkcs11_library: str = Field(
        default="/usr/lib/softhsm/libsofthsm2.so", description="PKCS#11 module of the HSM"
    )
    pkcs11_token_label: str = Field(
        default="hocba", description="Label of the token holding the schools' seals"
    )
    pkcs11_pin: SecretStr | None = Field(
        default=None, description="User PIN of the token holding the schools' seals"
    )
    pdf_seal_certificates: str = Field(
        default="var/pki/signers",
        description="Directory of the seals' certificates: <school_id>.pem, the certificate "
        "then its chain, for the key labelled <school_id> in the token (signing's layout)",
    )
    tsa_url: str | None = Field(
        default=None,
        description="RFC 3161 time-stamping authority: with it the seal is PAdES B-LTA "
        "(a signature time-stamp and a document time-stamp)",
    )
    pdf_seal_issue_on_demand: bool = Field(
        default=False,
        description="Development: a school without a seal gets a key generated in the token, "
        "certified by the development CA (dev_ca_url)",
    )
    dev_ca_url: str | None = Field(
        default=None,
        description="Development: the local stack's CA (hocba_devstack.devca), which certifies "
        "seals issued on demand",
    )
    pdf_render: Literal["eager", "lazy"] = Field(
        default="eager",
        description="eager: render each PDF right after its publication (a worker reading the "
        "announcements); lazy: at its first download, then kept",
    )
    pdf_render_processes: int = Field(
        default=0,
        ge=0,
        le=256,
        description="Processes that render PDFs (0: one per core; 1: a thread of the service)",
    )
    lookup_public_url: str = Field(
        default="http://127.0.0.1:8105", description="Printed on the PDF: where to verify"
    )
    document_id_secret: SecretStr = Field(
        default=SecretStr(DEV_SECRET),
        description="HMAC key that derives document ids from record ids, so that "
        "nobody can compute one; keep it stable (a new key changes the ids of records published from then on)",
    )

    log_origin: str = Field(
        default="hocba.local/publishing",
        description="The transparency log's name: the first line of each checkpoint and the name of "
        "its key (c2sp.org/tlog-checkpoint); a city's own, e.g. hocba.hcm.edu.vn/publishing",
    )
    log_signing_key: SecretStr | None = Field(
        default=None,
        description="The log's checkpoint signing key, a c2sp.org/signed-note signer key "
        "(PRIVATE+KEY+<origin>+<id>+<base64>); keep it stable, since verifiers pin its public key. "
        "Development without one signs with a key made at start",
    )
    log_checkpoint_seconds: float = Field(
        default=1.0,
        gt=0,
        le=300,
        description="The longest a publication waits for a signed checkpoint that includes it",
    )
    log_poll_seconds: float = Field(
        default=0.2, gt=0, description="How often the log's sequencer looks for queued entries"
    )

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.pdf_seal_issue_on_demand:
            problems.append(
                "HOCBA_PUBLISHING_PDF_SEAL_ISSUE_ON_DEMAND certifies seals with the development "
                "CA; set it to false and install each school's seal from VGCA or a licensed CA"
            )
        if self.dev_ca_url:
            problems.append(
                "HOCBA_PUBLISHING_DEV_CA_URL names the development CA, which certifies any key "
                "for any name; unset it"
            )
        if self.log_signing_key is None:
            problems.append(
                "set HOCBA_PUBLISHING_LOG_SIGNING_KEY: the transparency log's checkpoints are "
                "signed with it, and verifiers pin its public key"
            )
        return problems

    @model_validator(mode="after")
    def _seal_needs_its_token(self) -> "PublishingSettings":
        if self.pdf_seal and self.pkcs11_pin is None:
            raise ValueError(
                "HOCBA_PUBLISHING_PDF_SEAL needs HOCBA_PUBLISHING_PKCS11_PIN, the user PIN of the "
                "token holding the schools' seals"
            )
        if self.pdf_seal and not self.trust_roots:
            raise ValueError(
                "HOCBA_PUBLISHING_PDF_SEAL needs HOCBA_PUBLISHING_TRUST_ROOTS: the seal's "
                "validation data (PAdES B-LT) is its chain to them and their CRLs"
            )
        if self.pdf_seal_issue_on_demand and not self.dev_ca_url:
            raise ValueError(
                "HOCBA_PUBLISHING_PDF_SEAL_ISSUE_ON_DEMAND needs HOCBA_PUBLISHING_DEV_CA_URL, the "
                "development CA that certifies the seals (the local stack's issuer serves it)"
            )
        return self
