"""Designate (DNS): zones and recordsets, so a failover can re-point A records at the DR site.

Names are fully qualified and end with a dot. The driver normalises what it is given (lower case,
trailing dot added) and refuses malformed names, record values and TTLs with `InvalidInput`
before calling the cloud, so an operator sees which field is wrong instead of a Designate 400.

Both writes are idempotent by their natural key, which makes them safe to retry on 429/503 and
safe for a workflow step that runs twice:
- a zone name exists once in a Designate deployment, so `create_zone` looks the name up first
  and returns the zone it finds (the Lifeboat tag only goes into the description, for operators);
- a recordset is identified by (zone, name, type), so `upsert_recordset` creates it when absent,
  updates its records (and TTL) when they differ, and sends nothing when they already match.

Designate applies changes asynchronously (status PENDING, then ACTIVE once its DNS backends
have them); `wait=True` polls until ACTIVE.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Sequence
from typing import Any

from lifeboat_shared.cloud import convert, models, rawlist
from lifeboat_shared.cloud.context import ProjectContext
from lifeboat_shared.cloud.errors import Conflict, InvalidInput, NotFound
from lifeboat_shared.cloud.tags import LifeboatTag

# A label: letters, digits, hyphens (not first or last) and, as Designate allows, underscores
# (_srv._tcp. names); checked after lower-casing.
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NAME_MAX = 255
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TTL_MAX = 2_147_483_647
_DESCRIPTION_MAX = 160  # Designate's limit for zone and recordset descriptions
# Record types a caller may upsert (SOA and the apex NS are managed by Designate itself).
RECORD_TYPES = frozenset({"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS", "PTR", "CAA", "SPF"})
_NAME_VALUED = frozenset({"CNAME", "NS", "PTR"})  # records that are themselves FQDNs
_READY = ("ACTIVE",)
_FAILED = ("ERROR",)


def normalise_name(value: object, *, field: str = "name", wildcard: bool = False) -> str:
    """The FQDN `value` in canonical form ("www.Example.com" -> "www.example.com.").

    `wildcard` allows "*" as the first label (recordset names). Raises InvalidInput naming
    `field` for anything that is not a valid ASCII DNS name.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be a DNS name string, got {type(value).__name__}")
    name = value.strip().lower()
    if not name.endswith("."):
        name += "."
    if name == "." or ".." in name:
        raise InvalidInput(f"{field}: {value!r} is not a valid DNS name (empty label)")
    if len(name) > _NAME_MAX:
        raise InvalidInput(f"{field}: {value!r} is longer than {_NAME_MAX} characters")
    for i, label in enumerate(name[:-1].split(".")):
        if wildcard and i == 0 and label == "*":
            continue
        if not label.isascii() or not _LABEL.match(label):
            raise InvalidInput(
                f"{field}: {value!r} is not a valid DNS name (label {label!r}: 1-63 letters, "
                "digits, '-' or '_', not starting or ending with '-'; use punycode for IDNs)"
            )
    return name


def _in_zone(name: str, zone_name: str) -> bool:
    return name == zone_name or name.endswith("." + zone_name)


def normalise_records(rtype: str, records: object) -> tuple[str, ...]:
    """Validated records in canonical form (IPs compressed, names lower-case with a dot)."""
    if isinstance(records, str | bytes) or not isinstance(records, Sequence) or not records:
        raise InvalidInput("records: a non-empty list of strings is required")
    out: list[str] = []
    for rec in records:
        if not isinstance(rec, str) or not rec.strip():
            raise InvalidInput(f"records: {rec!r} is not a non-empty string")
        if rtype in ("A", "AAAA"):
            try:
                ip = ipaddress.ip_address(rec.strip())
            except ValueError:
                raise InvalidInput(f"records: {rec!r} is not an IP address") from None
            if (ip.version == 4) != (rtype == "A"):
                raise InvalidInput(f"records: {rec!r} is not an IPv{4 if rtype == 'A' else 6}")
            out.append(ip.compressed)
        elif rtype in _NAME_VALUED:
            out.append(normalise_name(rec, field="records"))
        else:
            out.append(rec.strip())
    if rtype == "CNAME" and len(out) > 1:
        raise InvalidInput("records: a CNAME recordset holds exactly one name")
    if len(set(out)) != len(out):
        raise InvalidInput("records: duplicate values")
    return tuple(out)


