"""Running a test definition's checks against a bubble: each check on each server it targets,
under its timeout, retried (boot-time flakiness), all in parallel.

A check attempt returns its output excerpt or raises ``CheckFailed`` with the reason; the last
attempt's reason is the check's. Targets come from BubbleReady's endpoints: ``member`` picks the
copy of one source server, ``tier`` the servers whose recovered name carries the tier (the
orchestrator names copies after their source), neither picks every server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import regex

from lifeboat_shared.cloud import CloudProject
from lifeboat_shared.hooks import CommandHook, HookFailed, installed, run_command
from lifeboat_verifier.adapters.guest import GuestProbe, ProbeError
from lifeboat_verifier.domain.definitions import CheckKind, CheckSpec
from lifeboat_verifier.domain.model import CheckResult

NO_PROBE = (
    "no guest probe at this site: tcp/http/command/data checks need one (cloudsim: "
    "LIFEBOAT_VERIFIER_GUEST_PROBES; real clouds: the probe instance, see the README)"
)


class CheckFailed(Exception):
    pass


@dataclass(frozen=True)
class Target:
    server_id: str
    name: str
    source_server_id: str | None
    addresses: tuple[str, ...] = ()
    site_id: str | None = None  # a linked bubble spans sites; None: the run's site

    @property
    def label(self) -> str:
        return f"{self.name or self.server_id} ({self.server_id})"


@dataclass
class CheckEnv:
    project: CloudProject
    probe: GuestProbe | None
    hooks: dict[str, CommandHook]
    secrets: Sequence[str]
    run_id: str
    plan_id: str
    site_id: str


def targets_of(spec: CheckSpec, endpoints: Sequence[dict[str, Any]]) -> list[Target]:
    all_ = [
        Target(
            e["server_id"],
            e.get("name") or "",
            e.get("source_server_id"),
            tuple(e.get("addresses") or ()),
            e.get("site_id"),
        )
        for e in endpoints
    ]
    if spec.member:
        return [t for t in all_ if spec.member in (t.source_server_id, t.server_id)]
    if spec.tier:
        tier = spec.tier
        return [
            t
            for t in all_
            if t.name == tier
            or t.name.startswith(f"{tier}-")
            or t.name.endswith(f"-{tier}")
            or f"-{tier}-" in t.name
        ]
    return all_


def _probe(env: CheckEnv) -> GuestProbe:
    if env.probe is None:
        raise CheckFailed(NO_PROBE)
    return env.probe


async def _boot(spec: CheckSpec, t: Target, env: CheckEnv) -> str:
    server = await env.project.compute.get_server(t.server_id)
    if server.status != "ACTIVE":
        raise CheckFailed(f"server is {server.status}, not ACTIVE")
    if not spec.marker:
        return "ACTIVE"
    log = await env.project.compute.console_output(t.server_id, length=500)
    if spec.marker not in log:
        raise CheckFailed(f"console log does not show the marker {spec.marker!r}: {log[-300:]}")
    return log[-500:]


async def _tcp(spec: CheckSpec, t: Target, env: CheckEnv) -> str:
    port = await _probe(env).services_port(t.server_id)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        raise CheckFailed(f"port {spec.port} refused: {exc}") from None
    writer.close()
    return f"port {spec.port} open"


# A tenant's pattern runs on text its own guest produced: bounded text, bounded time (the regex
# module stops a catastrophic backtrack; re would hold the event loop of every tenant's runs).
MATCHED_TEXT_MAX = 64 * 1024
MATCH_TIMEOUT_SECONDS = 1.0


def _matches(pattern: str, text: str, what: str) -> bool:
    try:
        found = regex.search(pattern, text[:MATCHED_TEXT_MAX], timeout=MATCH_TIMEOUT_SECONDS)
    except TimeoutError:
        raise CheckFailed(
            f"{what}: matching {pattern!r} took over {MATCH_TIMEOUT_SECONDS:.0f} s (stopped)"
        ) from None
    return found is not None


async def _http(spec: CheckSpec, t: Target, env: CheckEnv) -> str:
    port = await _probe(env).services_port(t.server_id)
    try:
        async with (
            httpx.AsyncClient(timeout=spec.timeout_seconds) as client,
            client.stream("GET", f"http://127.0.0.1:{port}{spec.path}") as r,
        ):
            body = b""
            async for chunk in r.aiter_bytes():
                body += chunk
                if len(body) >= MATCHED_TEXT_MAX:
                    break  # the first 64 KiB are what the pattern sees
    except httpx.HTTPError as exc:
        raise CheckFailed(f"GET {spec.path}: {exc}") from None
    text = body[:MATCHED_TEXT_MAX].decode("utf-8", "replace")
    if r.status_code != spec.status:
        raise CheckFailed(f"GET {spec.path} answered {r.status_code}, want {spec.status}")
    if spec.body_regex and not _matches(spec.body_regex, text, f"GET {spec.path}"):
        raise CheckFailed(f"GET {spec.path}: body does not match {spec.body_regex!r}")
    return f"{r.status_code} {text[:500]}"


async def _command(spec: CheckSpec, t: Target, env: CheckEnv) -> str:
    assert spec.command is not None
    status, out = await _probe(env).exec(t.server_id, spec.command)
    if status != 200:
        raise CheckFailed(f"command {spec.command!r} failed ({status}): {out[:300]}")
    if spec.output_regex and not _matches(spec.output_regex, out, f"command {spec.command!r}"):
        raise CheckFailed(f"command {spec.command!r}: output does not match {spec.output_regex!r}")
    if spec.command == "check-consistency" and '"crash_consistent": false' in out.replace(
        '"crash_consistent":false', '"crash_consistent": false'
    ):
        raise CheckFailed(f"application data inconsistent: {out[:300]}")
    return out[:2000]


async def _data(spec: CheckSpec, t: Target, env: CheckEnv) -> str:
    probe = _probe(env)
    attached = await env.project.compute.server_volumes(t.server_id)
    if not attached:
        raise CheckFailed("the server has no volumes")
    lines: list[str] = []
    for a in attached:
        vol = await env.project.block_storage.get_volume(a.volume_id)
        if not vol.snapshot_id:
            raise CheckFailed(f"volume {vol.id} was not restored from a replica snapshot")
        got, want = await asyncio.gather(
            probe.volume_digest(vol.id), probe.snapshot_digest(vol.snapshot_id)
        )
        if got != want:
            raise CheckFailed(
                f"volume {vol.id} differs from the CP's replica snapshot {vol.snapshot_id} "
                f"(sha256 {got[:16]} != {want[:16]})"
            )
        lines.append(f"{vol.id} == snapshot {vol.snapshot_id} sha256 {got[:16]}")
    report = await probe.consistency({a.volume_id: a.volume_id for a in attached})
    if report.get("records_found") and not report.get("crash_consistent"):
        raise CheckFailed(f"application data inconsistent: {report.get('violations', [])[:3]}")
    lines.append(
        f"consistency: crash={report.get('crash_consistent')} "
        f"app={report.get('application_consistent')} records={report.get('records_found')}"
    )
    return "\n".join(lines)


async def _hook(spec: CheckSpec, t: Target, env: CheckEnv) -> str:
    assert spec.hook is not None
    try:
        hook = installed(env.hooks, spec.hook, "LIFEBOAT_VERIFIER_HOOKS")
        variables = {
            "LIFEBOAT_HOOK_RUN_ID": env.run_id,
            "LIFEBOAT_HOOK_PLAN_ID": env.plan_id,
            "LIFEBOAT_HOOK_SITE_ID": env.site_id,
            "LIFEBOAT_HOOK_SERVER_ID": t.server_id,
            "LIFEBOAT_HOOK_SERVER_ADDRESSES": ",".join(t.addresses),
        }
        return await run_command(spec.hook, hook, variables, secrets=env.secrets)
    except HookFailed as exc:
        raise CheckFailed(str(exc)) from None


Attempt = Callable[[CheckSpec, Target, CheckEnv], Awaitable[str]]
ATTEMPTS: dict[CheckKind, Attempt] = {
    CheckKind.BOOT: _boot,
    CheckKind.TCP: _tcp,
    CheckKind.HTTP: _http,
    CheckKind.COMMAND: _command,
    CheckKind.DATA: _data,
    CheckKind.HOOK: _hook,
}


async def run_check(spec: CheckSpec, target: Target, env: CheckEnv) -> CheckResult:
    started = datetime.now(UTC)
    attempt, reason, output = 0, None, ""
    for attempt in range(1, spec.retries + 2):
        try:
            output = await asyncio.wait_for(
                ATTEMPTS[spec.kind](spec, target, env), spec.timeout_seconds
            )
            reason = None
            break
        except CheckFailed as exc:
            reason = str(exc)
        except ProbeError as exc:
            reason = f"probe: {exc}"
        except TimeoutError:
            reason = f"timed out after {spec.timeout_seconds:g} s"
        except (OSError, httpx.HTTPError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a cloud error: the check fails, the run goes on
            reason = f"{type(exc).__name__}: {str(exc)[:300]}"
        if attempt <= spec.retries:
            await asyncio.sleep(spec.retry_delay_seconds)
    return CheckResult(
        name=spec.name,
        kind=spec.kind.value,
        target=target.label,
        passed=reason is None,
        attempts=attempt,
        started_at=started,
        finished_at=datetime.now(UTC),
        output_excerpt=(output or reason or "")[:2000],
        reason=reason[:2000] if reason else None,
    )


async def run_checks(
    specs: Sequence[CheckSpec],
    endpoints: Sequence[dict[str, Any]],
    env: CheckEnv,
    site_envs: Mapping[str, CheckEnv] | None = None,
) -> list[CheckResult]:
    """Every check on each of its targets, in parallel; a target at another site of a linked
    bubble is checked through that site's cloud and guest probe (``site_envs``)."""
    others = site_envs or {}
    jobs: list[Awaitable[CheckResult]] = []
    missing: list[CheckResult] = []
    now = datetime.now(UTC)
    for spec in specs:
        targets = targets_of(spec, endpoints)
        if not targets:
            missing.append(
                CheckResult(
                    spec.name, spec.kind.value, spec.member or spec.tier or "*", False, 0,
                    now, now, reason="no server of the bubble matches the check's target",
                )
            )  # fmt: skip
        jobs.extend(run_check(spec, t, others.get(t.site_id or "", env)) for t in targets)
    return [*missing, *await asyncio.gather(*jobs)]
