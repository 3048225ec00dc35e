"""Every /v1 operation's oslo.policy rule and its default role, one table keyed by service.

Rule names are ``<service>:<resource>:<action>``; each defaults to one of the base rules
``rule:reader``, ``rule:member`` or ``rule:admin`` (admin implies member implies reader).
Operators override any of them in `policy_file` with oslo.policy's rule syntax. A route missing
from this table still gets a rule (``<service>:<METHOD> <path>``: reader for GET, admin
otherwise) and tests/integration/service/test_authz_matrix.py fails until it is listed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["reader", "member", "admin"]

BASE_RULES: dict[str, tuple[str, str]] = {
    "admin": ("role:admin", "Lifeboat administrator (operator, service credentials)"),
    "member": ("role:member or rule:admin", "Manages its project's DR resources"),
    "reader": ("role:reader or rule:member", "Reads its project's DR resources"),
    "lifeboat:all-projects": (
        "rule:admin",
        "Cross-project views and acting for another project (used by tenant scoping)",
    ),
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    rule: str
    role: Role
    description: str
    # The rule depends on a body field's value: value -> role (rule name "<rule>:<value>");
    # a value not listed is checked against `role` under `rule`.
    by_body_field: str | None = None
    variants: dict[str, Role] = field(default_factory=dict)


def _op(method: str, path: str, rule: str, role: Role, description: str) -> Operation:
    return Operation(method, path, rule, role, description)


_KINDS: dict[str, Role] = {
    "test-failover": "member",
    "test-cleanup": "member",
    "failover": "admin",
    "planned-migration": "admin",
    "reprotect": "admin",
    "failback": "admin",
    "reconcile": "admin",
}

OPERATIONS: dict[str, tuple[Operation, ...]] = {
    "policy": (
        _op("GET", "/v1/sites", "policy:site:list", "reader", "List sites"),
        _op("POST", "/v1/sites", "policy:site:create", "admin", "Register a site"),
        _op("PUT", "/v1/sites/{site_id}", "policy:site:update", "admin", "Create/update a site"),
        _op("GET", "/v1/sites/{site_id}", "policy:site:get", "reader", "Show a site"),
        _op("GET", "/v1/policies", "policy:policy:list", "reader", "List policies"),
        _op("POST", "/v1/policies", "policy:policy:create", "member", "Create a policy"),
        _op("GET", "/v1/policies/{policy_id}", "policy:policy:get", "reader", "Show a policy"),
        _op("DELETE", "/v1/policies/{policy_id}", "policy:policy:delete", "member", "Delete"),
        _op("POST", "/v1/protection-groups", "policy:group:create", "member", "Create a group"),
        _op("GET", "/v1/protection-groups", "policy:group:list", "reader", "List groups"),
        _op("PUT", "/v1/protection-groups/{group_id}/members", "policy:group:set-members",
            "member", "Replace a group's members"),
        _op("GET", "/v1/protection-groups/{group_id}", "policy:group:get", "reader", "Show"),
        _op("DELETE", "/v1/protection-groups/{group_id}", "policy:group:delete", "member",
            "Delete a group"),
        _op("GET", "/v1/protection-groups/{group_id}/status", "policy:group:status", "reader",
            "A group's RPO status"),
        _op("POST", "/v1/protection-groups/{group_id}/replicate-now",
            "policy:group:replicate-now", "member", "Ask for a CP now"),
        _op("POST", "/v1/protection-groups/{group_id}/suspend", "policy:group:suspend",
            "member", "Suspend a group"),
        _op("POST", "/v1/protection-groups/{group_id}/resume", "policy:group:resume", "member",
            "Resume a group"),
        _op("POST", "/v1/site-links/{source}/{target}/suspend", "policy:site-link:suspend",
            "admin", "Suspend a site link (every project's groups on it)"),
        _op("POST", "/v1/site-links/{source}/{target}/resume", "policy:site-link:resume",
            "admin", "Resume a site link"),
        _op("POST", "/v1/app-sets", "policy:app-set:create", "member", "Create an app set"),
        _op("GET", "/v1/app-sets", "policy:app-set:list", "reader", "List app sets"),
        _op("GET", "/v1/app-sets/{set_id}", "policy:app-set:get", "reader", "Show an app set"),
        _op("DELETE", "/v1/app-sets/{set_id}", "policy:app-set:delete", "member", "Delete"),
    ),
    "replicator": (
        _op("GET", "/v1/replication-cycles", "replicator:cycle:list", "reader", "List cycles"),
        _op("GET", "/v1/replication-cycles/{cycle_id}", "replicator:cycle:get", "reader",
            "Show a cycle"),
        _op("GET", "/v1/consistency-points", "replicator:cp:list", "reader", "List CPs"),
        _op("GET", "/v1/consistency-points/{cp_id}", "replicator:cp:get", "reader", "Show a CP"),
        _op("POST", "/v1/restores", "replicator:restore:create", "member",
            "Restore a point in time into new volumes"),
    ),
    "orchestrator": (
        _op("GET", "/v1/plans", "orchestrator:plan:list", "reader", "List plans"),
        _op("POST", "/v1/plans", "orchestrator:plan:create", "member", "Create a plan"),
        _op("GET", "/v1/plans/{plan_id}", "orchestrator:plan:get", "reader", "Show a plan"),
        _op("DELETE", "/v1/plans/{plan_id}", "orchestrator:plan:delete", "member", "Delete"),
        _op("POST", "/v1/plans/{plan_id}/refresh", "orchestrator:plan:refresh", "member",
            "Capture the servers again"),
        _op("POST", "/v1/plans/{plan_id}/readiness", "orchestrator:plan:readiness", "member",
            "Dry run of a recovery"),
        Operation("POST", "/v1/plans/{plan_id}/executions", "orchestrator:execution:create",
                  "admin", "Start an execution (rule per kind)", "kind", _KINDS),
        _op("GET", "/v1/executions", "orchestrator:execution:list", "reader", "List"),
        _op("GET", "/v1/executions/{execution_id}", "orchestrator:execution:get", "reader",
            "Show an execution"),
        _op("GET", "/v1/evacuations", "orchestrator:evacuation:list", "admin",
            "List evacuations (cross-project)"),
        _op("POST", "/v1/evacuations", "orchestrator:evacuation:create", "admin",
            "Evacuate a site"),
        _op("GET", "/v1/evacuations/{evacuation_id}", "orchestrator:evacuation:get", "admin",
            "Show an evacuation (cross-project)"),
        _op("POST", "/v1/evacuations/{evacuation_id}/approve",
            "orchestrator:evacuation:approve", "admin", "Approve the next wave"),
        _op("GET", "/v1/sites", "orchestrator:site:list", "reader", "Sites and their health"),
        _op("POST", "/v1/sites/{site_id}/declare-down", "orchestrator:site:declare-down",
            "admin", "Declare a site down"),
        _op("POST", "/v1/sites/{site_id}/declare-up", "orchestrator:site:declare-up", "admin",
            "Declare a site up"),
        _op("POST", "/v1/alerts/alertmanager", "orchestrator:alerts:alertmanager", "admin",
            "Alertmanager webhook (service credentials)"),
        _op("GET", "/v1/sites/{site_id}/health", "orchestrator:site:health", "reader",
            "A site's health hysteresis"),
        _op("GET", "/v1/site-links", "orchestrator:site-link:list", "reader",
            "Site links and partitions"),
    ),
    "verifier": (
        _op("GET", "/v1/test-runs", "verifier:test-run:list", "reader", "Bubble test runs"),
        _op("GET", "/v1/test-reports", "verifier:test-report:list", "reader",
            "Signed test reports"),
        _op("GET", "/v1/test-reports/{report_id}", "verifier:test-report:get", "reader",
            "Download a signed test report (JSON or HTML)"),
        _op("GET", "/v1/signing-key", "verifier:signing-key:get", "reader",
            "The report signing key (public)"),
        _op("GET", "/v1/test-runs/{test_id}", "verifier:test-run:get", "reader", "A test run"),
        _op("POST", "/v1/test-definitions", "verifier:test-definition:create", "member",
            "Define a bubble test"),
        _op("GET", "/v1/test-definitions", "verifier:test-definition:list", "reader",
            "Test definitions"),
        _op("GET", "/v1/test-definitions/{definition_id}", "verifier:test-definition:get",
            "reader", "A test definition"),
        _op("PATCH", "/v1/test-definitions/{definition_id}", "verifier:test-definition:update",
            "member", "Change a test definition"),
        _op("DELETE", "/v1/test-definitions/{definition_id}", "verifier:test-definition:delete",
            "member", "Delete a test definition"),
        _op("POST", "/v1/test-definitions/{definition_id}/runs", "verifier:test-run:create",
            "member", "Run a bubble test now"),
    ),
    "billing": (
        _op("GET", "/v1/usage", "billing:usage:get", "reader", "Usage ledger and totals"),
        _op("GET", "/v1/rate-cards", "billing:rate-card:list", "reader", "List rate cards"),
        _op("POST", "/v1/rate-cards", "billing:rate-card:create", "admin",
            "Create a rate card version"),
        _op("GET", "/v1/rate-cards/{version}", "billing:rate-card:get", "reader",
            "Show a rate card"),
        _op("GET", "/v1/invoices", "billing:invoice:list", "reader", "List invoices"),
        _op("GET", "/v1/invoices/{project_id}/{period}", "billing:invoice:get", "reader",
            "Show or export an invoice"),
        _op("POST", "/v1/invoices/{project_id}/{period}/close", "billing:invoice:close",
            "admin", "Close a month (freeze its invoice)"),
        _op("GET", "/v1/invoices/{project_id}/{period}/lines/{line_id}/usage",
            "billing:invoice:line-usage", "reader", "Usage behind an invoice line"),
        _op("GET", "/v1/invoice-reports/{project_id}", "billing:invoice:report", "reader",
            "Rated usage over any range"),
    ),
}  # fmt: skip


def operation_for(service: str, method: str, path: str) -> Operation:
    """The table's operation, or the fail-safe default for a route not listed."""
    for op in OPERATIONS.get(service, ()):
        if op.method == method and op.path == path:
            return op
    role: Role = "reader" if method in ("GET", "HEAD") else "admin"
    return Operation(method, path, f"{service}:{method} {path}", role, "not listed")


