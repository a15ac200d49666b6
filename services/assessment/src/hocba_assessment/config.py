from hocba_runtime.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class AssessmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOCBA_ASSESSMENT_", extra="ignore")

    service_name: str = "assessment"
    mongo_database: str = "hocba_assessment"
    http_port: int = 8102
