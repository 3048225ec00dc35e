"""The replicator's quiesce hooks (issue 14), run as a cycle runs them: a named hook runs the
operator's argv in a scrubbed environment; a command line carried by an old policy, an unknown
name, a hung hook and an internal webhook each fail the hook clearly; output is a short redacted
excerpt. Real subprocesses; no service needed."""

from __future__ import annotations

import functools
import ipaddress
import json
import sys
from pathlib import Path

import pytest

from lifeboat_replicator.service_layer.hooks import HookFailed, run_hook
from lifeboat_shared.contracts.messages import HookAction
from lifeboat_shared.hooks import CommandHook, HookHost
from lifeboat_shared.net.egress import EgressPolicy
from tests.support.webhooks import RecordingServer

DUMP = "import json, os, sys; open(sys.argv[1], 'w').write(json.dumps(dict(os.environ)))"
NOISY = "print('y' * 3000); print('cluster secret s3cr3t-value-42 password=hunter2'); exit(1)"


async def test_named_hooks_run_scrubbed_and_everything_else_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFEBOAT_REPLICATOR_CANARY", "canary-0b8e")
    seen, touched = tmp_path / "env.json", tmp_path / "touched"
    host = HookHost(
        commands={
            "freeze": CommandHook(argv=[sys.executable, "-c", DUMP, str(seen)]),
            "noisy": CommandHook(argv=[sys.executable, "-c", NOISY]),
            "hang": CommandHook(argv=["sleep", "30"], timeout_seconds=0.5),
        },
        secrets=("s3cr3t-value-42",),
    )
    run = functools.partial(run_hook, group_id="g1", cycle_id="c1-q0", site="site-a", host=host)

    await run(HookAction(kind="command", name="freeze"), phase="pre-freeze")
    env = json.loads(seen.read_text())
    assert env == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "LIFEBOAT_HOOK_PHASE": "pre-freeze",
        "LIFEBOAT_HOOK_GROUP_ID": "g1",
        "LIFEBOAT_HOOK_CYCLE_ID": "c1-q0",
        "LIFEBOAT_HOOK_SITE": "site-a",
        "LIFEBOAT_HOOK": json.dumps(
            {"phase": "pre-freeze", "group_id": "g1", "cycle_id": "c1-q0", "site": "site-a"}
        ),
    }

    old_policy = HookAction(kind="command", command=["/bin/sh", "-c", f"touch {touched}"])
    with pytest.raises(HookFailed, match="command lines from the API are not run"):
        await run(old_policy, phase="pre-freeze")
    assert not touched.exists()

    with pytest.raises(HookFailed) as unknown:
        await run(HookAction(kind="command", name="flush-db"), phase="post-thaw")
    assert str(unknown.value) == (
        "post-thaw: no command hook named 'flush-db' is installed on this host "
        "(LIFEBOAT_REPLICATOR_HOOKS)"
    )

    with pytest.raises(HookFailed, match=r"timed out after 0\.5 s"):
        await run(HookAction(kind="command", name="hang"), phase="pre-freeze")

    with pytest.raises(HookFailed) as noisy:
        await run(HookAction(kind="command", name="noisy"), phase="pre-freeze")
    reason = str(noisy.value)
    assert reason.startswith("pre-freeze: command hook 'noisy' exited 1: ...y"), reason
    assert reason.endswith("cluster secret *** password=***") and len(reason) < 220, reason

    internal = RecordingServer("127.0.0.1")
    try:
        for url in ("http://169.254.169.254/latest/", f"http://localhost:{internal.port}/"):
            hook = HookAction(kind="webhook", url=url)
            with pytest.raises(HookFailed, match="address; webhooks reach only global"):
                await run(hook, phase="pre-freeze")
        assert internal.hits == []
        allowed = HookHost(egress=EgressPolicy(allow=(ipaddress.ip_network("127.0.0.0/8"),)))
        url = f"http://127.0.0.1:{internal.port}/f"
        hook = HookAction(kind="webhook", url=url)
        await run_hook(hook, phase="pre-freeze", group_id="g1", cycle_id="c1", host=allowed)
        assert json.loads(internal.hits[0]["body"])["phase"] == "pre-freeze"
    finally:
        internal.close()
