"""Every /v1 route of the five services x {no token, garbage, expired, reader, member, admin,
another project's member} on the embedded stack with a tokens file (static principals).

Cross-project: "other-member" is a member of another project; authorization by role lets it
through (expected "pass"); the tenant scoping in each service's service layer then answers 404
for another project's resource (covered by the tenancy tests, which may tighten this column).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from lifeboat_cli.stack import SERVICES, Stack
from tests.integration.authz import matrix

pytestmark = pytest.mark.timeout(120)

TOKENS = {
    "reader": ("rosa", "project-a", ["reader"], None),
    "member": ("max", "project-a", ["member"], None),
    "admin": ("ada", "project-a", ["admin"], None),
    "other-member": ("otto", "project-b", ["member"], None),
    "expired": ("eve", "project-a", ["admin"], "2020-01-01T00:00:00Z"),
}


def write_tokens_file(path: Path) -> dict[str, str | None]:
    entries, tokens = [], {}
    for ident, (user, project, roles, expires) in TOKENS.items():
        token = f"tok-{ident}-{hashlib.sha256(ident.encode()).hexdigest()[:16]}"
        tokens[ident] = token
        entries.append(
            {
                "sha256": hashlib.sha256(token.encode()).hexdigest(),
                "user": user,
                "project_id": project,
                "roles": roles,
                "expires_at": expires,
            }
        )
    path.write_text(json.dumps({"tokens": entries}))
    return {**tokens, "none": None, "garbage": "not-a-token-%00;x"}


async def test_authz_matrix_static_tokens(tmp_path: Path) -> None:
    tokens_file = tmp_path / "tokens.json"
    tokens = write_tokens_file(tokens_file)
    stack = Stack(
        tmp_path,
        port_base=0,
        overrides={name: {"tokens_file": tokens_file} for name, _ in SERVICES},
    )
    await stack.start()
    try:
        urls = {s.name: s.url for s in stack.services}
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=30) as client:
            found = await matrix.routes(client, urls)
            assert not matrix.unlisted(found), matrix.unlisted(found)
            assert len(found) == matrix.table_size()  # no stale rows either
            todo = matrix.cells(found, tokens)
            results = await matrix.run(client, urls, todo, tokens)
            # the dev token is not a principal once a tokens file names them
            dev = await client.get(
                f"{urls['policy']}/v1/sites", headers={"X-Auth-Token": stack.token}
            )
            assert dev.status_code == 401
    finally:
        await stack.stop()
    took = time.monotonic() - started
    counts = Counter((r.cell.expected, matrix.verdict(r)) for r in results)
    print(f"authz matrix: {len(found)} routes, {len(results)} cells in {took:.1f}s: {dict(counts)}")
    bad = matrix.mismatches(results)
    assert not bad, "\n".join(bad)
    assert {r.cell.expected for r in results} == {"401", "403", "pass"}
