"""Linked bubbles (UC3b) over real Kafka, PostgreSQL and cloudsim: a plan whose database group
has its CPs only at site-c and whose app group has them only at site-b. Its bubble test recovers
each group where its CP is, links the two bubbles with IPsec (the connections go ACTIVE), and
from inside the app server's guest in site-b's bubble a TCP connection to the database's address
reaches the database copy in site-c's bubble (not production's), while a production address
outside the bubbles is unreachable. The cleanup leaves both DR sites as they were, VPN resources
included."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifeboat_shared.cloud import CloudProject
from tests.integration.orchestrator.harness import (
    AUTH,
    App,
    Orchestrated,
    create_plan,
    inventory,
    orchestrated,
    replica_cp,
)

pytestmark = pytest.mark.timeout(300)
A, B, C = "site-a", "site-b", "site-c"
GUEST = {"cloudsim:guest_services": "true"}


async def _server(
    project: CloudProject, name: str, network: str, cidr: str, ip: str
) -> tuple[str, str, str]:
    """(server id, boot volume id, ip): one VM with guest services on its own network."""
    net = await project.network.create_network(network)
    subnet = await project.network.create_subnet(net.id, cidr, name=f"{network}-sub")
    flavor = (await project.compute.list_flavors())[0]
    vol = await project.block_storage.create_volume(1, name=f"{name}-root", bootable=True)
    port = await project.network.create_port(net.id, name=name, fixed_ips=[(subnet.id, ip)])
    server = await project.compute.create_server(
        name, flavor.id or flavor.name, boot_volume_id=vol.id, port_ids=[port.id], metadata=GUEST
    )
    return server.id, vol.id, ip


async def _start(o: Orchestrated, plan_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Start an execution once the CPs (through Kafka) are in the orchestrator's catalog."""
    deadline = time.monotonic() + 60
    while True:
        r = await o.client.post(f"{o.base}/v1/plans/{plan_id}/executions", json=body, headers=AUTH)
        if r.status_code < 300:
            return await o.wait(r.json()["id"])
        assert r.status_code == 409 and time.monotonic() < deadline, r.text
        await asyncio.sleep(0.3)


def _connect(o: Orchestrated, site: str, server_id: str, address: str) -> httpx.Response:
    """``connect`` run inside the guest (cloudsim's guest service of that server)."""
    deadline = time.monotonic() + 30
    while True:
        with o.sites.sites[site].admin() as admin:
            port = admin.get(f"/servers/{server_id}/guest").json().get("services_port")
        if port:
            return httpx.post(
                f"http://127.0.0.1:{port}/exec",
                json={"command": "connect", "address": address},
                timeout=10,
            )
        assert time.monotonic() < deadline, f"guest services of {server_id} never started"
        time.sleep(0.2)


async def _vpn(o: Orchestrated, site: str) -> dict[str, list[Any]]:
    project = await o.project(site)
    kinds = ("site_connection", "endpoint_group", "vpn_service", "ipsec_policy", "ike_policy")
    return {k: list(await project.vpn.list(k)) for k in kinds}


async def test_linked_bubbles_reach_each_other_and_not_production(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    t0 = time.monotonic()
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, [A, B, C]) as o:
        up_s = time.monotonic() - t0
        prod = await o.project(A)
        app_id, app_vol, _app_ip = await _server(
            prod, "shop-app", "app-net", "10.61.0.0/24", "10.61.0.10"
        )
        db_id, db_vol, db_ip = await _server(
            prod, "shop-db", "db-net", "10.62.0.0/24", "10.62.0.20"
        )
        _, _, other_ip = await _server(prod, "billing", "billing-net", "10.63.0.0/24", "10.63.0.30")
        app = App({"app": [app_id]}, {app_vol: app_id})
        db = App({"db": [db_id]}, {db_vol: db_id})
        await o.publish(
            [
                await replica_cp(await o.project(B), app, A, B),
                await replica_cp(await o.project(C), db, A, C),
            ]
        )
        body = {
            "name": "shop",
            "project_id": "demo",
            "groups": [app.group, db.group],
            "source_site": A,
            "target_sites": [B, C],
            "tiers": [
                {"name": "db", "servers": [db_id]},
                {"name": "app", "servers": [app_id], "depends_on": ["db"]},
            ],
        }
        plan = await create_plan(o.client, o.base, body)
        before = {s: await inventory(o.sites, s) for s in (A, B, C)}
        setup_s = time.monotonic() - t0

        started = time.monotonic()
        test = await _start(o, plan["id"], {"kind": "test-failover"})
        assert test["state"] == "succeeded", test["error"]
        steps = {s["id"]: s for s in test["steps"]}
        assert steps["network"]["site"] == B and steps[f"network@{C}"]["site"] == C
        link = steps["link-bubbles"]
        assert link["state"] == "succeeded" and link["result"]["connections"] == 2
        assert link["result"]["sites"][B]["cidrs"] == ["10.61.0.0/24"]
        assert link["result"]["sites"][C]["cidrs"] == ["10.62.0.0/24"]
        assert "psk" not in str(test).lower()
        bubble_app = steps[f"recover:{app_id}"]["result"]["server_id"]
        bubble_db = steps[f"recover:{db_id}"]["result"]["server_id"]
        assert steps[f"recover:{app_id}"]["site"] == B and steps[f"recover:{db_id}"]["site"] == C
        for site in (B, C):
            conns = (await _vpn(o, site))["site_connection"]
            assert [c.status for c in conns] == ["ACTIVE"], conns

        # From inside: the app's guest at site-b reaches the database's address in site-c's
        # bubble (its copy answers, not production's), and the way back works too.
        r = _connect(o, B, bubble_app, db_ip)
        assert r.status_code == 200, r.text
        reached = r.json()["result"]
        assert reached["server_id"] == bubble_db != db_id and reached["site"] == C
        assert reached["via"].startswith("ipsec ")
        back = _connect(o, C, bubble_db, "10.61.0.10")
        assert back.status_code == 200 and back.json()["result"]["server_id"] == bubble_app
        # Production outside the bubbles: no path from either bubble.
        for site, server in ((B, bubble_app), (C, bubble_db)):
            r = _connect(o, site, server, other_ip)
            assert r.status_code == 504 and r.json()["result"]["reason"] == "no route to host"
        linked_s = time.monotonic() - started
        # The per-test PSK (read back from the cloud, which holds it) is nowhere else.
        conn: Any = (await o.project(B)).context.conn
        [psk] = {c.psk for c in conn.network.vpn_ipsec_site_connections()}
        assert len(psk) >= 32
        assert psk not in str(test)
        assert psk not in (tmp_path / "orchestrator.log").read_text(errors="replace")

        cleanup = await o.run(plan["id"], "test-cleanup", test_id=test["id"])
        assert cleanup["state"] == "succeeded", cleanup["error"]
        assert {s["id"] for s in cleanup["steps"]} == {"teardown", f"teardown@{C}"}
        for site in (B, C):
            assert await inventory(o.sites, site) == before[site], f"{site}: nothing left"
            assert all(not v for v in (await _vpn(o, site)).values()), "no VPN resource left"
        assert await inventory(o.sites, A) == before[A], "production untouched"
        print(
            f"sites+orchestrator up {up_s:.1f} s, production+CPs+plan {setup_s - up_s:.1f} s, "
            f"bubbles up+linked+checked {linked_s:.1f} s, total {time.monotonic() - t0:.1f} s"
        )
