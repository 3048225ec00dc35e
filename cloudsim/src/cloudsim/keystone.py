"""Keystone v3 subset: password/token auth with project scope, catalog, token validation,
and read-only listings of projects, users and roles."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudsim.auth import lookup_token
from cloudsim.errors import APIError, bad_request
from cloudsim.keystone_catalog import registered
from cloudsim.state import Res, SiteState, Token
from cloudsim.util import json_body, public

SERVICES = [
    # (type, name, path)
    ("identity", "keystone", "/identity/v3"),
    ("compute", "nova", "/compute/v2.1"),
    ("block-storage", "cinder", "/volume/v3/{project_id}"),
    ("volumev3", "cinderv3", "/volume/v3/{project_id}"),
    ("network", "neutron", "/network"),
    ("image", "glance", "/image"),
    ("dns", "designate", "/dns"),
]


def base_url(state: SiteState) -> str:
    return f"http://{state.config.host}:{state.config.port}"


def catalog(state: SiteState, project_id: str | None) -> list[Res]:
    base = base_url(state)
    region = state.config.region
    out = []
    for i, (stype, name, path) in enumerate(SERVICES):
        url = base + path.replace("{project_id}", project_id or "")
        eps = [
            {
                "id": f"{stype}-{iface}-{i}",
                "interface": iface,
                "region": region,
                "region_id": region,
                "url": url,
            }
            for iface in ("public", "internal", "admin")
        ]
        out.append({"id": f"svc-{i}", "type": stype, "name": name, "endpoints": eps})
    return out + registered(state, project_id)


def _version_doc(state: SiteState) -> Res:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": base_url(state) + "/identity/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def _find_user(state: SiteState, spec: dict[str, Any]) -> Res:
    uid, name = spec.get("id"), spec.get("name")
    for u in state.users.values():
        if (uid and u["id"] == uid) or (name and u["name"] == name):
            return u
    raise APIError(401, "The request you have made requires authentication.")


def _find_project(state: SiteState, spec: dict[str, Any]) -> Res:
    pid, name = spec.get("id"), spec.get("name")
    for p in state.projects.values():
        if (pid and p["id"] == pid) or (name and p["name"] == name):
            return p
    raise APIError(401, f"Could not find project: {pid or name}.")


def _token_body(state: SiteState, tok: Token, *, with_catalog: bool = True) -> Res:
    dom = {"id": "default", "name": "Default"}
    body: Res = {
        "methods": tok.methods,
        "user": {
            "id": tok.user["id"],
            "name": tok.user["name"],
            "domain": dom,
            "password_expires_at": None,
        },
        "audit_ids": [tok.audit_id],
        "expires_at": tok.expires_at,
        "issued_at": tok.issued_at,
    }
    if tok.project is not None:
        body["project"] = {"id": tok.project["id"], "name": tok.project["name"], "domain": dom}
        body["is_domain"] = False
        body["roles"] = [{"id": r["id"], "name": r["name"]} for r in tok.roles]
        if with_catalog:
            body["catalog"] = catalog(state, tok.project["id"])
    return {"token": body}


def issue_token(state: SiteState, user: Res, project: Res | None, methods: list[str]) -> Token:
    roles: list[Res] = []
    if project is not None:
        role_ids = [r for (u, p, r) in state.assignments if u == user["id"] and p == project["id"]]
        if not role_ids:
            raise APIError(401, f"User {user['id']} has no access to project {project['id']}")
        roles = [state.roles[r] for r in role_ids]
        # implied roles: admin implies member implies reader
        names = {r["name"] for r in roles}
        for implied in (("admin", "member"), ("member", "reader")):
            if implied[0] in names and implied[1] not in names:
                extra = next((r for r in state.roles.values() if r["name"] == implied[1]), None)
                if extra is not None:
                    roles.append(extra)
                    names.add(implied[1])
    ttl = state.config.token_ttl_s
    now = dt.datetime.now(dt.UTC)
    tok = Token(
        token_id="gAAAA" + secrets.token_urlsafe(48),
        user=user,
        project=project,
        roles=roles,
        methods=methods,
        issued_at=now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
        expires_at=(now + dt.timedelta(seconds=ttl)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
        expires_ts=time.time() + ttl,
        audit_id=secrets.token_urlsafe(16),
    )
    state.tokens[tok.token_id] = tok
    return tok


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/identity")

    @r.get("")
    @r.get("/")
    async def versions() -> Response:
        return JSONResponse({"versions": {"values": [_version_doc(state)]}}, status_code=300)

    @r.get("/v3")
    @r.get("/v3/")
    async def version() -> Res:
        return {"version": _version_doc(state)}

    @r.post("/v3/auth/tokens")
    async def create_token(request: Request) -> Response:
        body = await json_body(request)
        auth = body.get("auth")
        if not isinstance(auth, dict) or not isinstance(auth.get("identity"), dict):
            raise bad_request("Invalid input for field 'auth': 'identity' is a required property")
        identity = auth["identity"]
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods:
            raise bad_request("Invalid input for field 'identity': 'methods' is required")
        user: Res
        if "password" in methods:
            spec = identity.get("password", {}).get("user")
            if not isinstance(spec, dict):
                raise bad_request("Invalid input for field 'password': 'user' is required")
            user = _find_user(state, spec)
            if spec.get("password") != user["_password"]:
                raise APIError(401, "The request you have made requires authentication.")
        elif "token" in methods:
            old = lookup_token(state, (identity.get("token") or {}).get("id"))
            user = old.user
        else:
            raise APIError(401, f"Unsupported authentication methods {methods}.")
        scope = auth.get("scope")
        project = None
        if isinstance(scope, dict) and isinstance(scope.get("project"), dict):
            project = _find_project(state, scope["project"])
        elif scope not in (None, "unscoped") and not isinstance(scope, dict):
            raise bad_request("Invalid input for field 'scope'")
        tok = issue_token(state, user, project, methods)
        return JSONResponse(
            _token_body(state, tok), status_code=201, headers={"X-Subject-Token": tok.token_id}
        )

    @r.get("/v3/auth/tokens")
    @r.head("/v3/auth/tokens")
    async def validate_token(request: Request) -> Response:
        lookup_token(state, request.headers.get("x-auth-token"))
        subject = request.headers.get("x-subject-token")
        try:
            tok = lookup_token(state, subject)
        except APIError:
            raise APIError(404, f"Could not find token: {subject}.") from None
        nocat = "nocatalog" in request.query_params
        return JSONResponse(
            _token_body(state, tok, with_catalog=not nocat),
            headers={"X-Subject-Token": tok.token_id},
        )

    @r.delete("/v3/auth/tokens", status_code=204)
    async def revoke_token(request: Request) -> Response:
        lookup_token(state, request.headers.get("x-auth-token"))
        subject = request.headers.get("x-subject-token") or ""
        if state.tokens.pop(subject, None) is None:
            raise APIError(404, f"Could not find token: {subject}.")
        return Response(status_code=204)

    @r.get("/v3/auth/catalog")
    async def get_catalog(request: Request) -> Res:
        tok = lookup_token(state, request.headers.get("x-auth-token"))
        return {"catalog": catalog(state, tok.project_id or None)}

    @r.get("/v3/auth/projects")
    async def auth_projects(request: Request) -> Res:
        tok = lookup_token(state, request.headers.get("x-auth-token"))
        pids = {p for (u, p, _) in state.assignments if u == tok.user["id"]}
        return {"projects": [state.projects[p] for p in pids]}

    @r.get("/v3/projects")
    async def list_projects(request: Request) -> Res:
        tok = lookup_token(state, request.headers.get("x-auth-token"))
        projects = list(state.projects.values())
        if not tok.is_admin:
            projects = [p for p in projects if p["id"] == tok.project_id]
        name = request.query_params.get("name")
        if name:
            projects = [p for p in projects if p["name"] == name]
        return {"projects": projects, "links": {"self": None, "next": None, "previous": None}}

    @r.get("/v3/projects/{project_id}")
    async def show_project(project_id: str, request: Request) -> Res:
        tok = lookup_token(state, request.headers.get("x-auth-token"))
        p = state.projects.get(project_id)
        if p is None or not (tok.is_admin or tok.project_id == project_id):
            raise APIError(404, f"Could not find project: {project_id}.")
        return {"project": p}

    @r.get("/v3/users")
    async def list_users(request: Request) -> Res:
        tok = lookup_token(state, request.headers.get("x-auth-token"))
        if not tok.is_admin:
            raise APIError(403, "You are not authorized to perform the requested action.")
        return {"users": [public(u) for u in state.users.values()]}

    @r.get("/v3/roles")
    async def list_roles(request: Request) -> Res:
        lookup_token(state, request.headers.get("x-auth-token"))
        return {"roles": list(state.roles.values())}

    @r.get("/v3/domains")
    async def list_domains(request: Request) -> Res:
        lookup_token(state, request.headers.get("x-auth-token"))
        return {"domains": list(state.domains.values())}

    return r
