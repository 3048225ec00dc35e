"""`openstack dr ...` (the real `openstack` command, this venv's, with the lifeboat-osc plugin)
against a running embedded stack, given only the clouds.yaml `lifeboat up` writes: Keystone login
to site-a's cloudsim, Lifeboat's one endpoint found in that Keystone's catalog (service type
disaster-recovery), the Keystone token accepted by the services.

One flow: catalog lookup (keystoneauth's get_endpoint from the clouds.yaml alone), site and
plan lists as JSON, a group as YAML, a test failover started by `openstack dr test-failover` and
followed to completion, and an unknown plan's clear error (exit 1, no traceback). The stack
serves on this test's event loop, so each `openstack` run happens in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from lifeboat_cli.demo import DEMO_PROJECT, SOURCE, TARGET, demo_world
from lifeboat_cli.gateway import EMBEDDED_CLOUD, embedded_validator, publish
from lifeboat_cli.stack import Stack
from lifeboat_shared.settings import LifeboatSettings
from tests.integration.cli_orchestrator.test_cli_orchestrator import TIERS, _protect, _until

pytestmark = pytest.mark.timeout(300)

OPENSTACK = str(Path(sys.executable).with_name("openstack"))


class Osc:
    def __init__(self, clouds_yaml: Path, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env = {**env, "OS_CLIENT_CONFIG_FILE": str(clouds_yaml), "OS_CLOUD": EMBEDDED_CLOUD}
        self.cwd = cwd

    async def run(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done = await asyncio.to_thread(
            subprocess.run,
            [OPENSTACK, *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        took = time.monotonic() - started
        print(f"$ openstack {' '.join(args)} -> {done.returncode} ({took:.1f} s)\n{done.stdout}")
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == code, f"openstack {' '.join(args)}:\n{done.stderr}"
        return done

    async def json(self, *args: str) -> Any:
        return json.loads((await self.run(*args, "-f", "json")).stdout)


async def test_openstack_dr_against_the_embedded_stack(tmp_path: Path) -> None:
    with demo_world(tmp_path) as world:
        sites_yaml = world.sites.clouds_yaml
        stack = Stack(
            tmp_path,
            port_base=0,
            overrides={
                "replicator": {"clouds_yaml": sites_yaml},
                "policy": {"clouds_yaml": sites_yaml},
                "orchestrator": {
                    "clouds_yaml": sites_yaml,
                    "runner_interval_seconds": 0.1,
                    "step_backoff_seconds": 0.2,
                },
            },
            token_validator=lambda: embedded_validator(
                LifeboatSettings(data_dir=tmp_path), sites_yaml, f"{SOURCE}-admin"
            ),
        )
        await stack.start()
        try:
            clouds = await publish(
                stack.gateway.url, sites_yaml, f"{SOURCE}-admin", tmp_path / "clouds.yaml"
            )
            # a Keystone login only: Lifeboat's endpoint comes from the catalog
            entry = yaml.safe_load(clouds.read_text())["clouds"][EMBEDDED_CLOUD]
            assert set(entry) == {"auth", "region_name", "identity_api_version", "interface"}
            await _drive(Osc(clouds, tmp_path), stack, world, clouds)
        finally:
            await stack.stop()


async def _drive(osc: Osc, stack: Stack, world: Any, clouds: Path) -> None:
    base = stack.gateway.url
    # The catalog: Lifeboat's one endpoint under its service type, found by keystoneauth.
    from openstack.config import OpenStackConfig

    region = OpenStackConfig(config_files=[str(clouds)]).get_one(cloud=EMBEDDED_CLOUD)
    session = region.get_session()
    assert session.get_endpoint(service_type="disaster-recovery", interface="public") == base

    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {stack.token}"}, timeout=60
    ) as client:
        ids = await _protect(client, "/policy", world)
        spec = {
            "name": "shop",
            "project_id": DEMO_PROJECT,
            "groups": [ids["group"]],
            "source_site": SOURCE,
            "target_sites": [TARGET],
            "tiers": [{"name": t, "servers": [ids[t]]} for t in TIERS],
            "network_mappings": [{"source_network": "private", "ip_mode": "keep"}],
        }

        async def created() -> Any:
            r = await client.post("/orchestrator/v1/plans", json=spec)
            return r.json() if r.status_code == 201 else None

        plan = await _until("plan created", created)

        # The `openstack` runs (seconds of CPU each) overlap the wait for a verified CP.
        batch = asyncio.gather(
            osc.json("dr", "site", "list"),
            osc.json("dr", "plan", "list"),
            osc.run("dr", "group", "show", "shop", "-f", "yaml"),
            osc.run("dr", "test-failover", "no-such-plan", code=1),
        )

        async def ready() -> bool:
            r = await client.post(f"/orchestrator/v1/plans/{plan['id']}/readiness")
            return r.status_code == 200 and bool(r.json()["readiness"]["ready"])

        await _until("plan ready (a verified CP at site-b)", ready, timeout=120)
        sites, plans, group, unknown = await batch
        assert {s["site_id"]: s["state"] for s in sites} == {SOURCE: "up", TARGET: "up"}
        assert [(p["id"], p["name"]) for p in plans] == [(plan["id"], "shop")]
        shown = yaml.safe_load(group.stdout)
        assert shown["id"] == ids["group"] and shown["source_site"] == SOURCE
        assert "No plan with a name or ID of 'no-such-plan' exists." in unknown.stderr
        started = await osc.json("dr", "test-failover", "shop")
        assert started["kind"] == "test-failover" and started["plan_id"] == plan["id"]

        async def ended() -> Any:
            r = await client.get(f"/orchestrator/v1/executions/{started['id']}")
            return r.json()["state"] != "running"

        await _until("test failover ended", ended, timeout=120)
    shown_execution = await osc.json("dr", "execution", "show", started["id"])
    assert shown_execution["state"] == "succeeded", shown_execution
    assert shown_execution["requested_by"] != "operator"  # the Keystone user, not the dev token
