from hocba_runtime.settings import ServiceSettings
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

DEV_SECRET = "dev-only-change-me"
"""Development only: production refuses it (a placeholder)."""


class PublishingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOCBA_PUBLISHING_", extra="ignore", hide_input_in_errors=True)
    """Errors never print the input: it holds the secrets."""

    service_name: str = "publishing"
    mongo_database: str = "hocba_publishing"
    http_port: int = 8104
    trust_roots: list[str] = Field(default_factory=list, description="PEM files of trusted roots (JSON list)")
    crl_files: list[str] = Field(default_factory=list, description="CRL files, PEM or DER (JSON list)")
    crl_urls: list[str] = Field(default_factory=list, description="CRL distribution points to fetch (JSON list)")
    crl_refresh_seconds: float = Field(default=3600, description="How often CRLs are re-read and re-fetched")
    pdf_seal: bool = Field(default=False, description="Seal each PDF (PAdES) with the publisher's certificate")
    pki_dir: str = Field(default="var/pki", description="Where the PDF seal's certificate and key are")
    pdf_seal_id: str = Field(default="HOCBA-PUBLISHER", description="The seal's id in pki_dir/signers")
    pdf_seal_name: str = Field(default="Hệ thống học bạ số Hocba", description="The seal certificate's name")
    seal_issue_on_demand: bool = Field(default=False, description="Development: issue the seal certificate if missing")
    lookup_public_url: str = Field(default="http://127.0.0.1:8105", description="Printed on the PDF: where to verify")
    document_id_secret: SecretStr = Field(
        default=SecretStr(DEV_SECRET), description="HMAC key that derives document ids from record ids, so that "
        "nobody can compute one; keep it stable (a new key changes the ids of records published from then on)")
