"""CloudEvents 1.0 envelopes in Kafka's binary content mode (``ce_*`` headers, data in the value).

Uses the ``cloudevents`` package's Kafka binding for the header mapping; adds what it leaves to us:
typed payloads, a size limit, and a clear reason when a record cannot be decoded (the reason goes
to the dead-letter topic with the record).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import ValidationError

from lifeboat_shared.bus.records import ConsumedRecord, Record
from lifeboat_shared.contracts.base import Message, resolve_type

_FORMAT = JSONFormat()
CONTENT_TYPE = "application/json"
TRACEPARENT = "traceparent"
DEFAULT_MAX_RECORD_BYTES = 256 * 1024


class MalformedMessage(Exception):
    """A record that can never be handled; ``reason`` (sent to the dead-letter topic) says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    message: Message
    traceparent: str | None = None

    @property
    def key(self) -> str:
        return self.message.partition_key()

    @property
    def topic(self) -> str:
        return self.message.topic


def new_envelope(
    message: Message,
    *,
    source: str,
    event_id: str | None = None,
    subject: str | None = None,
    traceparent: str | None = None,
) -> Envelope:
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=message.message_type(),
        subject=subject or message.partition_key(),
        time=datetime.now(UTC),
        message=message,
        traceparent=traceparent,
    )


def encode_envelope(envelope: Envelope) -> Record:
    attributes: dict[str, Any] = {
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "subject": envelope.subject,
        "time": envelope.time,
        "specversion": "1.0",
        "datacontenttype": CONTENT_TYPE,
    }
    if envelope.traceparent:
        attributes[TRACEPARENT] = envelope.traceparent
    event = CloudEvent(attributes, envelope.message.model_dump_json().encode())
    kafka_message = to_binary(event, _FORMAT, key_mapper=lambda _e: envelope.key)
    key = kafka_message.key
    return Record(
        topic=envelope.topic,
        key=key.encode() if isinstance(key, str) else key,
        value=kafka_message.value,
        headers=tuple(kafka_message.headers.items()),
    )


def decode_record(
    record: ConsumedRecord | Record, *, max_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Envelope:
    """Turn a raw record back into a typed envelope, or raise MalformedMessage with the reason."""
    if len(record.value) > max_bytes:
        raise MalformedMessage(f"oversized: {len(record.value)} bytes > limit {max_bytes}")
    headers = dict(record.headers)
    for required in ("ce_id", "ce_type", "ce_source", "ce_specversion"):
        if required not in headers:
            raise MalformedMessage(f"missing header {required}")
    try:
        event = from_binary(
            KafkaMessage(headers=headers, key=record.key, value=record.value), _FORMAT
        )
    except Exception as exc:  # the SDK raises several types for bad attributes
        raise MalformedMessage(f"invalid CloudEvents attributes: {exc}") from exc
    type_name = str(event.get_type())
    message_type = resolve_type(type_name)
    if message_type is None:
        raise MalformedMessage(f"unknown type {type_name!r}")
    data = event.get_data()
    try:
        if isinstance(data, dict):
            message = message_type.model_validate(data)
        elif data is None:
            raise MalformedMessage("bad JSON: empty data")
        else:
            message = message_type.model_validate_json(data)
    except ValidationError as exc:
        raise MalformedMessage(f"bad JSON for {type_name}: {_short(exc)}") from exc
    time = event.get_time()
    traceparent = event.get_extension(TRACEPARENT)
    return Envelope(
        id=str(event.get_id()),
        source=str(event.get_source()),
        type=type_name,
        subject=str(event.get_subject() or message.partition_key()),
        time=time if isinstance(time, datetime) else datetime.now(UTC),
        message=message,
        traceparent=str(traceparent) if traceparent else None,
    )


def _short(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "data"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
