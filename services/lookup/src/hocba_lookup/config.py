from hocba_runtime.settings import MIN_SECRET_LENGTH, ServiceSettings
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from hocba_lookup.adapters.entry_cache import MAX_ENTRIES as ENTRY_CACHE_SIZE
from hocba_lookup.domain.access import CLIENT_LIMIT, STUDENT_LIMIT

DEV_SECRET = "dev-only-change-me"
"""Development only: production refuses it (a placeholder)."""


class LookupSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="HOCBA_LOOKUP_", extra="ignore", hide_input_in_errors=True
    )
    """Errors never print the input: it holds the secrets."""

    service_name: str = "lookup"
    mongo_database: str = "hocba_lookup"
    http_port: int = 8105
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
    lookup_secret: SecretStr = Field(
        default=SecretStr(DEV_SECRET),
        description="HMAC key of the personal-ID index, of the access codes' index and of the "
        "sign-in failure counts, from which the form's CSRF key is derived; a long random value, "
        "kept stable (a new one empties the index and voids every access code)",
    )
    publishing_url: str = Field(
        default="http://127.0.0.1:8104",
        description="Publishing's API, where the lookup fetches the PDFs with its own token",
    )
    log_key: str | None = Field(
        default=None,
        description="The transparency log's verifier key (c2sp.org/signed-note, "
        "<origin>+<id>+<base64>), or a file holding it (the devstack's var/log-key.pub): the "
        "verification checks each document's log entry and inclusion proof under it",
    )
    log_origin: str | None = Field(
        default=None,
        description="The log's origin, the first line of its checkpoints (default: the key's name)",
    )
    oidc_client_id: str = Field(
        default="hocba-lookup", description="The lookup's OIDC client (role service)"
    )
    oidc_token_url: str | None = Field(
        default=None,
        description="The issuer's token endpoint as the lookup reaches "
        "it; default: from the issuer's discovery document",
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None,
        description="The lookup's OIDC client secret (client credentials for publishing)",
    )

    sign_in_attempts_per_client: int = Field(
        default=CLIENT_LIMIT.attempts,
        ge=1,
        description=f"Parents' sign-in attempts a client address may make per "
        f"{CLIENT_LIMIT.window_seconds // 60} minutes (all replicas together)",
    )
    sign_in_attempts_per_student: int = Field(
        default=STUDENT_LIMIT.attempts,
        ge=1,
        description=f"Sign-in attempts for one personal ID number per "
        f"{STUDENT_LIMIT.window_seconds // 60} minutes, whatever the outcome",
    )

    entry_cache_size: int = Field(
        default=ENTRY_CACHE_SIZE,  # about 300 MB at most
        ge=0,
        description="Published entries each replica keeps in memory while the read model's change "
        "stream tells it of every change (about 15 KB each); 0 reads every entry from the database",
    )

    trusted_proxies: str = Field(
        default="127.0.0.1",
        description="The reverse proxies' addresses, comma-separated: the client address is taken "
        "from their X-Forwarded-For (and nobody else's), so that the sign-in's rate limit counts "
        "per parent's address (uvicorn's forwarded_allow_ips)",
    )

    @field_validator("lookup_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"HOCBA_LOOKUP_LOOKUP_SECRET must be at least {MIN_SECRET_LENGTH} characters"
            )
        return value

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.oidc_client_secret is None:
            problems.append(
                "set HOCBA_LOOKUP_OIDC_CLIENT_SECRET: the lookup fetches parents' PDFs from publishing "
                "with its own token"
            )
        if self.log_key is None:
            problems.append(
                "set HOCBA_LOOKUP_LOG_KEY: the verification page proves each record's entry in "
                "the transparency log under the log's public key"
            )
        return problems
