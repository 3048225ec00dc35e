"""Builds the bus the settings ask for."""

from __future__ import annotations

from lifeboat_shared.bus.embedded import EmbeddedBus
from lifeboat_shared.bus.interface import EventBus
from lifeboat_shared.bus.kafka import KafkaBus, KafkaSecurity
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.settings import LifeboatSettings


def make_bus(settings: LifeboatSettings, *, client_id: str = "lifeboat") -> EventBus:
    if settings.bus == "kafka":
        assert settings.kafka_bootstrap  # checked by the settings validator
        return KafkaBus(
            settings.kafka_bootstrap,
            partitions=settings.topic_partitions,
            client_id=client_id,
            security=kafka_security(settings),
        )
    return EmbeddedBus(
        Database(settings.embedded_bus_url(), schema="lifeboat_bus", pool=settings.db_pool()),
        partitions=settings.topic_partitions,
    )


def kafka_security(settings: LifeboatSettings) -> KafkaSecurity:
    """The settings' Kafka client security (also for tools that open their own clients)."""
    password = settings.kafka_sasl_password
    return KafkaSecurity(
        protocol=settings.kafka_security_protocol,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password else None,
        cafile=settings.kafka_ssl_cafile,
    )
