"""Lifeboat's marks on the cloud resources it creates, for idempotent find-or-create.

A workflow step that creates something (a DR server, a volume from a snapshot, a port) may run
twice: after a crash, a timeout, or a retried 503 whose first attempt did succeed. Each creation
therefore carries a tag (operation id, step, key); before creating, the driver looks for a resource
with the same tag and returns it instead. Nova and Cinder resources carry it as metadata; Neutron
resources and Cinder groups have no metadata, so it goes into the description (set atomically at
creation) and, for Neutron, into tags as well (searchable, but set by a second request).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, field_validator

META_OP = "lifeboat:op"
META_STEP = "lifeboat:step"
META_KEY = "lifeboat:key"

_ALLOWED = re.compile(r"^[A-Za-z0-9_.:@/+\-]{1,60}$")
_DESCRIPTION_MAX = 255  # Neutron and Cinder limit descriptions to 255 characters


class LifeboatTag(BaseModel):
    """Identity of one creation inside one Lifeboat operation."""

    model_config = ConfigDict(frozen=True)

    op: str
    step: str
    key: str

    @field_validator("op", "step", "key")
    @classmethod
    def _safe(cls, value: str) -> str:
        # Tags go into Neutron tag filters (comma-separated) and descriptions: keep them plain.
        if not _ALLOWED.match(value):
            raise ValueError(
                "must be 1-60 characters of letters, digits and _ . : @ / + - (no spaces, commas)"
            )
        return value

    def metadata(self) -> dict[str, str]:
        """As Nova/Cinder metadata (and Glance image properties)."""
        return {META_OP: self.op, META_STEP: self.step, META_KEY: self.key}

    def neutron_tags(self) -> list[str]:
        """As Neutron tags (searchable with the `tags` filter)."""
        return [f"{META_OP}={self.op}", f"{META_STEP}={self.step}", f"{META_KEY}={self.key}"]

    def key_tag(self) -> str:
        return f"{META_KEY}={self.key}"

    def description(self, text: str | None = None) -> str:
        """As a description (for resources without metadata); the caller's text comes first."""
        mark = f"[lifeboat op={self.op} step={self.step} key={self.key}]"
        if not text:
            return mark
        room = _DESCRIPTION_MAX - len(mark) - 1
        return f"{text[:room]} {mark}" if room > 0 else mark

    def matches_metadata(self, metadata: Mapping[str, object] | None) -> bool:
        if not metadata:
            return False
        return (
            metadata.get(META_KEY) == self.key
            and metadata.get(META_OP) == self.op
            and metadata.get(META_STEP) == self.step
        )

    def matches_marks(self, description: str | None, tags: Iterable[str] | None = None) -> bool:
        """True when a description or a tag list carries this tag."""
        if description and self.description() in description:
            return True
        present = set(tags or ())
        return all(t in present for t in self.neutron_tags())
