"""The only language Lifeboat's services share: CloudEvents carrying typed, versioned messages."""

from lifeboat_shared.contracts.base import Command, Event, Message, message_types, resolve_type
from lifeboat_shared.contracts.envelope import (
    Envelope,
    MalformedMessage,
    decode_record,
    encode_envelope,
    new_envelope,
)

__all__ = [
    "Command",
    "Envelope",
    "Event",
    "MalformedMessage",
    "Message",
    "decode_record",
    "encode_envelope",
    "message_types",
    "new_envelope",
    "resolve_type",
]

# Registers every message type so decode_record can resolve it.
from lifeboat_shared.contracts import messages as messages
