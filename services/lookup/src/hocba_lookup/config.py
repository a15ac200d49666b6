from hocba_runtime.settings import ServiceSettings
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

DEV_SECRET = "dev-only-change-me"


class LookupSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOCBA_LOOKUP_", extra="ignore")

    service_name: str = "lookup"
    mongo_database: str = "hocba_lookup"
    http_port: int = 8105
    trust_roots: list[str] = Field(default_factory=list, description="PEM files of trusted roots (JSON list)")
    crl_files: list[str] = Field(default_factory=list, description="CRL files, PEM or DER (JSON list)")
    crl_urls: list[str] = Field(default_factory=list, description="CRL distribution points to fetch (JSON list)")
    crl_refresh_seconds: float = Field(default=3600, description="How often CRLs are re-read and re-fetched")
    lookup_secret: str = Field(default=DEV_SECRET, description="HMAC key of the personal-ID index; set a long random value")
    publishing_public_url: str = Field(default="http://127.0.0.1:8104", description="Where the PDF links point")
    allow_dev_secret: bool = Field(default=True, description="Set false in production: refuse to start with the dev secret")

    @model_validator(mode="after")
    def _secret(self) -> "LookupSettings":
        if not self.allow_dev_secret and self.lookup_secret == DEV_SECRET:
            raise ValueError("set HOCBA_LOOKUP_LOOKUP_SECRET to a long random value")
        if len(self.lookup_secret) < 16:
            raise ValueError("HOCBA_LOOKUP_LOOKUP_SECRET must be at least 16 characters")
        return self
