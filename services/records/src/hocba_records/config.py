from hocba_runtime.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class RecordsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOCBA_RECORDS_", extra="ignore")

    service_name: str = "records"
    mongo_database: str = "hocba_records"
    http_port: int = 8101
