"""The Keystone validator against cloudsim's Keystone over HTTP: a representative subset of the
authorization matrix with real project-scoped tokens (admin, member, reader), expired and revoked
tokens, the cache bound, an operator's policy file, and Keystone down -> 503 (never 500)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from cloudsim.testing import SiteHandle, running_sites
from lifeboat_cli.stack import SERVICES, Stack
from tests.integration.authz import matrix

pytestmark = pytest.mark.timeout(120)

CACHE_SECONDS = 2.0
SUBSET = {
    ("policy", "GET", "/v1/protection-groups"),
    ("policy", "POST", "/v1/protection-groups"),
    ("policy", "POST", "/v1/sites"),
    ("policy", "POST", "/v1/site-links/{source}/{target}/suspend"),
    ("replicator", "GET", "/v1/consistency-points"),
    ("replicator", "POST", "/v1/restores"),
    ("orchestrator", "GET", "/v1/plans/{plan_id}"),
    ("orchestrator", "POST", "/v1/plans/{plan_id}/executions"),
    ("orchestrator", "GET", "/v1/evacuations"),
    ("orchestrator", "POST", "/v1/alerts/alertmanager"),
    ("verifier", "GET", "/v1/test-runs"),
    ("billing", "GET", "/v1/usage"),
}


async def login(
    client: httpx.AsyncClient, site: SiteHandle, user: str, project: str
) -> tuple[str, datetime]:
    resp = await client.post(
        f"{site.auth_url}/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": user,
                            "password": f"{user}-password",
                            "domain": {"name": "Default"},
                        }
                    },
                },
                "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
            }
        },
    )
    assert resp.status_code == 201, resp.text
    expires = resp.json()["token"]["expires_at"].replace("Z", "+00:00")
    return resp.headers["X-Subject-Token"], datetime.fromisoformat(expires)


async def revoke(client: httpx.AsyncClient, site: SiteHandle, token: str, by: str) -> None:
    resp = await client.delete(
        f"{site.auth_url}/auth/tokens", headers={"X-Auth-Token": by, "X-Subject-Token": token}
    )
    assert resp.status_code == 204, resp.text


async def test_keystone_validator_subset(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"policy:site:list": "rule:admin"\n')  # an operator's override
    with running_sites(["site-a"], tmp_path / "sites") as sites:
        site = sites.sites["site-a"]
        auth = {
            "auth": "keystone",
            "keystone_auth_url": site.auth_url,
            "keystone_username": "admin",
            "keystone_password": "admin-password",
            "keystone_project_name": "admin",
            "keystone_cache_seconds": CACHE_SECONDS,
            "keystone_timeout_seconds": 2.0,
        }
        overrides: dict[str, dict[str, object]] = {name: dict(auth) for name, _ in SERVICES}
        overrides["policy"]["policy_file"] = policy_file
        stack = Stack(tmp_path / "stack", port_base=0, overrides=overrides)
        await stack.start()
        try:
            urls = {s.name: s.url for s in stack.services}
            async with (
                httpx.AsyncClient(timeout=30) as client,
                httpx.AsyncClient(
                    base_url=site.admin_url, headers={"X-Auth-Token": site.admin_token}, timeout=30
                ) as admin_api,
            ):
                tokens: dict[str, str | None] = {"none": None, "garbage": "gAAAAnot-a-token"}
                for ident, user, project in (
                    ("admin", "admin", "admin"),
                    ("member", "demo", "demo"),
                    ("reader", "reader", "demo"),
                ):
                    tokens[ident] = (await login(client, site, user, project))[0]
                admin_token = tokens["admin"]
                assert admin_token is not None
                revoked = (await login(client, site, "demo", "demo"))[0]
                await revoke(client, site, revoked, admin_token)
                tokens["revoked"] = revoked
                (await admin_api.put("/config", json={"token_ttl_s": 1})).raise_for_status()
                try:
                    tokens["expired"], expires = await login(client, site, "demo", "demo")
                finally:
                    (await admin_api.put("/config", json={"token_ttl_s": 3600})).raise_for_status()
                while datetime.now(UTC) <= expires:  # the token's own clock, not a verdict
                    await asyncio.sleep(0.05)

                found = [r for r in await matrix.routes(client, urls) if r in SUBSET]
                assert len(found) == len(SUBSET)
                todo = matrix.cells(found, tokens)
                started = time.monotonic()
                results = await matrix.run(client, urls, todo, tokens, parallel=8)
                took = time.monotonic() - started
                counts: dict[tuple[str, str], int] = {}
                for r in results:
                    key = (r.cell.expected, matrix.verdict(r))
                    counts[key] = counts.get(key, 0) + 1
                print(f"keystone subset: {len(found)} routes, {len(results)} cells, {took:.1f}s")
                print(counts)
                bad = matrix.mismatches(results)
                assert not bad, "\n".join(bad)

                sites_url = f"{urls['policy']}/v1/sites"
                # the policy file: listing sites is admin-only here, 403 names the rule
                as_reader = {"Authorization": f"Bearer {tokens['reader']}"}
                denied = await client.get(sites_url, headers=as_reader)
                assert denied.status_code == 403
                assert "policy:site:list" in denied.json()["detail"]
                as_admin = {"X-Auth-Token": admin_token}  # Keystone clients' header
                assert (await client.get(sites_url, headers=as_admin)).status_code == 200

                # revocation is seen once the cache entry ends (keystone_cache_seconds)
                late, _ = await login(client, site, "demo", "demo")
                groups = f"{urls['policy']}/v1/protection-groups"
                as_late = {"Authorization": f"Bearer {late}"}
                assert (await client.get(groups, headers=as_late)).status_code == 200
                await revoke(client, site, late, admin_token)
                deadline = time.monotonic() + CACHE_SECONDS + 5
                status = 200
                while status == 200 and time.monotonic() < deadline:
                    status = (await client.get(groups, headers=as_late)).status_code
                    await asyncio.sleep(0.1)
                assert status == 401

                # Keystone down: a token not yet validated gets 503 with a clear message
                fresh, _ = await login(client, site, "demo", "demo")
                fresh2, _ = await login(client, site, "reader", "demo")
                for mode, token in (("503", fresh), ("refuse", fresh2)):
                    (await admin_api.post("/down", json={"mode": mode})).raise_for_status()
                    try:
                        resp = await client.get(
                            groups, headers={"Authorization": f"Bearer {token}"}
                        )
                    finally:
                        (await admin_api.post("/up")).raise_for_status()
                    assert resp.status_code == 503, (mode, resp.text)
                    assert "Keystone" in resp.json()["detail"], resp.text
                    assert resp.headers.get("Retry-After")
                    back = await client.get(groups, headers={"Authorization": f"Bearer {token}"})
                    assert back.status_code == 200, back.text
        finally:
            await stack.stop()
