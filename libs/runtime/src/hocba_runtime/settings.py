"""Settings every service reads from its environment (prefix `HOCBA_<SERVICE>_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = "hocba"
    kafka_bootstrap: str = "127.0.0.1:9092"
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
    batch_max_records: int = Field(default=500, ge=1, description="Records a batch subscriber takes at once")
    batch_timeout_ms: int = Field(default=100, ge=1, description="How long a batch subscriber waits to fill a batch")
    relay_poll_seconds: float = 0.2
    relay_batch_size: int = 500

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"
