"""Quiesce hooks (UC5b), run before the freeze and after the thaw: a webhook (POST of the phase,
group and cycle as JSON, through the shared egress checks) or a command hook the operator
installed on this host (``LIFEBOAT_REPLICATOR_HOOKS``), referenced by name. The policy service
cannot see this host's hooks: an unknown name fails the hook here, with a reason saying so.

A command hook gets only ``PATH``, ``LANG`` and ``LIFEBOAT_HOOK_PHASE`` (pre-freeze | post-thaw),
``LIFEBOAT_HOOK_GROUP_ID``, ``LIFEBOAT_HOOK_CYCLE_ID``, ``LIFEBOAT_HOOK_SITE`` and
``LIFEBOAT_HOOK`` (the same as JSON). A failed or timed-out hook raises HookFailed with a short,
redacted reason.
"""

from __future__ import annotations

import json

from lifeboat_shared.contracts.messages import HookAction
from lifeboat_shared.hooks import HookFailed, HookHost, installed, run_command
from lifeboat_shared.net.egress import EgressRefused, WebhookFailed, post_json

__all__ = ["HookFailed", "HookHost", "run_hook"]


async def run_hook(
    action: HookAction,
    *,
    phase: str,
    group_id: str,
    cycle_id: str,
    site: str = "",
    host: HookHost | None = None,
) -> None:
    host = host or HookHost()
    payload = {"phase": phase, "group_id": group_id, "cycle_id": cycle_id, "site": site}
    if action.kind == "webhook":
        if action.url is None:
            raise HookFailed(f"{phase}: webhook hook has no url")
        try:
            await post_json(
                str(action.url),
                payload,
                policy=host.egress,
                timeout_seconds=action.timeout_seconds,
            )
        except (EgressRefused, WebhookFailed) as exc:
            raise HookFailed(f"{phase}: webhook to {action.url.host}: {exc}") from exc
        return
    if action.command or action.name is None:
        raise HookFailed(
            f"{phase}: command lines from the API are not run; the operator installs a named "
            "hook (LIFEBOAT_REPLICATOR_HOOKS) and the policy names it"
        )
    try:
        hook = installed(host.commands, action.name, "LIFEBOAT_REPLICATOR_HOOKS")
        await run_command(
            action.name,
            hook,
            {
                "LIFEBOAT_HOOK_PHASE": phase,
                "LIFEBOAT_HOOK_GROUP_ID": group_id,
                "LIFEBOAT_HOOK_CYCLE_ID": cycle_id,
                "LIFEBOAT_HOOK_SITE": site,
                "LIFEBOAT_HOOK": json.dumps(payload),
            },
            secrets=host.secrets,
        )
    except HookFailed as exc:
        raise HookFailed(f"{phase}: {exc}") from exc
