"""Sign-in and the actions, each behind a confirmation proportional to its risk, CSRF-checked.

Risk: a test failover, its cleanup and reprotect touch no production: one confirming click.
A failover, planned migration or failback moves production: the plan's name must be typed.
Approving an evacuation wave (admins): one confirming click on a page listing the wave's plans.
A refused confirmation (mistyped name, the API's 409) shows the form again with the reason (200).
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lifeboat_dashboard import session
from lifeboat_dashboard.api import Api, ApiError, Unauthenticated
from lifeboat_dashboard.pages import page
from lifeboat_dashboard.web import SECURITY_HEADERS, Ctx, config_of, context, form, render, to_login

KINDS = {
    # kind: (label, needs the plan's name typed, role)
    "test-failover": ("Test failover (bubble)", False, "member"),
    "test-cleanup": ("Clean up the test bubble", False, "member"),
    "reprotect": ("Reprotect (replicate back)", False, "member"),
    "failover": ("FAILOVER", True, "member"),
    "planned-migration": ("Planned migration", True, "member"),
    "failback": ("Failback", True, "member"),
}


def _redirect(url: str, ctx: Ctx | None = None) -> Response:
    response = RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)
    if ctx is not None:
        session.save(response, ctx.data, config_of(ctx.request))
    return response


async def login_page(request: Request) -> Response:
    # The login form's CSRF secret lives in a session without a token.
    data = session.load(request, config_of(request))
    data.pop("token", None)
    return render(None, "login.html", error=None, anon=(request, data))


async def login(request: Request) -> Response:
    data = session.load(request, config_of(request))
    data.pop("token", None)
    anon = (request, data)
    fields = await form(request)
    if not session.csrf_ok(data, fields.get("csrf")):
        return render(None, "login.html", 403, anon=anon, error="the form expired; try again")
    token = fields.get("token", "").strip()
    if not token:
        return render(None, "login.html", 422, anon=anon, error="token: required")
    api = Api(request.app.state.http, config_of(request), token)
    try:
        role = await api.role()
    except Unauthenticated:
        return render(None, "login.html", 401, anon=anon, error="token: refused by the APIs")
    except ApiError as exc:
        return render(None, "login.html", 503, anon=anon, error=f"cannot sign in now: {exc}")
    fresh = {"token": token, "role": role, "csrf": secrets.token_urlsafe(24)}
    fresh["user"] = f"{role} ({token[:2]}…)"  # never the token itself
    response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
    session.save(response, fresh, config_of(request))
    return response


async def logout(request: Request) -> Response:
    ctx = context(request)
    fields = await form(request)
    if ctx is not None and not session.csrf_ok(ctx.data, fields.get("csrf")):
        return render(ctx, "error.html", 403, message="csrf: the form expired; try again")
    return to_login(request)


def _kind(ctx: Ctx, kind: str) -> tuple[str, bool, str] | None:
    spec = KINDS.get(kind)
    return spec if spec is not None and ctx.can(spec[2]) else None


@page
async def confirm_execution(ctx: Ctx) -> Response:
    plan_id = ctx.request.path_params["plan_id"]
    kind = ctx.request.query_params.get("kind", "")
    spec = _kind(ctx, kind)
    if spec is None:
        return render(ctx, "error.html", 403, message=f"kind: {kind!r} is not yours to start")
    plan, err = await ctx.section(ctx.api.get("orchestrator", f"/v1/plans/{plan_id}"), None)
    if plan is None:
        return render(ctx, "error.html", 404, message=err)
    return render(
        ctx, "confirm_execution.html", nav="plans", plan=plan, kind=kind, label=spec[0],
        typed=spec[1], test_id=ctx.request.query_params.get("test_id", ""),
        key=secrets.token_urlsafe(16), error=None,
    )  # fmt: skip


@page
async def start_execution(ctx: Ctx) -> Response:
    plan_id = ctx.request.path_params["plan_id"]
    fields = await form(ctx.request)
    if not session.csrf_ok(ctx.data, fields.get("csrf")):
        return render(ctx, "error.html", 403, message="csrf: the form expired; try again")
    kind = fields.get("kind", "")
    spec = _kind(ctx, kind)
    if spec is None:
        return render(ctx, "error.html", 403, message=f"kind: {kind!r} is not yours to start")
    plan, err = await ctx.section(ctx.api.get("orchestrator", f"/v1/plans/{plan_id}"), None)
    if plan is None:
        return render(ctx, "error.html", 404, message=err)
    again: dict[str, Any] = {
        "nav": "plans", "plan": plan, "kind": kind, "label": spec[0], "typed": spec[1],
        "test_id": fields.get("test_id", ""), "key": fields.get("key", ""),
    }  # fmt: skip
    if spec[1] and fields.get("confirm_name", "") != plan["name"]:
        return render(ctx, "confirm_execution.html", **again,
                      error=f"confirm_name: type the plan's name, {plan['name']}")  # fmt: skip
    try:
        started = await ctx.api.start_execution(
            plan["id"], kind, fields.get("key", ""), fields.get("test_id") or None
        )
    except Unauthenticated:
        raise
    except ApiError as exc:
        return render(ctx, "confirm_execution.html", **again, error=str(exc))
    return _redirect(f"/executions/{started['id']}", ctx)


@page
async def confirm_approval(ctx: Ctx) -> Response:
    evacuation_id = ctx.request.path_params["evacuation_id"]
    if not ctx.can("admin"):
        return render(ctx, "error.html", 403, message="approving a wave is an admin's")
    evac, err = await ctx.section(
        ctx.api.get("orchestrator", f"/v1/evacuations/{evacuation_id}"), None
    )
    if evac is None:
        return render(ctx, "error.html", 404, message=err)
    wave = next((w for w in evac["waves"] if w["state"] == "awaiting-approval"), None)
    return render(ctx, "confirm_approval.html", nav="evacuations", evac=evac, wave=wave, error=None)


@page
async def approve(ctx: Ctx) -> Response:
    evacuation_id = ctx.request.path_params["evacuation_id"]
    fields = await form(ctx.request)
    if not session.csrf_ok(ctx.data, fields.get("csrf")):
        return render(ctx, "error.html", 403, message="csrf: the form expired; try again")
    try:
        await ctx.api.call("orchestrator", "POST", f"/v1/evacuations/{evacuation_id}/approve")
    except Unauthenticated:
        raise
    except ApiError as exc:
        return render(ctx, "error.html", exc.status or 503, message=str(exc))
    return _redirect("/evacuations", ctx)


__all__ = ["KINDS", "to_login"]