def listed(service: str, method: str, path: str) -> bool:
    return any(op.method == method and op.path == path for op in OPERATIONS.get(service, ()))


def markdown_table() -> str:
    """The roles x operations table of shared/README.md (a test keeps the two identical)."""
    rank = {"reader": 0, "member": 1, "admin": 2}
    lines = [
        "| service | operation | rule (default) | reader | member | admin |",
        "|---|---|---|---|---|---|",
    ]

    def row(service: str, what: str, rule: str, role: Role) -> str:
        marks = " | ".join("yes" if rank[r] >= rank[role] else "-" for r in rank)
        return f"| {service} | {what} | `{rule}` (`rule:{role}`) | {marks} |"

    for service, ops in OPERATIONS.items():
        for op in ops:
            if op.variants:
                for value, role in op.variants.items():
                    what = f"`{op.method} {op.path}` {op.by_body_field}={value}"
                    lines.append(row(service, what, f"{op.rule}:{value}", role))
            else:
                lines.append(row(service, f"`{op.method} {op.path}`", op.rule, op.role))
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())


def rules_service(name: str) -> str:
    """The service whose rules apply to an app named ``name``: itself, or the service a
    ``<service>_<suffix>`` name derives from (tests give each app its own database schema so)."""
    if name in OPERATIONS:
        return name
    base = name.split("_", 1)[0]
    return base if base in OPERATIONS else name
