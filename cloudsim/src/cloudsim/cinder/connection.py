"""Connection info for cloudsim's `local` volume driver (the volume's file as device_path), in
the two shapes real Cinder uses: the legacy os-initialize_connection action answers the driver's
{"driver_volume_type", "data": {...}}, while the attachments API (3.27+) answers flat because the
volume manager pops `data` and puts `driver_volume_type` and `attachment_id` beside its fields.
Keeping both exact matters: Lifeboat's driver (like Nova) must normalise them."""

from __future__ import annotations

from cloudsim.state import Res, SiteState


def driver_info(state: SiteState, vol: Res, mode: str = "rw") -> Res:
    """What the volume driver's initialize_connection returns (nested `data`)."""
    return {
        "driver_volume_type": "local",
        "data": {
            "device_path": str(state.blockstore.volume_path(vol["id"])),
            "volume_id": vol["id"],
            "access_mode": mode,
            "encrypted": False,
            "qos_specs": None,
            "cacheable": False,
        },
    }


def attachment_info(state: SiteState, vol: Res, attachment_id: str, mode: str) -> Res:
    """The attachments API's flat shape."""
    info = driver_info(state, vol, mode)
    flat: Res = dict(info.pop("data"))
    flat.update(info)
    flat["attachment_id"] = attachment_id
    return flat
