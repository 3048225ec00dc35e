"""What the Cinder parts of the driver share: the project context and the Cinder proxy."""

from __future__ import annotations

from typing import Any

from lifeboat_shared.cloud.context import ProjectContext


class CinderBase:
    def __init__(self, ctx: ProjectContext) -> None:
        self._ctx = ctx

    @property
    def _cinder(self) -> Any:
        return self._ctx.conn.block_storage
