"""The authorization matrix, generated from the five services' OpenAPI documents.

Each cell is one request with dummy ids and an empty (or minimal) JSON body: what matters is
whether the request passes authentication and the operation's rule (any status but 401/403) or
not (401 / 403). Expectations come from the rules table's default roles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from lifeboat_shared.service.authz_rules import OPERATIONS, listed, operation_for

RANK = {"reader": 0, "member": 1, "admin": 2}
DUMMY = "authz-matrix-no-such-id"


@dataclass(frozen=True)
class Cell:
    service: str
    method: str
    path: str  # template
    identity: str
    body: Any
    expected: str  # "401" | "403" | "pass"
    rule: str


@dataclass(frozen=True)
class Result:
    cell: Cell
    status: int
    detail: str


def expected_for(role_needed: str, identity: str) -> str:
    """identity: none | garbage | expired | revoked | reader | member | admin | other-member."""
    if identity in ("none", "garbage", "expired", "revoked"):
        return "401"
    # Hook for tenant scoping: "other-member" holds the member role in another project, so the
    # role rules let it through; with dummy ids every such request then answers 404. Tests that
    # create a real resource in project A assert the 404 for project B (tenancy's tests).
    held = "member" if identity == "other-member" else identity
    return "pass" if RANK[held] >= RANK[role_needed] else "403"


async def routes(client: httpx.AsyncClient, urls: dict[str, str]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for service, url in urls.items():
        doc = (await client.get(f"{url}/v1/openapi.json")).json()
        for path, ops in doc["paths"].items():
            if path.startswith("/v1/"):
                out.extend((service, m.upper(), path) for m in ops)
    return out


def cells(found: Iterable[tuple[str, str, str]], identities: Iterable[str]) -> list[Cell]:
    out = []
    idents = list(identities)
    for service, method, path in found:
        op = operation_for(service, method, path)
        variants: list[tuple[Any, str, str]] = []
        if op.by_body_field:
            for value, needed in op.variants.items():
                variants.append(({op.by_body_field: value}, needed, f"{op.rule}:{value}"))
        else:
            variants.append(({} if method in ("POST", "PUT", "PATCH") else None, op.role, op.rule))
        for body, role, rule in variants:
            for ident in idents:
                out.append(
                    Cell(service, method, path, ident, body, expected_for(role, ident), rule)
                )
    return out


def unlisted(found: Iterable[tuple[str, str, str]]) -> list[str]:
    return [f"{s} {m} {p}" for s, m, p in found if not listed(s, m, p)]


def table_size() -> int:
    return sum(len(ops) for ops in OPERATIONS.values())


async def run(
    client: httpx.AsyncClient,
    urls: dict[str, str],
    todo: list[Cell],
    tokens: dict[str, str | None],
    *,
    parallel: int = 16,
) -> list[Result]:
    gate = asyncio.Semaphore(parallel)

    async def one(cell: Cell) -> Result:
        token = tokens[cell.identity]
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        url = urls[cell.service] + cell.path
        for part in url.split("{")[1:]:
            url = url.replace("{" + part.split("}")[0] + "}", DUMMY)
        async with gate:
            resp = await client.request(cell.method, url, headers=headers, json=cell.body)
        detail = ""
        if resp.status_code in (401, 403, 503):
            detail = str(resp.json().get("detail", ""))
        return Result(cell, resp.status_code, detail)

    return list(await asyncio.gather(*(one(c) for c in todo)))


def verdict(r: Result) -> str:
    if r.status == 401:
        return "401"
    if r.status == 403:
        return "403"
    return "pass"


def mismatches(results: list[Result]) -> list[str]:
    bad = []
    for r in results:
        c = r.cell
        got = verdict(r)
        ok = got == c.expected
        if ok and got == "403" and c.rule not in r.detail:
            ok = False  # a 403 must name the rule
        if ok and got == "pass" and r.status >= 500:
            ok = False  # passing auth must not end in a server error
        if not ok:
            bad.append(
                f"{c.service} {c.method} {c.path} as {c.identity} body={c.body}: expected "
                f"{c.expected}, got {r.status} {r.detail[:120]}"
            )
    return bad
