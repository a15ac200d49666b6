"""Settings every service reads from its environment (prefix `HOCBA_<SERVICE>_`).

`environment` is `production` unless a deployment says otherwise: production settings refuse to
start without an OIDC issuer, with placeholder secrets, or with Kafka that does not authenticate
its clients; development (the local stack and the tests) allows all three. Secrets are `SecretStr`:
they print as `**********` in `repr`, logs and error messages.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "dev-only-change-me",
        "change-me",
        "changeme",
        "secret",
        "password",
        "admin",
        "test",
        "hocba",
    }
)
"""Values that are never a production secret, whatever their length."""
MIN_SECRET_LENGTH = 16


class ServiceSettings(BaseSettings):
    # A refused setting's error must not quote the values given (a password among them).
    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)
    serves_api: ClassVar[bool] = True

    service_name: str = "hocba"
    environment: Literal["production", "development"] = Field(
        default="production",
        description="development relaxes the production checks (local stack, tests)",
    )
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = Field(
        default=None, description="CA bundle that signed the brokers' certificates"
    )
    mongo_uri: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongo_database: str = "hocba"
    http_host: str = "127.0.0.1"
    http_port: int = 8100
    public_url: str | None = Field(default=None, description="URL users reach this service at")
    log_level: str = "INFO"
    otel_exporter: Literal["none", "console", "otlp", "jsonl"] = "none"
    otel_endpoint: str | None = None
    otel_spans_file: str | None = None
    consumer_session_timeout_ms: int = 10_000
    consumer_heartbeat_interval_ms: int = 2_000
    retry_attempts: int = Field(default=3, ge=1)
    retry_backoff_seconds: float = 0.2
    batch_max_records: int = Field(
        default=500, ge=1, description="Records a batch subscriber takes at once"
    )
    batch_timeout_ms: int = Field(
        default=100, ge=1, description="How long a batch subscriber waits to fill a batch"
    )
    relay_poll_seconds: float = 0.2
    relay_batch_size: int = 500
    inbox_retention_days: float = Field(
        default=14,
        ge=1,
        description="How long a consumer remembers the ids of the events it processed (a TTL index "
        "on processed_events), to recognise a redelivery. Kafka delivers again only what a topic still holds: a "
        "consumer that restarts from its last committed offset, or a group reset to the earliest offset, reads "
        "events at most the topic's retention old (retention.ms, 7 days by default), so this must be longer than "
        "the longest retention of the topics the service consumes; 14 days is twice the default. Shorter saves "
        "little (a small document an event); a forgotten id lets a replayed event apply twice.",
    )
    audit_chain_seconds: float = Field(
        default=0.2,
        gt=0,
        le=10,
        description="How long new audit entries are gathered "
        "before they are chained and written together",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="The OIDC issuer whose access tokens the API accepts "
        "(its `iss`), e.g. https://sso.example.vn/realms/hocba",
    )
    oidc_audience: str = Field(
        default="hocba", description="The `aud` every accepted token must name"
    )
    oidc_jwks_url: str | None = Field(
        default=None, description="The issuer's keys; default: from its discovery document"
    )
    oidc_algorithms: list[str] = Field(
        default=["RS256"], min_length=1, description="Signature algorithms accepted"
    )
    oidc_leeway_seconds: float = Field(
        default=30, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat"
    )
    school_systems: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Each school system's client id (its Kafka `source` too) and the school ids "
        'it may write, as JSON; a trailing * matches a prefix, e.g. {"vnedu-079": ["079-*"]}',
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted"
    )
    docs_enabled: bool | None = Field(
        default=None, description="Serve /docs and /openapi.json; default: in development only"
    )

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def serve_docs(self) -> bool:
        return self.docs_enabled if self.docs_enabled is not None else not self.production

    def kafka_client_options(self) -> dict[str, Any]:
        """aiokafka's connection options for this broker (security protocol, SASL, TLS)."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.startswith("SASL"):
            options |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": self.kafka_sasl_password.get_secret_value()
                if self.kafka_sasl_password
                else None,
            }
        if self.kafka_security_protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(cafile=self.kafka_ssl_cafile)
        return options

    def production_problems(self) -> list[str]:
        """What stops these settings from running in production; a service adds its own checks."""
        problems = []
        if self.serves_api and not self.oidc_issuer:
            problems.append(
                f"set HOCBA_{self.service_name.upper()}_OIDC_ISSUER: every API call needs a token from it"
            )
        if self.kafka_security_protocol == "PLAINTEXT":
            problems.append(
                f"set HOCBA_{self.service_name.upper()}_KAFKA_SECURITY_PROTOCOL to SASL_SSL (or SSL): "
                "production Kafka authenticates every client"
            )
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password
        ):
            problems.append(
                "SASL needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr) and _placeholder(value):
                problems.append(
                    f"HOCBA_{self.service_name.upper()}_{name.upper()} is a placeholder or shorter than "
                    f"{MIN_SECRET_LENGTH} characters: set a long random value ({field.description or name})"
                )
        return problems

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> ServiceSettings:
        if self.production:
            problems = self.production_problems()
            if problems:
                raise ValueError(
                    "refusing to start in production: "
                    + "; ".join(problems)
                    + " (HOCBA_<SERVICE>_ENVIRONMENT=development relaxes these checks on a developer's "
                    "machine)"
                )
        return self


def _placeholder(secret: SecretStr) -> bool:
    value = secret.get_secret_value()
    return value.lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH
