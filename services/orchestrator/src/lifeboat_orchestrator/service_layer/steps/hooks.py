"""Tenant hooks before and after a tier (UC2): a webhook (POST with the execution's context as
JSON, 2xx = success) or a command (exit 0 = success), each with a timeout and a failure rule."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import httpx

from lifeboat_orchestrator.domain.plan import Hook
from lifeboat_orchestrator.service_layer.steps.context import StepEnv, StepFailed


def _context(env: StepEnv, when: str) -> dict[str, Any]:
    tier = env.step.tier or ""
    members = {
        sid: env.result_of(f"recover:{sid}")
        for t in env.plan.spec.tiers
        if t.name == tier
        for sid in t.servers
    }
    return {
        "execution_id": env.execution.id,
        "kind": env.execution.kind,
        "plan": env.plan.spec.name,
        "tier": tier,
        "when": when,
        "site": env.execution.target_site,
        "servers": {
            sid: {"server_id": r.get("server_id"), "addresses": r.get("addresses", [])}
            for sid, r in members.items()
        },
    }


async def _run(hook: Hook, context: dict[str, Any]) -> str:
    if hook.kind == "webhook":
        async with httpx.AsyncClient(timeout=hook.timeout_seconds) as client:
            reply = await client.post(str(hook.url), json=context)
        if reply.status_code >= 300:
            raise RuntimeError(f"webhook answered {reply.status_code}: {reply.text[:200]}")
        return f"webhook {reply.status_code}"
    assert hook.command
    env = {**os.environ, "LIFEBOAT_HOOK_CONTEXT": json.dumps(context)}
    proc = await asyncio.create_subprocess_exec(
        *hook.command,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), hook.timeout_seconds)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"command timed out after {hook.timeout_seconds} s") from None
    if proc.returncode != 0:
        raise RuntimeError(
            f"command exited {proc.returncode}: {out.decode(errors='replace')[-300:]}"
        )
    return "command ok"


async def run_hooks(env: StepEnv) -> dict[str, Any]:
    when = env.step.params["when"]
    tier = next(t for t in env.plan.spec.tiers if t.name == env.step.tier)
    hooks = tier.pre_hooks if when == "pre" else tier.post_hooks
    outcomes: list[str] = []
    for hook in hooks:
        try:
            outcomes.append(await _run(hook, _context(env, when)))
        except (OSError, RuntimeError, httpx.HTTPError) as exc:
            if hook.on_failure == "fail":
                raise StepFailed(f"{when}-hook of tier {tier.name} failed: {exc}") from exc
            outcomes.append(f"failed (continued): {exc}")
    return {"hooks": outcomes, "at": time.time()}
