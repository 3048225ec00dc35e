"""Cinder attachments API: how a host other than Nova (Lifeboat's replicator) reaches a
volume's data the way Nova does: a connector in, os-brick-style connection info out.

Real Cinder answers the attachments API with a flat connection_info (the driver's data with
`driver_volume_type` beside it), cloudsim with the nested os-brick shape; `convert.attachment`
gives callers the nested shape either way, as Nova's own Cinder client does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lifeboat_shared.cloud import convert, models
from lifeboat_shared.cloud.cinder_base import CinderBase
from lifeboat_shared.cloud.retry import RATE_LIMIT_ONLY


class AttachmentsAPI(CinderBase):
    """Attachments of one (site, project); mixed into BlockStorageAPI."""

    async def create_attachment(
        self,
        volume_id: str,
        connector: Mapping[str, Any],
        *,
        instance_id: str | None = None,
        mode: str = "rw",
    ) -> models.Attachment:
        """attachment_create with a connector: returns the connection info to reach the data
        (`Attachment.device_path` for `local` connections). Call `complete_attachment` once
        connected, `delete_attachment` when done.

        Not find-or-create: an attachment is cheap, carries no tags, and the replicator deletes
        what it made; retried only on 429.
        """
        attrs: dict[str, Any] = {"connector": dict(connector), "mode": mode}
        if instance_id is not None:
            attrs["instance"] = instance_id
        return await self._ctx.retry.call(
            lambda: self._ctx.executor.run(
                f"attach volume {volume_id} (attachments API)",
                lambda: convert.attachment(self._cinder.create_attachment(volume_id, **attrs)),
            ),
            retry_on=RATE_LIMIT_ONLY,
        )

    async def get_attachment(self, attachment_id: str) -> models.Attachment:
        return await self._ctx.call(
            f"get attachment {attachment_id}",
            lambda: convert.attachment(self._cinder.get_attachment(attachment_id)),
        )

    async def list_attachments(self, volume_id: str | None = None) -> tuple[models.Attachment, ...]:
        def job() -> tuple[models.Attachment, ...]:
            query = {"volume_id": volume_id} if volume_id else {}
            return tuple(convert.attachment(a) for a in self._cinder.attachments(**query))

        return await self._ctx.call("list attachments", job)

    async def complete_attachment(self, attachment_id: str) -> None:
        await self._ctx.call(
            f"complete attachment {attachment_id}",
            lambda: self._cinder.complete_attachment(attachment_id),
        )

    async def delete_attachment(self, attachment_id: str) -> None:
        """Delete an attachment; one already gone counts as deleted."""
        await self._ctx.call(
            f"delete attachment {attachment_id}",
            lambda: self._cinder.delete_attachment(attachment_id, ignore_missing=True),
        )
