"""Base types for messages: commands (imperative) and events (past tense), each typed and versioned.

A message's CloudEvents ``type`` is ``io.lifeboat.<ClassName>.v<schema_version>``; the registry maps
that string back to the class so a consumer can validate the payload it receives.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

TYPE_PREFIX = "io.lifeboat."

_REGISTRY: dict[str, type[Message]] = {}

M = TypeVar("M", bound="Message")


class Message(BaseModel):
    """A payload carried in a CloudEvent's ``data``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: ClassVar[str]
    schema_version: ClassVar[int] = 1
    kind: ClassVar[str] = "message"

    @classmethod
    def message_type(cls) -> str:
        return f"{TYPE_PREFIX}{cls.__name__}.v{cls.schema_version}"

    @abstractmethod
    def partition_key(self) -> str:
        """The Kafka key: a protection group id or a site id."""


class Command(Message):
    """Asks a service to do something (imperative name, e.g. ``StartFailover``)."""

    kind: ClassVar[str] = "command"


class Event(Message):
    """Says something happened (past-tense name, e.g. ``ConsistencyPointCreated``)."""

    kind: ClassVar[str] = "event"


def register(cls: type[M]) -> type[M]:
    """Class decorator: make a message type resolvable from its CloudEvents type string."""
    name = cls.message_type()
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"message type {name} registered twice")
    _REGISTRY[name] = cls
    return cls


def resolve_type(type_name: str) -> type[Message] | None:
    return _REGISTRY.get(type_name)


def message_types() -> dict[str, type[Message]]:
    return dict(_REGISTRY)
