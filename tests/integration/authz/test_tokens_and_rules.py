"""Tokens file parsing and matching, the principal from a Keystone token body, and oslo.policy
defaults / overrides / the fail-safe rule of a route missing from the table (no servers)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lifeboat_shared.service.auth import OPERATOR, Principal, StaticTokenValidator
from lifeboat_shared.service.authz import Authorizer
from lifeboat_shared.service.authz_rules import OPERATIONS, markdown_table, operation_for
from lifeboat_shared.service.keystone_auth import principal_from_token
from lifeboat_shared.service.tokens_file import TokensFileError, TokensFileValidator


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def test_tokens_file(tmp_path: Path) -> None:
    f = tmp_path / "tokens.yaml"
    f.write_text(
        f"""tokens:
  - sha256: {digest("alice-token")}
    user: alice
    project_id: p1
    roles: [member]
  - sha256: {digest("old-token")}
    user: old
    project_id: p1
    roles: [reader]
    expires_at: 2020-01-01T00:00:00Z
  - sha256: {digest("op-token")}
    user: op
    roles: [admin]
"""
    )
    v = TokensFileValidator.load(f)
    alice = await v.validate("alice-token")
    assert alice is not None
    assert (alice.user_id, alice.project_id, alice.roles) == ("alice", "p1", frozenset({"member"}))
    assert await v.validate("old-token") is None  # expired
    assert await v.validate("nope") is None
    op = await v.validate("op-token")
    assert op is not None and op.project_id is None and op.is_admin
    # without a file, the dev token stays the admin operator
    assert await StaticTokenValidator("dev").validate("dev") == OPERATOR


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ("{sha256: abc, user: u, project_id: p, roles: [member]}", "tokens[0].sha256"),
        (f"{{sha256: {'a' * 64}, user: u, project_id: p, roles: [root]}}", "tokens[0].roles"),
        (f"{{sha256: {'a' * 64}, user: u, roles: [member]}}", "tokens[0].project_id"),
        (f"{{sha256: {'a' * 64}, project_id: p, roles: [reader]}}", "tokens[0].user"),
    ],
)
def test_tokens_file_errors_name_the_field(tmp_path: Path, entry: str, field: str) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(f"tokens:\n  - {entry}\n")
    with pytest.raises(TokensFileError, match=field.replace("[", r"\[").replace("]", r"\]")):
        TokensFileValidator.load(f)


def test_principal_from_keystone_token() -> None:
    p = principal_from_token(
        {
            "token": {
                "user": {"id": "u1", "name": "demo"},
                "project": {"id": "p1", "name": "demo"},
                "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}],
                "expires_at": "2030-01-01T00:00:00.000000Z",
            }
        }
    )
    assert (p.user_id, p.project_id, p.scope) == ("u1", "p1", "project")
    assert p.roles == {"member", "reader"}


def test_rules_defaults_overrides_and_fail_safe(tmp_path: Path) -> None:
    member = Principal("m", "p1", frozenset({"member"}))
    reader = Principal("r", "p1", frozenset({"reader"}))
    admin = Principal("a", "p1", frozenset({"admin"}))
    az = Authorizer("orchestrator")
    assert az.allowed("orchestrator:execution:create:test-failover", member)
    assert not az.allowed("orchestrator:execution:create:failover", member)
    assert az.allowed("orchestrator:execution:create:failover", admin)
    assert not az.allowed("lifeboat:all-projects", member)
    # a route missing from the table: GET -> reader, anything else -> admin
    op = operation_for("orchestrator", "POST", "/v1/not-listed")
    assert (op.rule, op.role) == ("orchestrator:POST /v1/not-listed", "admin")
    az.ensure_default(op.rule, op.role)
    assert not az.allowed(op.rule, member) and az.allowed(op.rule, admin)
    # an operator's override in oslo.policy syntax
    f = tmp_path / "policy.yaml"
    f.write_text('"orchestrator:plan:list": "role:admin"\n"orchestrator:plan:create": "@"\n')
    az = Authorizer("orchestrator", f)
    assert not az.allowed("orchestrator:plan:list", reader)
    assert az.allowed("orchestrator:plan:create", reader)
    with pytest.raises(ValueError, match="policy_file"):
        Authorizer("orchestrator", tmp_path / "missing.yaml")
    # rule names are unique across the table
    names = [o.rule for ops in OPERATIONS.values() for o in ops]
    assert len(names) == len(set(names))


def test_readme_table_is_the_rules_table() -> None:
    readme = Path(__file__).parents[3] / "shared" / "README.md"
    assert markdown_table() in readme.read_text()


def test_the_defaults_issue_14_asks_for() -> None:
    """Independent of the table's own rows: what each role must (not) be able to do."""
    want = {
        ("policy", "POST", "/v1/sites"): "admin",
        ("policy", "POST", "/v1/site-links/{source}/{target}/suspend"): "admin",
        ("orchestrator", "POST", "/v1/evacuations/{evacuation_id}/approve"): "admin",
        ("orchestrator", "GET", "/v1/evacuations"): "admin",
        ("orchestrator", "POST", "/v1/sites/{site_id}/declare-down"): "admin",
        ("orchestrator", "POST", "/v1/alerts/alertmanager"): "admin",
        ("policy", "POST", "/v1/protection-groups"): "member",
        ("policy", "POST", "/v1/protection-groups/{group_id}/replicate-now"): "member",
        ("orchestrator", "POST", "/v1/plans"): "member",
        ("replicator", "POST", "/v1/restores"): "member",
        ("billing", "GET", "/v1/usage"): "reader",
        ("policy", "GET", "/v1/protection-groups/{group_id}/status"): "reader",
    }
    for (service, method, path), role in want.items():
        assert operation_for(service, method, path).role == role, (service, method, path)
    kinds = operation_for("orchestrator", "POST", "/v1/plans/{plan_id}/executions").variants
    assert kinds["test-failover"] == kinds["test-cleanup"] == "member"
    assert {kinds[k] for k in ("failover", "failback", "reprotect", "reconcile")} == {"admin"}
    assert kinds["planned-migration"] == "admin"
    # every write is at least member; no write is open to readers
    for ops in OPERATIONS.values():
        for op in ops:
            if op.method != "GET":
                assert op.role != "reader", op
