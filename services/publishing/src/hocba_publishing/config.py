from pydantic import Field
from pydantic_settings import SettingsConfigDict

from hocba_runtime.settings import ServiceSettings


class PublishingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOCBA_PUBLISHING_", extra="ignore")

    service_name: str = "publishing"
    mongo_database: str = "hocba_publishing"
    http_port: int = 8104
    trust_roots: list[str] = Field(default_factory=list, description="PEM files of trusted roots (JSON list)")
    crl_files: list[str] = Field(default_factory=list, description="CRL files, PEM or DER (JSON list)")
    lookup_public_url: str = Field(default="http://127.0.0.1:8105", description="Printed on the PDF: where to verify")
