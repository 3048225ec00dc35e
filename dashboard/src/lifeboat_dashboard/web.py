"""What every page shares: the session, the API client, rendering, safety headers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from lifeboat_dashboard import session
from lifeboat_dashboard.api import Api, ApiError, Unauthenticated
from lifeboat_dashboard.config import DashboardConfig

T = TypeVar("T")
HERE = Path(__file__).parent
ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
ROLE_RANK = {"reader": 0, "member": 1, "admin": 2}


def config_of(request: Request) -> DashboardConfig:
    config: DashboardConfig = request.app.state.config
    return config


@dataclass
class Ctx:
    request: Request
    data: dict[str, Any]  # the session
    api: Api

    @property
    def role(self) -> str:
        return str(self.data.get("role", "reader"))

    def can(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[role]

    async def section(self, call: Awaitable[T], default: T) -> tuple[T, str | None]:
        """One part of a page: its data, or the default and why (the page still renders)."""
        try:
            return await call, None
        except Unauthenticated:
            raise
        except ApiError as exc:
            return default, str(exc)

    async def gather(self, *calls: Awaitable[Any]) -> list[Any]:
        return list(await asyncio.gather(*calls))


def context(request: Request) -> Ctx | None:
    data = session.load(request, config_of(request))
    token = data.get("token")
    if not isinstance(token, str) or not token:
        return None
    client: httpx.AsyncClient = request.app.state.http
    return Ctx(request, data, Api(client, config_of(request), token))


def render(
    ctx: Ctx | None,
    template: str,
    status: int = 200,
    *,
    anon: tuple[Request, dict[str, Any]] | None = None,
    **values: Any,
) -> HTMLResponse:
    """A page; ``anon``: the request and session of a visitor not signed in (login form)."""
    data = ctx.data if ctx is not None else (anon[1] if anon else {})
    values.setdefault("user", data.get("user"))
    values.setdefault("role", data.get("role"))
    values.setdefault("can_member", ctx.can("member") if ctx else False)
    values.setdefault("can_admin", ctx.can("admin") if ctx else False)
    values["csrf"] = session.csrf_of(data)
    html = ENV.get_template(template).render(**values)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if ctx is not None:
        session.save(response, data, config_of(ctx.request))
    elif anon is not None:
        session.save(response, data, config_of(anon[0]))
    return response


def to_login(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    session.clear(response)
    return response


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form (the only kind the pages post), first value of each field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
