"""Quiesce, snapshot, thaw: the first stage of a cycle, with the policy's quiesce-failure rule.

- ``none``: one Cinder group snapshot across every volume (crash-consistent, one instant).
- ``guest-agent``: Nova's quiesced snapshot of each volume-backed server (createImage freezes the
  guest through its agent, snapshots all its volumes at one instant, thaws). Each VM is
  application-consistent; VMs of a multi-VM group are snapshotted one after another, so use hooks
  when several VMs must freeze together.
- ``hook``: the tenant's pre-freeze hook, one group snapshot, the post-thaw hook (always run).

A quiesce failure applies the rule (fall back to crash-consistent | retry N times, then skip |
skip the cycle) and always yields an alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from lifeboat_replicator.adapters.protected_site import ProtectedSite, QuiesceRefused
from lifeboat_replicator.domain.model import Consistency
from lifeboat_replicator.service_layer.hooks import HookFailed, run_hook
from lifeboat_shared.contracts.messages import QuiesceSpec

log = logging.getLogger(__name__)

RETRY_PAUSE_SECONDS = 0.5


@dataclass(frozen=True)
class QuiesceAlert:
    failed_servers: tuple[str, ...]
    outcome: str  # fell-back-to-crash-consistent | retried-ok | cycle-skipped
    reason: str


@dataclass(frozen=True)
class SnapshotResult:
    snapshots: dict[str, str] | None  # None: the cycle is skipped
    consistency: Consistency
    alert: QuiesceAlert | None
    images_key: str | None = None  # guest-agent: the tag under which Nova's images were made


async def take_snapshots(
    site: ProtectedSite,
    *,
    cycle_id: str,
    group_id: str,
    quiesce: QuiesceSpec,
    servers: Sequence[str],
    loose_volumes: Sequence[str],
    all_volumes: Sequence[str],
) -> SnapshotResult:
    if quiesce.method == "none" or (quiesce.method == "guest-agent" and not servers):
        snaps = await site.snapshot_group(
            cycle_id=cycle_id, group_key=group_id, volumes=all_volumes
        )
        return SnapshotResult(snaps, Consistency.CRASH, None)
    attempts = 1 + (quiesce.retries if quiesce.on_failure == "retry" else 0)
    failures: list[str] = []
    failed_servers: set[str] = set()
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
        key = f"{cycle_id}-q{attempt}"
        try:
            if quiesce.method == "guest-agent":
                snaps = await _guest_agent(site, key, group_id, servers, loose_volumes)
            else:
                snaps = await _hooked(site, key, group_id, quiesce, all_volumes)
        except (QuiesceRefused, HookFailed) as exc:
            failures.append(str(exc))
            if isinstance(exc, QuiesceRefused):
                failed_servers.add(exc.server_id)
            log.warning("group %s: quiesce attempt %d failed: %s", group_id, attempt + 1, exc)
            continue
        consistency = (
            Consistency.APPLICATION
            if not loose_volumes or quiesce.method == "hook"
            else (Consistency.CRASH)
        )
        alert = None
        if failures:
            alert = QuiesceAlert(tuple(sorted(failed_servers)), "retried-ok", "; ".join(failures))
        images = key if quiesce.method == "guest-agent" else None
        return SnapshotResult(snaps, consistency, alert, images)
    reason = "; ".join(failures)[:1900]
    if quiesce.on_failure == "crash-consistent":
        snaps = await site.snapshot_group(
            cycle_id=cycle_id, group_key=group_id, volumes=all_volumes
        )
        alert = QuiesceAlert(tuple(sorted(failed_servers)), "fell-back-to-crash-consistent", reason)
        return SnapshotResult(snaps, Consistency.CRASH, alert)
    alert = QuiesceAlert(tuple(sorted(failed_servers)), "cycle-skipped", reason)
    return SnapshotResult(None, Consistency.CRASH, alert)


async def _guest_agent(
    site: ProtectedSite,
    key: str,
    group_id: str,
    servers: Sequence[str],
    loose_volumes: Sequence[str],
) -> dict[str, str]:
    snaps: dict[str, str] = {}
    try:
        for server_id in servers:
            snaps.update(await site.quiesced_server_snapshot(cycle_id=key, server_id=server_id))
        if loose_volumes:
            snaps.update(
                await site.snapshot_group(cycle_id=key, group_key=group_id, volumes=loose_volumes)
            )
    except QuiesceRefused:
        # Half a set of per-VM snapshots is no consistency point: drop them before the rule runs.
        await site.delete_snapshots(list(snaps.values()))
        for server_id in servers:
            await site.delete_server_image(cycle_id=key, server_id=server_id)
        raise
    return snaps


async def _hooked(
    site: ProtectedSite, key: str, group_id: str, quiesce: QuiesceSpec, volumes: Sequence[str]
) -> dict[str, str]:
    if quiesce.hook is None:
        raise HookFailed("quiesce method 'hook' without a hook")
    await run_hook(quiesce.hook.pre_freeze, phase="pre-freeze", group_id=group_id, cycle_id=key)
    try:
        return await site.snapshot_group(cycle_id=key, group_key=group_id, volumes=volumes)
    finally:
        try:
            await run_hook(
                quiesce.hook.post_thaw, phase="post-thaw", group_id=group_id, cycle_id=key
            )
        except HookFailed as exc:  # the snapshot is good; the tenant must hear about the thaw
            log.error("group %s: post-thaw hook failed: %s", group_id, exc)
