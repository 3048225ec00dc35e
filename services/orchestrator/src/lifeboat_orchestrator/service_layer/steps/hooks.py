"""Hooks before and after a tier (UC2): a webhook (POST with the execution's context as JSON, 2xx
= success; through the shared egress checks: no private targets unless allowlisted, no
redirects, the response body never read back) or a command hook the operator installed on this
host (``LIFEBOAT_ORCHESTRATOR_HOOKS``), referenced by name (exit 0 = success), each with a
timeout and a failure rule.

A command hook runs without a shell and gets only ``PATH``, ``LANG`` and the documented
``LIFEBOAT_HOOK_*`` variables: ``PLAN_ID``, ``PLAN``, ``EXECUTION_ID``, ``KIND``, ``TIER``,
``PHASE`` (pre | post), ``SITE`` and ``CONTEXT`` (the webhook's JSON body). Its output reaches the
execution only as a short, redacted excerpt when it fails.
"""

from __future__ import annotations

import json
import time
from typing import Any

from lifeboat_orchestrator.domain.plan import LEGACY_HOOK, Hook
from lifeboat_orchestrator.service_layer.steps.context import StepEnv, StepFailed
from lifeboat_shared.hooks import HookFailed, installed, run_command
from lifeboat_shared.net.egress import EgressRefused, WebhookFailed, post_json

SETTING = "LIFEBOAT_ORCHESTRATOR_HOOKS"


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


async def _run(env: StepEnv, hook: Hook, context: dict[str, Any]) -> str:
    if hook.kind == "webhook":
        assert hook.url is not None
        try:
            status = await post_json(
                str(hook.url),
                context,
                policy=env.hooks.egress,
                timeout_seconds=hook.timeout_seconds,
            )
        except (EgressRefused, WebhookFailed) as exc:
            raise HookFailed(f"webhook to {hook.url.host}: {exc}") from exc
        return f"webhook {status}"
    if hook.name is None or hook.name == LEGACY_HOOK:
        raise HookFailed(
            f"command lines from the API are not run; install a named hook ({SETTING})"
        )
    installed_hook = installed(env.hooks.commands, hook.name, SETTING)
    variables = {
        "LIFEBOAT_HOOK_PLAN_ID": env.plan.id,
        "LIFEBOAT_HOOK_PLAN": env.plan.spec.name,
        "LIFEBOAT_HOOK_EXECUTION_ID": env.execution.id,
        "LIFEBOAT_HOOK_KIND": env.execution.kind,
        "LIFEBOAT_HOOK_TIER": context["tier"],
        "LIFEBOAT_HOOK_PHASE": context["when"],
        "LIFEBOAT_HOOK_SITE": context["site"] or "",
        "LIFEBOAT_HOOK_CONTEXT": json.dumps(context),
    }
    return await run_command(hook.name, installed_hook, variables, secrets=env.hooks.secrets)


async def run_hooks(env: StepEnv) -> dict[str, Any]:
    when = env.step.params["when"]
    tier = next(t for t in env.plan.spec.tiers if t.name == env.step.tier)
    hooks = tier.pre_hooks if when == "pre" else tier.post_hooks
    outcomes: list[str] = []
    for hook in hooks:
        try:
            outcomes.append(await _run(env, hook, _context(env, when)))
        except HookFailed as exc:
            if hook.on_failure == "fail":
                raise StepFailed(f"{when}-hook of tier {tier.name} failed: {exc}") from exc
            outcomes.append(f"failed (continued): {exc}")
    return {"hooks": outcomes, "at": time.time()}
