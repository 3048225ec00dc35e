"""Tenant-provided quiesce hooks (UC5b): a webhook or a command, run before the freeze and after
the thaw, each with a timeout. A failed or timed-out hook raises HookFailed with the reason."""

from __future__ import annotations

import asyncio
import json
import os

import httpx

from lifeboat_shared.contracts.messages import HookAction


class HookFailed(Exception):
    pass


async def run_hook(action: HookAction, *, phase: str, group_id: str, cycle_id: str) -> None:
    payload = {"phase": phase, "group_id": group_id, "cycle_id": cycle_id}
    if action.kind == "webhook":
        if action.url is None:
            raise HookFailed(f"{phase}: webhook hook has no url")
        try:
            async with httpx.AsyncClient(timeout=action.timeout_seconds) as client:
                response = await client.post(str(action.url), json=payload)
        except httpx.HTTPError as exc:
            raise HookFailed(f"{phase}: webhook {action.url} failed: {exc!r}") from exc
        if response.status_code >= 300:
            raise HookFailed(
                f"{phase}: webhook {action.url} answered {response.status_code}: "
                f"{response.text[:200]}"
            )
        return
    if not action.command:
        raise HookFailed(f"{phase}: command hook has no command")
    env = {**os.environ, "LIFEBOAT_HOOK": json.dumps(payload), "LIFEBOAT_HOOK_PHASE": phase}
    try:
        proc = await asyncio.create_subprocess_exec(
            *action.command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
    except OSError as exc:
        raise HookFailed(f"{phase}: cannot run {action.command[0]!r}: {exc}") from exc
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=action.timeout_seconds)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise HookFailed(f"{phase}: command timed out after {action.timeout_seconds} s") from exc
    if proc.returncode != 0:
        tail = out.decode(errors="replace")[-300:].strip()
        raise HookFailed(f"{phase}: command exited {proc.returncode}: {tail}")
