"""Quiesce, snapshot, thaw: the first stage of a cycle, with the policy's quiesce-failure rule.

- ``none``: one Cinder group snapshot across every volume (crash-consistent, one instant).
- ``guest-agent``: Nova's quiesced snapshot of each volume-backed server (createImage freezes the
  guest through its agent, snapshots all its volumes at one instant, thaws). Each VM is
  application-consistent; VMs of a multi-VM group are snapshotted one after another, so use hooks
  when several VMs must freeze together.
- ``hook``: the tenant's pre-freeze hook, one group snapshot, the post-thaw hook (always run).

Every VM is tried in every attempt, so the alert, the cycle and the CP name all that failed, each
with a short reason (bounded, secrets masked: a hook's output appears only as a short excerpt).
A quiesce failure applies the rule (fall back to crash-consistent | retry N times, then skip |
skip the cycle) and always yields an alert.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lifeboat_replicator.adapters.protected_site import ProtectedSite, QuiesceRefused
from lifeboat_replicator.domain.model import Consistency, QuiesceFailure
from lifeboat_replicator.service_layer.hooks import HookFailed, HookHost, run_hook
from lifeboat_shared.contracts.messages import QuiesceSpec

log = logging.getLogger(__name__)

RETRY_PAUSE_SECONDS = 0.5
MAX_REASON = 300  # per VM; the contracts' QuiesceFailure.reason allows no more
_SECRET = re.compile(
    r"(?i)\b(password|passwd|token|secret|api[_-]?key|authorization)(\s*[:=]\s*)(bearer\s+)?\S+"
)
_USERINFO = re.compile(r"://[^/@\s]+@")


class QuiesceIncomplete(Exception):
    """An attempt in which at least one VM (or the group's hook) could not be quiesced."""

    def __init__(self, failures: Sequence[QuiesceFailure]) -> None:
        super().__init__("; ".join(_describe(f) for f in failures))
        self.failures = tuple(failures)


def short_reason(text: str) -> str:
    """One line, credentials masked, at most MAX_REASON characters."""
    line = " ".join(text.split())
    line = _USERINFO.sub("://***@", _SECRET.sub(r"\1\2***", line))
    line = line or "quiesce failed"
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 3] + "..."


def _describe(f: QuiesceFailure) -> str:
    return f"{f.server_id}: {f.reason}" if f.server_id else f.reason


@dataclass(frozen=True)
class QuiesceAlert:
    failed_servers: tuple[str, ...]
    outcome: str  # fell-back-to-crash-consistent | retried-ok | cycle-skipped
    reason: str
    failures: tuple[QuiesceFailure, ...] = ()


@dataclass(frozen=True)
class SnapshotResult:
    snapshots: dict[str, str] | None  # None: the cycle is skipped
    consistency: Consistency
    alert: QuiesceAlert | None
    images_key: str | None = None  # guest-agent: the tag under which Nova's images were made
    consistency_reason: str | None = None  # why it is crash-consistent, if it is
    failures: tuple[QuiesceFailure, ...] = ()


def _alert(
    outcome: str, failures: Sequence[QuiesceFailure], servers: Sequence[str]
) -> QuiesceAlert:
    named = sorted({f.server_id for f in failures if f.server_id})
    what = f"{len(named)} of {len(servers)} servers" if named else "the hook"
    reason = f"quiesce failed on {what}: " + "; ".join(_describe(f) for f in failures)
    return QuiesceAlert(tuple(named), outcome, reason[:1900], tuple(failures))


