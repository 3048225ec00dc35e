"""Tenant isolation: which project a caller acts for and which projects' resources it sees.

A non-admin principal acts for the project of its token, never for one named in a body or
query: a different ``project_id`` there is refused (403 naming ``project_id``). An admin acts
for the project it names (or its token's), and sees every project unless it names one.
Another project's resource is answered like a missing one (404), so ids do not leak.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status

from lifeboat_shared.service.auth import Principal

FORBIDDEN_PROJECT: dict[int | str, dict[str, Any]] = {
    403: {"description": "project_id names another project than the caller's token"}
}


def _refuse(message: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=f"project_id: {message}")


def _tenant_project(principal: Principal, requested: str | None) -> str:
    if principal.project_id is None:
        raise _refuse("the token is not scoped to a project")
    if requested is not None and requested != principal.project_id:
        raise _refuse(
            f"the token is scoped to project {principal.project_id!r}; "
            f"it cannot act for {requested!r}"
        )
    return principal.project_id


def owning_project(principal: Principal, requested: str | None) -> str:
    """The project a new resource belongs to: the token's; an admin's choice if it names one."""
    if not principal.is_admin:
        return _tenant_project(principal, requested)
    project = requested or principal.project_id
    if project is None:
        raise HTTPException(
            422,
            detail=[
                {
                    "loc": ["body", "project_id"],
                    "msg": "an admin token without a project must name the project_id",
                    "type": "missing",
                }
            ],
        )
    return project


def listed_project(principal: Principal, requested: str | None) -> str | None:
    """The project a list is filtered to: the token's; for an admin, its choice (None = all)."""
    if principal.is_admin:
        return requested
    return _tenant_project(principal, requested)


def can_see(principal: Principal, project_id: str | None) -> bool:
    """Whether a resource of ``project_id`` exists for this caller (else: answer 404)."""
    if principal.is_admin:
        return True
    return principal.project_id is not None and project_id == principal.project_id