def _canonical(rtype: str, records: Sequence[str]) -> tuple[str, ...]:
    """What the cloud holds, in the same form as normalise_records (lenient: no errors)."""
    out: list[str] = []
    for rec in records:
        text = str(rec).strip()
        if rtype in ("A", "AAAA"):
            with contextlib.suppress(ValueError):  # keep what the cloud holds as it is
                text = ipaddress.ip_address(text).compressed
        elif rtype in _NAME_VALUED:
            text = text.lower() if text.endswith(".") else text.lower() + "."
        out.append(text)
    return tuple(sorted(out))


def _check_ttl(ttl: object) -> int | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= _TTL_MAX:
        raise InvalidInput(f"ttl: must be an integer from 1 to {_TTL_MAX} seconds, got {ttl!r}")
    return ttl


def _description(text: str | None, tag: LifeboatTag | None) -> str | None:
    """The caller's text plus the tag's mark, within Designate's 160 characters (the mark is
    informative only, so it is dropped rather than the request refused when it does not fit)."""
    marks = (tag.description(text), tag.description()) if tag else ()
    fitting = [m for m in marks if len(m) <= _DESCRIPTION_MAX]
    return fitting[0] if fitting else (text[:_DESCRIPTION_MAX] if text else None)


def _s(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _int(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def zone_model(res: Any) -> models.Zone:
    d = convert.raw(res)
    return models.Zone(
        id=str(d["id"]),
        name=str(d.get("name") or ""),
        status=str(d.get("status") or ""),
        action=_s(d.get("action")),
        email=_s(d.get("email")),
        ttl=_int(d.get("ttl")),
        serial=_int(d.get("serial")),
        type=_s(d.get("type")),
        description=_s(d.get("description")),
        project_id=_s(d.get("project_id")),
    )


def recordset_model(res: Any, zone_id: str) -> models.RecordSet:
    d = convert.raw(res)
    # The SDK keeps zone_id as a URI attribute, not in the body.
    zid = getattr(res, "zone_id", None) or d.get("zone_id") or zone_id
    return models.RecordSet(
        id=str(d["id"]),
        zone_id=str(zid),
        name=str(d.get("name") or ""),
        type=str(d.get("type") or ""),
        records=tuple(str(r) for r in d.get("records") or ()),
        status=str(d.get("status") or ""),
        action=_s(d.get("action")),
        ttl=_int(d.get("ttl")),
        zone_name=_s(d.get("zone_name")),
        description=_s(d.get("description")),
        updated_at=_s(d.get("updated_at")),
    )


class DnsAPI:
    """Designate operations of one (site, project)."""

    def __init__(self, ctx: ProjectContext) -> None:
        self._ctx = ctx

    @property
    def _dns(self) -> Any:
        return self._ctx.conn.dns

    # --- zones -----------------------------------------------------------------------------

    async def list_zones(self, **filters: Any) -> tuple[models.Zone, ...]:
        """Zones of the project; filters (name, status, type, email) are applied exactly."""

        def job() -> tuple[models.Zone, ...]:
            return tuple(
                zone_model(z)
                for z in self._dns.zones(**filters)
                if rawlist.matches(convert.raw(z), filters)
            )

        return await self._ctx.call("list zones", job)

    def _find_zone(self, name: str) -> models.Zone | None:
        """Blocking: the zone called `name` (already normalised), or None."""
        for res in self._dns.zones(name=name):
            zone = zone_model(res)
            if zone.name.lower() == name:
                return zone
        return None

    async def find_zone(self, name: str) -> models.Zone | None:
        fqdn = normalise_name(name)
        return await self._ctx.call(f"find zone {fqdn}", self._find_zone, fqdn)

    async def get_zone(self, zone_id: str) -> models.Zone:
        return await self._ctx.call(
            f"get zone {zone_id}", lambda: zone_model(self._dns.get_zone(zone_id))
        )

    async def create_zone(
        self,
        name: str,
        email: str,
        *,
        ttl: int | None = None,
        description: str | None = None,
        tag: LifeboatTag | None = None,
        wait: bool = False,
    ) -> models.Zone:
        """The zone `name`, created if no zone of that name exists yet.

        Idempotent by name (Designate keeps names unique), so it is retried like a read: a retry
        after a lost answer finds the zone the first attempt made. A zone found is returned
        as it is (its email and TTL are not changed). A name taken by a zone this project cannot
        see (another project's) ends in Conflict.
        """
        fqdn = normalise_name(name)
        if not isinstance(email, str) or not _EMAIL.match(email.strip()):
            raise InvalidInput(f"email: {email!r} is not an e-mail address")
        attrs: dict[str, Any] = {"name": fqdn, "email": email.strip(), "type": "PRIMARY"}
        if (checked_ttl := _check_ttl(ttl)) is not None:
            attrs["ttl"] = checked_ttl
        desc = _description(description, tag)
        if desc:
            attrs["description"] = desc
        operation = f"create zone {fqdn}"

        def job() -> models.Zone:
            found = self._find_zone(fqdn)
            if found is not None:
                if (found.action or "").upper() == "DELETE":
                    raise Conflict("a zone of that name is being deleted", operation=operation)
                return found
            return zone_model(self._dns.create_zone(**attrs))

        try:
            zone = await self._ctx.call(operation, job)
        except Conflict as exc:
            if exc.status != 409:
                raise
            # Created meanwhile by someone else (then we find it now), or owned by a project
            # we cannot see (then the second Conflict stands).
            zone = await self._ctx.call(operation, job)
        if wait and zone.status.upper() not in _READY:
            zone = await self._wait_zone(zone.id)
        return zone

    async def _wait_zone(self, zone_id: str) -> models.Zone:
        return await self._ctx.wait_for(
            f"wait for zone {zone_id}",
            lambda: zone_model(self._dns.get_zone(zone_id)),
            lambda z: z.status,
            ready=_READY,
            failed=_FAILED,
        )

    async def delete_zone(self, zone_id: str, *, wait: bool = False) -> None:
        """Delete a zone and all its recordsets; a zone already gone is not an error."""
        try:
            await self._ctx.call(
                f"delete zone {zone_id}",
                lambda: self._dns.delete_zone(zone_id, ignore_missing=False),
            )
        except NotFound:
            return
        if wait:
            await self._ctx.wait_gone(
                f"wait for deletion of zone {zone_id}", lambda: self._dns.get_zone(zone_id)
            )

    # --- recordsets ------------------------------------------------------------------------

    def _recordsets(
        self, zone_id: str, name: str | None, rtype: str | None
    ) -> list[tuple[Any, models.RecordSet]]:
        """Blocking: (SDK resource, model) of the zone's recordsets matching name and type."""
        query = {k: v for k, v in (("name", name), ("type", rtype)) if v is not None}
        found = [(r, recordset_model(r, zone_id)) for r in self._dns.recordsets(zone_id, **query)]
        # Designate's name filter takes wildcards: keep exact matches only.
        return [
            (r, rs)
            for r, rs in found
            if (name is None or rs.name.lower() == name) and (rtype is None or rs.type == rtype)
        ]

    async def list_recordsets(
        self, zone_id: str, name: str | None = None, type: str | None = None
    ) -> tuple[models.RecordSet, ...]:
        """Recordsets of a zone, optionally only those of one name and/or type."""
        fqdn = normalise_name(name, wildcard=True) if name is not None else None
        rtype = type.strip().upper() if isinstance(type, str) else None
        return await self._ctx.call(
            f"list recordsets of zone {zone_id}",
            lambda: tuple(rs for _, rs in self._recordsets(zone_id, fqdn, rtype)),
        )

    async def get_recordset(self, zone_id: str, recordset_id: str) -> models.RecordSet:
        return await self._ctx.call(
            f"get recordset {recordset_id}",
            lambda: recordset_model(self._dns.get_recordset(recordset_id, zone_id), zone_id),
        )

    async def upsert_recordset(
        self,
        zone_id: str,
        name: str,
        type: str = "A",
        records: Sequence[str] = (),
        ttl: int | None = None,
        *,
        description: str | None = None,
        wait: bool = False,
    ) -> models.RecordSet:
        """Make (name, type) in the zone hold exactly `records`: create the recordset if absent,
        else replace its records (and TTL, when given). Nothing is sent when it already matches,
        so a repeated call is a no-op. `description` is only set at creation."""
        if not isinstance(type, str) or type.strip().upper() not in RECORD_TYPES:
            raise InvalidInput(f"type: {type!r} is not one of {sorted(RECORD_TYPES)}")
        rtype = type.strip().upper()
        fqdn = normalise_name(name, wildcard=True)
        wanted = normalise_records(rtype, records)
        checked_ttl = _check_ttl(ttl)
        desc = _description(description, None)
        operation = f"upsert {rtype} recordset {fqdn}"

        def job() -> models.RecordSet:
            zone = zone_model(self._dns.get_zone(zone_id))
            if not _in_zone(fqdn, zone.name.lower()):
                raise InvalidInput(f"name: {fqdn!r} is not within zone {zone.name!r}")
            current = self._recordsets(zone_id, fqdn, rtype)
            if not current:
                attrs: dict[str, Any] = {"name": fqdn, "type": rtype, "records": list(wanted)}
                if checked_ttl is not None:
                    attrs["ttl"] = checked_ttl
                if desc:
                    attrs["description"] = desc
                return recordset_model(self._dns.create_recordset(zone_id, **attrs), zone_id)
            res, rs = current[0]
            same_records = _canonical(rtype, rs.records) == tuple(sorted(wanted))
            if same_records and (checked_ttl is None or rs.ttl == checked_ttl):
                return rs
            changes: dict[str, Any] = {"records": list(wanted)}
            if checked_ttl is not None:
                changes["ttl"] = checked_ttl
            return recordset_model(self._dns.update_recordset(res, **changes), zone_id)

        try:
            result = await self._ctx.call(operation, job)
        except Conflict as exc:
            if exc.status != 409:
                raise
            # Created concurrently between our list and create: the rerun updates it.
            result = await self._ctx.call(operation, job)
        if wait and result.status.upper() not in _READY:
            result = await self._ctx.wait_for(
                f"wait for recordset {fqdn}",
                lambda: recordset_model(self._dns.get_recordset(result.id, zone_id), zone_id),
                lambda r: r.status,
                ready=_READY,
                failed=_FAILED,
            )
        return result

    async def delete_recordset(
        self, zone_id: str, recordset_id: str, *, wait: bool = False
    ) -> None:
        """Delete a recordset; one already gone (or its zone) is not an error."""

        def job() -> None:
            self._dns.delete_recordset(recordset_id, zone=zone_id, ignore_missing=False)

        try:
            await self._ctx.call(f"delete recordset {recordset_id}", job)
        except NotFound:
            return
        if wait:
            await self._ctx.wait_gone(
                f"wait for deletion of recordset {recordset_id}",
                lambda: self._dns.get_recordset(recordset_id, zone_id),
            )