async def take_snapshots(
    site: ProtectedSite,
    *,
    cycle_id: str,
    group_id: str,
    quiesce: QuiesceSpec,
    servers: Sequence[str],
    loose_volumes: Sequence[str],
    all_volumes: Sequence[str],
    hooks: HookHost | None = None,
    source_site: str = "",
) -> SnapshotResult:
    if quiesce.method == "none" or (quiesce.method == "guest-agent" and not servers):
        snaps = await site.snapshot_group(
            cycle_id=cycle_id, group_key=group_id, volumes=all_volumes
        )
        why = (
            "the policy's quiesce method is none"
            if quiesce.method == "none"
            else "no servers to quiesce: volumes only"
        )
        return SnapshotResult(snaps, Consistency.CRASH, None, consistency_reason=why)
    attempts = 1 + (quiesce.retries if quiesce.on_failure == "retry" else 0)
    last: dict[str, QuiesceFailure] = {}  # per server ("" for the hook): its latest failure
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
        key = f"{cycle_id}-q{attempt}"
        try:
            if quiesce.method == "guest-agent":
                snaps = await _guest_agent(site, key, group_id, servers, loose_volumes)
            else:
                snaps = await _hooked(site, key, group_id, quiesce, all_volumes, hooks, source_site)
        except QuiesceIncomplete as exc:
            last.update({f.server_id or "": f for f in exc.failures})
            log.warning("group %s: quiesce attempt %d failed: %s", group_id, attempt + 1, exc)
            continue
        failures = _ordered(last, servers)
        alert = _alert("retried-ok", failures, servers) if failures else None
        images = key if quiesce.method == "guest-agent" else None
        if loose_volumes and quiesce.method == "guest-agent":
            why = "volumes attached to no protected server were snapshotted without quiesce"
            return SnapshotResult(snaps, Consistency.CRASH, alert, images, why, failures)
        return SnapshotResult(snaps, Consistency.APPLICATION, alert, images, None, failures)
    failures = _ordered(last, servers)
    if quiesce.on_failure == "crash-consistent":
        snaps = await site.snapshot_group(
            cycle_id=cycle_id, group_key=group_id, volumes=all_volumes
        )
        alert = _alert("fell-back-to-crash-consistent", failures, servers)
        why = f"{alert.reason[:400]}; the policy falls back to crash-consistent"
        return SnapshotResult(snaps, Consistency.CRASH, alert, None, why, failures)
    alert = _alert("cycle-skipped", failures, servers)
    return SnapshotResult(None, Consistency.CRASH, alert, None, None, failures)


def _ordered(last: dict[str, QuiesceFailure], servers: Sequence[str]) -> tuple[QuiesceFailure, ...]:
    """The group's order: the hook first, then the servers as the group lists them."""
    order = {"": -1, **{s: i for i, s in enumerate(servers)}}
    return tuple(last[k] for k in sorted(last, key=lambda k: (order.get(k, len(order)), k)))


async def _guest_agent(
    site: ProtectedSite,
    key: str,
    group_id: str,
    servers: Sequence[str],
    loose_volumes: Sequence[str],
) -> dict[str, str]:
    """Every server is tried, even after one refused, so every failure is known."""
    snaps: dict[str, str] = {}
    failures: list[QuiesceFailure] = []
    for server_id in servers:
        try:
            snaps.update(await site.quiesced_server_snapshot(cycle_id=key, server_id=server_id))
        except QuiesceRefused as exc:
            failures.append(QuiesceFailure(server_id, short_reason(exc.reason)))
    if failures:
        # Half a set of per-VM snapshots is no consistency point: drop them before the rule runs.
        await site.delete_snapshots(list(snaps.values()))
        for server_id in servers:
            await site.delete_server_image(cycle_id=key, server_id=server_id)
        raise QuiesceIncomplete(failures)
    if loose_volumes:
        snaps.update(
            await site.snapshot_group(cycle_id=key, group_key=group_id, volumes=loose_volumes)
        )
    return snaps


async def _hooked(
    site: ProtectedSite,
    key: str,
    group_id: str,
    quiesce: QuiesceSpec,
    volumes: Sequence[str],
    hooks: HookHost | None,
    source_site: str,
) -> dict[str, str]:
    if quiesce.hook is None:
        raise QuiesceIncomplete([QuiesceFailure(None, "quiesce method 'hook' without a hook")])
    try:
        await run_hook(
            quiesce.hook.pre_freeze,
            phase="pre-freeze",
            group_id=group_id,
            cycle_id=key,
            site=source_site,
            host=hooks,
        )
    except HookFailed as exc:
        raise QuiesceIncomplete([QuiesceFailure(None, short_reason(str(exc)))]) from exc
    try:
        return await site.snapshot_group(cycle_id=key, group_key=group_id, volumes=volumes)
    finally:
        try:
            await run_hook(
                quiesce.hook.post_thaw,
                phase="post-thaw",
                group_id=group_id,
                cycle_id=key,
                site=source_site,
                host=hooks,
            )
        except HookFailed as exc:  # the snapshot is good; the tenant must hear about the thaw
            log.error("group %s: post-thaw hook failed: %s", group_id, short_reason(str(exc)))
