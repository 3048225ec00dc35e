"""The event bus: one interface, a Kafka backend and an embedded (SQL log) backend."""

from lifeboat_shared.bus.consumer import ConsumerLoop
from lifeboat_shared.bus.embedded import EmbeddedBus
from lifeboat_shared.bus.handlers import Handler, HandlerContext, Handlers
from lifeboat_shared.bus.interface import BusConsumer, EventBus
from lifeboat_shared.bus.kafka import KafkaBus
from lifeboat_shared.bus.records import ConsumedRecord, Record

__all__ = [
    "BusConsumer",
    "ConsumedRecord",
    "ConsumerLoop",
    "EmbeddedBus",
    "EventBus",
    "Handler",
    "HandlerContext",
    "Handlers",
    "KafkaBus",
    "Record",
]
