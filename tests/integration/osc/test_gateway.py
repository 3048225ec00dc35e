"""One public endpoint: the embedded stack's gateway serves all five services under
``/<service>`` (no rewriting), and the prefixed paths keep authentication, the oslo.policy rules
and tenant scoping (tokens file principals, as the authz matrix uses)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from lifeboat_cli.stack import SERVICES, Stack
from tests.integration.authz.test_authz_matrix import write_tokens_file

pytestmark = pytest.mark.timeout(120)


async def test_prefixed_paths_answer_and_honour_authz(tmp_path: Path) -> None:
    tokens_file = tmp_path / "tokens.json"
    tokens = write_tokens_file(tokens_file)
    stack = Stack(
        tmp_path,
        port_base=0,
        overrides={name: {"tokens_file": tokens_file} for name, _ in SERVICES},
    )
    await stack.start()
    try:
        base = stack.gateway.url
        assert base not in {s.url for s in stack.services}

        def auth(who: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[who]}"}

        async with httpx.AsyncClient(timeout=30) as c:
            for name, _ in SERVICES:
                health = await c.get(f"{base}/{name}/healthz")
                assert health.status_code == 200 and health.json()["service"] == name
            index = (await c.get(f"{base}/")).json()
            assert index["service_type"] == "disaster-recovery"
            assert set(index["services"]) == {name for name, _ in SERVICES}
            unknown = await c.get(f"{base}/nova/v1/servers")
            assert unknown.status_code == 404 and "names no service" in unknown.json()["detail"]
            # a prefix is a whole path segment
            assert (await c.get(f"{base}/policyx/healthz")).status_code == 404

            plans = f"{base}/orchestrator/v1/plans"
            assert (await c.get(plans)).status_code == 401
            assert (await c.get(plans, headers=auth("garbage"))).status_code == 401
            assert (await c.get(plans, headers=auth("expired"))).status_code == 401
            assert (await c.get(plans, headers=auth("reader"))).json() == []
            refused = await c.post(plans, json={}, headers=auth("reader"))
            assert refused.status_code == 403
            assert "orchestrator:plan:create" in refused.json()["detail"]
            # member passes the rule; the body's validation answers (proof the route ran)
            assert (await c.post(plans, json={}, headers=auth("member"))).status_code == 422
            # admin-only route (site registration) by path template behind the prefix
            site = {"cloud": "site-x", "role": "both"}
            sites = f"{base}/policy/v1/sites/site-x"
            put = await c.put(sites, json=site, headers=auth("member"))
            assert put.status_code == 403 and "policy:site:update" in put.json()["detail"]
            assert (await c.put(sites, json=site, headers=auth("admin"))).status_code in (200, 201)
            # tenancy behind the prefix: a member of project-b acting for project-a is refused
            other = await c.get(
                f"{base}/policy/v1/protection-groups",
                params={"project_id": "project-a"},
                headers=auth("other-member"),
            )
            assert other.status_code == 403 and "project_id" in other.json()["detail"]
            # the services' own ports answer the prefixed paths too (what an ingress forwards)
            own = {s.name: s.url for s in stack.services}
            direct = await c.get(f"{own['verifier']}/verifier/v1/test-runs", headers=auth("reader"))
            assert direct.status_code == 200
            assert (await c.get(f"{own['verifier']}/v1/test-runs")).status_code == 401
            spec = (await c.get(f"{base}/billing/v1/openapi.json")).json()
            assert "/v1/usage" in spec["paths"]
    finally:
        await stack.stop()
