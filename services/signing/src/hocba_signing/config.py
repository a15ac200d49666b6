from hocba_runtime.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class SigningSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOCBA_SIGNING_", extra="ignore")

    service_name: str = "signing"
    mongo_database: str = "hocba_signing"
    http_port: int = 8103
    trust_roots: list[str] = Field(default_factory=list, description="PEM files of trusted roots (JSON list)")
    crl_files: list[str] = Field(default_factory=list, description="CRL files, PEM or DER (JSON list)")
    crl_urls: list[str] = Field(default_factory=list, description="CRL distribution points to fetch (JSON list)")
    crl_refresh_seconds: float = Field(default=3600, description="How often CRLs are re-read and re-fetched")
    server_side_signing: bool = Field(default=False, description="Sign inside Hocba with keys from pki_dir")
    pki_dir: str = Field(default="var/pki", description="Development PKI directory (python -m hocba_signing.devpki)")
    dev_issue_on_demand: bool = Field(default=False, description="Issue development certificates for unknown signers")
    school_seal: bool = Field(default=False, description="The school's seal signs last, with its key in a PKCS#11 token")
    pkcs11_library: str = Field(default="/usr/lib/softhsm/libsofthsm2.so", description="PKCS#11 module of the HSM")
    pkcs11_token_label: str = Field(default="hocba", description="Label of the token holding the seals")
    pkcs11_pin: str = Field(default="", description="User PIN of the token (a secret)")
    seal_issue_on_demand: bool = Field(default=False, description="Development: generate and certify missing seals")
    signing_deadline_days: float = Field(default=14, description="Days from a record's close to its signing deadline")
    reminder_within_hours: float = Field(default=48, description="Remind a waiting signer this long before the deadline")
    reminder_poll_seconds: float = Field(default=600, description="How often to look for deadlines near")
    external_signers: list[str] = Field(default_factory=list, description="Staff ids (or prefixes ending in *) who always "
                                        "sign with their own apps, never server-side")
