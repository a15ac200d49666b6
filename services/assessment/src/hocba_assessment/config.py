from hocba_runtime.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class AssessmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOCBA_ASSESSMENT_", extra="ignore")

    service_name: str = "assessment"
    mongo_database: str = "hocba_assessment"
    http_port: int = 8102
    unknown_class_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        le=240,
        description="How long the ingest consumer waits for records' events to make a batch's unknown classes "
        "known (a school system may send a class's assessments with, or just after, its registration) before it "
        "dead-letters their events; well below the consumer's max poll interval",
    )
