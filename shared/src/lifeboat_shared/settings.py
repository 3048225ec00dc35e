"""Settings: a shared base and one class per service with its own env prefix.

A service's class reads ``LIFEBOAT_<SERVICE>_<FIELD>`` first and falls back to the common
``LIFEBOAT_<FIELD>``, so one ``LIFEBOAT_KAFKA_BOOTSTRAP`` serves all five services while each can
still be told apart (e.g. ``LIFEBOAT_POLICY_HTTP_PORT``). Nothing else in Lifeboat reads
``os.environ``. Secrets have working defaults only in the embedded mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from lifeboat_shared.persistence.database import PoolConfig
from lifeboat_shared.secret_checks import DEV_TOKEN, placeholder_problems, secret_values

__all__ = ["DEV_TOKEN", "LifeboatSettings", "ServiceSettings"]


class LifeboatSettings(BaseSettings):
    # hide_input_in_errors: a settings error never echoes the inputs (secrets among them)
    model_config = SettingsConfigDict(
        env_prefix="LIFEBOAT_", extra="ignore", validate_default=True, hide_input_in_errors=True
    )

    mode: Literal["embedded", "production"] = "embedded"
    data_dir: Path = Path(".lifeboat")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; PostgreSQL gives each service its own schema. "
        "Default: SQLite files under data_dir.",
    )
    bus: Literal["embedded", "kafka"] = "embedded"
    kafka_bootstrap: str | None = None
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="How clients talk to the brokers; SASL_SSL = SCRAM/PLAIN login over TLS",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = Field(default=None, max_length=256)
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL); "
        "default: the system's trust store",
    )
    bus_database_url: str | None = Field(
        default=None, description="Where the embedded bus keeps its log; default data_dir/bus.db"
    )
    topic_partitions: int = Field(default=6, ge=1, le=1000)
    api_token: SecretStr = SecretStr(DEV_TOKEN)
    # --- identities and roles (see shared/README.md, Security) ---
    auth: Literal["static", "keystone"] = Field(
        default="static",
        description="Who validates bearer tokens: 'static' (tokens_file, else api_token as the "
        "admin operator) or 'keystone' (the deployment's Keystone, keystone_* settings)",
    )
    tokens_file: Path | None = Field(
        default=None,
        description="static auth: a JSON or YAML file mapping SHA-256 digests of tokens to "
        "principals (user, project_id, roles, expires_at); without it api_token is the one "
        "admin operator token",
    )
    policy_file: Path | None = Field(
        default=None,
        description="oslo.policy rule overrides (JSON or YAML, rule name -> check string); "
        "rules not named keep their defaults",
    )
    keystone_auth_url: str | None = Field(
        default=None, description="keystone auth: the identity endpoint, e.g. https://k:5000/v3"
    )
    keystone_username: str | None = Field(default=None, description="the service's own user")
    keystone_password: SecretStr | None = None
    keystone_project_name: str = "service"
    keystone_user_domain_name: str = "Default"
    keystone_project_domain_name: str = "Default"
    keystone_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        le=3600,
        description="A validated token is trusted this long at most (and never past its expiry)",
    )
    keystone_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="One call to Keystone; then the API answers 503"
    )
    auto_migrate: bool | None = Field(
        default=None, description="Apply migrations at start-up; default: only in embedded mode"
    )
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    handler_max_attempts: int = Field(default=4, ge=1, le=100)
    max_record_bytes: int = Field(default=256 * 1024, ge=1024)
    db_pool_size: int = Field(
        default=5, ge=1, le=1000, description="PostgreSQL connections kept open (per engine)"
    )
    db_max_overflow: int = Field(
        default=10, ge=0, le=1000, description="Extra PostgreSQL connections opened under load"
    )
    db_pool_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A checkout waits this long for a free connection"
    )
    db_pool_recycle_seconds: float = Field(
        default=1800.0, gt=0, description="Connections older than this are replaced"
    )
    sqlite_busy_timeout_seconds: float = Field(
        default=5.0, gt=0, description="One BEGIN's wait for another process's SQLite write"
    )
    sqlite_write_wait_seconds: float = Field(
        default=300.0, gt=0, description="A SQLite writer's whole wait for its turn"
    )
    chaos_publish_twice: bool = Field(
        default=False,
        description="Resilience testing only: the outbox relay publishes every event twice "
        "(same record, same event id), so every consumer receives each event twice",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="A request body over this is refused with 413 before it is parsed",
    )
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Request line plus headers; over it: 400"
    )
    max_header_count: int = Field(default=64, ge=8, description="Headers per request; over: 431")
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A connection must send a request's headers within this"
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A request body must arrive within this; else 408"
    )
    keep_alive_timeout_seconds: float = Field(
        default=5.0, gt=0, description="An idle keep-alive connection is closed after this"
    )
    shutdown_grace_seconds: float = Field(
        default=20.0,
        gt=0,
        le=600,
        description="On shutdown, requests still running after this are cancelled (the "
        "server never waits for ever on a client)",
    )
    max_connections: int = Field(
        default=256, ge=1, description="Open connections (and requests) per service; over: 503"
    )
    rate_limit_per_second: float = Field(
        default=100.0, gt=0, description="Requests per second per principal on /v1 (token bucket)"
    )
    rate_limit_burst: int = Field(default=400, ge=1, description="Bucket size per principal")
    unauthenticated_rate_per_second: float = Field(
        default=20.0,
        gt=0,
        description="Rejected-token (401) requests per second per client address",
    )
    unauthenticated_burst: int = Field(default=200, ge=1, description="Bucket per address")
    otlp_endpoint: str | None = None
    log_level: str = "INFO"
    json_logs: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        common = EnvSettingsSource(settings_cls, env_prefix="LIFEBOAT_")
        return init_settings, env_settings, common, dotenv_settings, file_secret_settings

    @model_validator(mode="after")
    def _check(self) -> LifeboatSettings:
        if self.mode != "embedded" and self.api_token.get_secret_value() == DEV_TOKEN:
            raise ValueError(
                "api_token: the development token is refused outside the embedded mode; "
                "set LIFEBOAT_API_TOKEN"
            )
        if self.auth == "keystone" and not (
            self.keystone_auth_url and self.keystone_username and self.keystone_password
        ):
            raise ValueError(
                "keystone_auth_url, keystone_username, keystone_password: required when "
                "auth=keystone (LIFEBOAT_KEYSTONE_AUTH_URL, ...)"
            )
        if self.bus == "kafka" and not self.kafka_bootstrap:
            raise ValueError("kafka_bootstrap: required when bus=kafka (LIFEBOAT_KAFKA_BOOTSTRAP)")
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                "kafka_sasl_username, kafka_sasl_password: required with "
                f"kafka_security_protocol={self.kafka_security_protocol} "
                "(LIFEBOAT_KAFKA_SASL_USERNAME, LIFEBOAT_KAFKA_SASL_PASSWORD)"
            )
        if self.kafka_ssl_cafile is not None and not self.kafka_ssl_cafile.is_file():
            raise ValueError("kafka_ssl_cafile: no such file (LIFEBOAT_KAFKA_SSL_CAFILE)")
        if self.mode == "production":
            problems = placeholder_problems(
                api_token=self.api_token,
                database_urls=[
                    ("database_url", self.database_url),
                    ("bus_database_url", self.bus_database_url),
                ],
                kafka_password=self.kafka_sasl_password,
            )
            if problems:
                raise ValueError("; ".join(problems))
        return self

    def secret_values(self) -> list[str]:
        """Every secret these settings hold (for redaction); subclasses add their own."""
        from lifeboat_shared.secret_checks import url_password

        return secret_values(
            self.api_token,
            self.kafka_sasl_password,
            url_password(self.database_url),
            url_password(self.bus_database_url),
        )

    def service_database_url(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"

    def embedded_bus_url(self) -> str:
        if self.bus_database_url:
            return self.bus_database_url
        if self.database_url and not self.database_url.startswith("sqlite"):
            return self.database_url  # its own schema on the same PostgreSQL
        return f"sqlite+aiosqlite:///{(self.data_dir / 'bus.db').resolve()}"

    def db_pool(self) -> PoolConfig:
        return PoolConfig(
            size=self.db_pool_size,
            max_overflow=self.db_max_overflow,
            timeout_seconds=self.db_pool_timeout_seconds,
            recycle_seconds=self.db_pool_recycle_seconds,
            sqlite_busy_timeout_seconds=self.sqlite_busy_timeout_seconds,
            sqlite_write_wait_seconds=self.sqlite_write_wait_seconds,
        )

    @property
    def migrate_on_start(self) -> bool:
        return self.auto_migrate if self.auto_migrate is not None else self.mode == "embedded"


class ServiceSettings(LifeboatSettings):
    """Base of each service's settings; subclasses set ``env_prefix`` and default port."""

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8700, ge=0, le=65535)
