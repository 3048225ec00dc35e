"""The read-only pages: sites, protection groups (RPO chart, CP timeline), plans, executions,
evacuations, bubble tests and usage. Each reads the services' public APIs with the user's token."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lifeboat_dashboard.api import Unauthenticated
from lifeboat_dashboard.charts import rpo_chart, rpo_series
from lifeboat_dashboard.web import Ctx, context, render, to_login

Page = Any


def page(handler: Page) -> Page:
    """Sign-in required; a token the APIs stop accepting (401) ends the session."""

    async def endpoint(request: Request) -> Response:
        ctx = context(request)
        if ctx is None:
            return to_login(request)
        try:
            response: Response = await handler(ctx)
        except Unauthenticated:
            return to_login(request)
        return response

    return endpoint


@page
async def sites(ctx: Ctx) -> Response:
    (catalog, e1), (health, e2), (links, e3) = await ctx.gather(
        ctx.section(ctx.api.get("policy", "/v1/sites"), []),
        ctx.section(ctx.api.get("orchestrator", "/v1/sites"), []),
        ctx.section(ctx.api.get("orchestrator", "/v1/site-links"), {"links": [], "sites": []}),
    )
    state = {s["id"]: s for s in health}
    seen = {s["site_id"]: s for s in links.get("sites", [])}
    rows = []
    for s in catalog:
        declared = state.get(s["site_id"])
        probe = seen.get(s["site_id"], {})
        if declared is None and probe:  # never declared: the health monitor's view
            declared = {"state": probe.get("declared", "up"), "changed_at": "", "declared_by": ""}
        rows.append({**s, "health": declared, "last_healthy_at": probe.get("last_healthy_at")})
    known = {s["site_id"] for s in catalog}
    rows += [{"site_id": h["id"], "health": h} for h in health if h["id"] not in known]
    errors = [e for e in (e1, e2, e3) if e]
    return render(ctx, "sites.html", nav="sites", sites=rows, links=links.get("links", []),
                  errors=errors)  # fmt: skip


async def _group_row(ctx: Ctx, group: dict[str, Any]) -> dict[str, Any]:
    status, err = await ctx.section(
        ctx.api.get("policy", f"/v1/protection-groups/{group['id']}/status"), None
    )
    return {**group, "status": status, "error": err}


@page
async def groups(ctx: Ctx) -> Response:
    found, err = await ctx.section(ctx.api.get("policy", "/v1/protection-groups"), [])
    rows = await ctx.gather(*(_group_row(ctx, g) for g in found))
    return render(ctx, "groups.html", nav="groups", groups=rows, errors=[err] if err else [])


@page
async def group(ctx: Ctx) -> Response:
    group_id = ctx.request.path_params["group_id"]
    (detail, e1), (status, e2), (cps, e3) = await ctx.gather(
        ctx.section(ctx.api.get("policy", f"/v1/protection-groups/{group_id}"), None),
        ctx.section(ctx.api.get("policy", f"/v1/protection-groups/{group_id}/status"), None),
        ctx.section(ctx.api.get("replicator", "/v1/consistency-points", group_id=group_id), []),
    )
    if detail is None:
        return render(ctx, "error.html", 404, nav="groups", message=e1)
    target = float(detail["rpo_target_seconds"])
    series = rpo_series(cps, target, time.time())
    chart = rpo_chart(series, target, f"achieved RPO of {detail['name']} against {target:g} s")
    errors = [e for e in (e2, e3) if e]
    return render(
        ctx, "group.html", nav="groups", group=detail, health=status, cps=cps, chart=chart,
        breaches=series.breaches, errors=errors,
    )  # fmt: skip


@page
async def plans(ctx: Ctx) -> Response:
    found, err = await ctx.section(ctx.api.get("orchestrator", "/v1/plans"), [])
    runs, _ = await ctx.section(ctx.api.get("orchestrator", "/v1/executions"), [])
    open_tests: dict[str, str] = {}  # plan -> its newest succeeded test failover (to clean up)
    for e in runs:
        if e["kind"] == "test-failover" and e["state"] == "succeeded":
            open_tests.setdefault(e["plan_id"], e["id"])
    return render(
        ctx, "plans.html", nav="plans", plans=found, open_tests=open_tests,
        errors=[err] if err else [],
    )  # fmt: skip


@page
async def executions(ctx: Ctx) -> Response:
    found, err = await ctx.section(ctx.api.get("orchestrator", "/v1/executions"), [])
    return render(ctx, "executions.html", nav="executions", executions=found,
                  errors=[err] if err else [])  # fmt: skip


async def _execution(ctx: Ctx) -> tuple[dict[str, Any] | None, str | None]:
    execution_id = ctx.request.path_params["execution_id"]
    found: dict[str, Any] | None
    found, err = await ctx.section(
        ctx.api.get("orchestrator", f"/v1/executions/{execution_id}"), None
    )
    return found, err


@page
async def execution(ctx: Ctx) -> Response:
    found, err = await _execution(ctx)
    if found is None:
        return render(ctx, "error.html", 404, nav="executions", message=err)
    plan, _ = await ctx.section(ctx.api.get("orchestrator", f"/v1/plans/{found['plan_id']}"), None)
    return render(ctx, "execution.html", nav="executions", e=found, plan=plan)


@page
async def execution_live(ctx: Ctx) -> Response:
    """The steps as an HTML fragment, polled by the execution page while it runs."""
    found, err = await _execution(ctx)
    if found is None:
        return render(ctx, "error_fragment.html", 404, message=err)
    return render(ctx, "execution_steps.html", e=found)


async def _evacuations(ctx: Ctx, template: str) -> Response:
    if not ctx.can("admin"):  # the API's rule: evacuations are an admin's
        return render(ctx, template, nav="evacuations", evacuations=[],
                      errors=["evacuations are visible to admins only"])  # fmt: skip
    found, err = await ctx.section(ctx.api.get("orchestrator", "/v1/evacuations"), [])
    return render(ctx, template, nav="evacuations", evacuations=found,
                  errors=[err] if err else [])  # fmt: skip


@page
async def evacuations(ctx: Ctx) -> Response:
    return await _evacuations(ctx, "evacuations.html")


@page
async def evacuations_live(ctx: Ctx) -> Response:
    """The evacuations as an HTML fragment, polled while one is running."""
    return await _evacuations(ctx, "evacuations_list.html")


@page
async def tests(ctx: Ctx) -> Response:
    found, err = await ctx.section(ctx.api.get("verifier", "/v1/test-runs"), [])
    return render(ctx, "tests.html", nav="tests", runs=found, errors=[err] if err else [])


@page
async def usage(ctx: Ctx) -> Response:
    found, err = await ctx.section(
        ctx.api.get("billing", "/v1/usage"), {"totals": {}, "entries": []}
    )
    return render(ctx, "usage.html", nav="usage", usage=found, errors=[err] if err else [])
