"""Roles: one oslo.policy rule per /v1 operation, checked by a router-level dependency.

The rule comes from the route's method and path template (authz_rules.py); an operation whose
rule depends on a body field (an execution's kind) reads the already-parsed JSON body. No token ->
401, a token whose principal the rule refuses -> 403 naming the rule.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.routing import APIRoute
from oslo_config import cfg
from oslo_policy import policy

from lifeboat_shared.service.auth import Principal, require_principal
from lifeboat_shared.service.authz_rules import BASE_RULES, OPERATIONS, Operation, operation_for

log = logging.getLogger(__name__)

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token, or an invalid, expired or revoked one"},
    403: {"description": "The token's roles do not satisfy this operation's rule (named)"},
    503: {"description": "The identity service (Keystone) cannot validate tokens right now"},
}

_DECISIONS_MAX = 10_000
_NO_FILE = "/nonexistent/lifeboat-policy-defaults-only.yaml"


def rule_defaults(service: str) -> list[policy.RuleDefault]:
    rules = [
        policy.RuleDefault(name, check, description=d) for name, (check, d) in BASE_RULES.items()
    ]
    for op in OPERATIONS.get(service, ()):
        rules.append(policy.RuleDefault(op.rule, f"rule:{op.role}", description=op.description))
        for value, role in op.variants.items():
            rules.append(
                policy.RuleDefault(f"{op.rule}:{value}", f"rule:{role}", description=op.description)
            )
    return rules


def credentials(principal: Principal) -> dict[str, Any]:
    return {
        "user_id": principal.user_id,
        "project_id": principal.project_id,
        "roles": sorted(principal.roles),
        "scope": principal.scope,
    }


class Authorizer:
    """The service's oslo.policy enforcer: defaults from the table, overrides from policy_file."""

    def __init__(self, service: str, policy_file: Path | None = None) -> None:
        self.service = service
        conf = cfg.ConfigOpts()
        conf([], project="lifeboat", default_config_files=[], default_config_dirs=[])
        path = str(Path(policy_file).resolve()) if policy_file is not None else _NO_FILE
        if policy_file is not None and not Path(path).is_file():
            raise ValueError(f"policy_file: {policy_file} does not exist")
        self._enforcer = policy.Enforcer(conf, policy_file=path, use_conf=True)
        conf.set_override("policy_dirs", [], group="oslo_policy")
        self._enforcer.register_defaults(rule_defaults(service))
        self._enforcer.load_rules()
        # Rules are read once, at start-up: enforce() would otherwise look for the file (and
        # policy.d directories) on every request.
        self._enforcer.use_conf = False
        self._decisions: dict[tuple[str, str, str | None, frozenset[str], str], bool] = {}

    def allowed(
        self, rule: str, principal: Principal, target: dict[str, Any] | None = None
    ) -> bool:
        if target is not None:
            return bool(self._enforcer.enforce(rule, target, credentials(principal)))
        # The target is the principal's own project, so the answer depends only on these:
        key = (rule, principal.user_id, principal.project_id, principal.roles, principal.scope)
        hit = self._decisions.get(key)
        if hit is None:
            own = {"project_id": principal.project_id}
            hit = bool(self._enforcer.enforce(rule, own, credentials(principal)))
            if len(self._decisions) >= _DECISIONS_MAX:
                self._decisions.clear()
            self._decisions[key] = hit
        return hit

    def rule_name(self, op: Operation, body: Any) -> str:
        if op.by_body_field and isinstance(body, dict):
            value = body.get(op.by_body_field)
            if isinstance(value, str) and value in op.variants:
                return f"{op.rule}:{value}"
        return op.rule

    def ensure_default(self, rule: str, role: str) -> None:
        """Register the fail-safe default of a route missing from the table (once)."""
        if rule not in self._enforcer.registered_rules:
            self._enforcer.register_default(policy.RuleDefault(rule, f"rule:{role}"))
            self._enforcer.load_rules(force_reload=True)
            self._enforcer.use_conf = False
            self._decisions.clear()


def route_templates(app: FastAPI) -> dict[int, str]:
    """Each API route's full path template (prefixes included), keyed by the route object the
    request scope carries; FastAPI >= 0.16x keeps included routers unflattened."""
    out: dict[int, str] = {}
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI flattens included routes into app.routes
        for route in app.routes:
            if isinstance(route, APIRoute):
                out[id(route)] = route.path_format
        return out
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, APIRoute) and ctx.path_format:
            out[id(ctx.original_route)] = ctx.path_format
    return out


async def _json_body(request: Request) -> Any:
    try:
        raw = await request.body()  # FastAPI has read and cached it before dependencies run
        return json.loads(raw) if raw else None
    except (ValueError, RuntimeError):
        return None


async def authorize(
    request: Request, principal: Annotated[Principal, Depends(require_principal)]
) -> Principal:
    authorizer: Authorizer = request.app.state.authorizer
    route = request.scope.get("route")
    templates: dict[int, str] = getattr(request.app.state, "route_templates", {})
    path = templates.get(id(route)) or (route.path if isinstance(route, APIRoute) else "?")
    op = operation_for(authorizer.service, request.method, path)
    body = await _json_body(request) if op.by_body_field else None
    rule = authorizer.rule_name(op, body)
    authorizer.ensure_default(rule, op.role)
    if not authorizer.allowed(rule, principal):
        log.info("authz.denied", extra={"rule": rule, "user": principal.user_id, "path": path})
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"policy does not allow {rule} for this token (roles: "
            f"{', '.join(sorted(principal.roles)) or 'none'})",
        )
    return principal


Authorized = Annotated[Principal, Depends(authorize)]


def allowed(request: Request, rule: str, principal: Principal) -> bool:
    """Check another rule inside a route, e.g. ``lifeboat:all-projects`` before a cross-project
    view or acting for another project (the operator can override it like any rule)."""
    authorizer: Authorizer = request.app.state.authorizer
    return authorizer.allowed(rule, principal)
