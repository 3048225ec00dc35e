"""Settings: per-service prefix with common fallback; no working secrets outside embedded mode."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from lifeboat_shared.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_DEMO_", extra="ignore")


def test_service_prefix_wins_over_common(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFEBOAT_HTTP_PORT", "9000")
    monkeypatch.setenv("LIFEBOAT_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("LIFEBOAT_DEMO_HTTP_PORT", "9100")
    s = DemoSettings()
    assert (s.http_port, s.topic_partitions) == (9100, 12)


def test_dev_token_refused_outside_embedded_mode() -> None:
    with pytest.raises(ValidationError, match="api_token"):
        DemoSettings(mode="production")
    assert DemoSettings(mode="production", api_token="s3cret").mode == "production"


def test_kafka_needs_a_bootstrap() -> None:
    with pytest.raises(ValidationError, match="kafka_bootstrap"):
        DemoSettings(bus="kafka")


def test_embedded_defaults_are_sqlite_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = DemoSettings(data_dir=tmp_path)
    assert s.service_database_url("policy").endswith(f"{tmp_path}/policy.db")
    assert s.embedded_bus_url().endswith(f"{tmp_path}/bus.db")
    assert s.migrate_on_start
