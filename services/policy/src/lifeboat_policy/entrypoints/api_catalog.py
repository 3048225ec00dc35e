"""REST: sites (the site registry) and policies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status

from lifeboat_policy.adapters.catalog import CatalogRepository
from lifeboat_policy.domain.model import Policy, Site
from lifeboat_policy.entrypoints.errors import CONFLICT, NOT_FOUND, raise_http
from lifeboat_policy.entrypoints.schemas import (
    PolicyCreate,
    PolicyOut,
    SiteCreate,
    SiteOut,
    SiteUpdate,
)
from lifeboat_policy.service_layer import catalog
from lifeboat_policy.service_layer.errors import NotFound, PolicyServiceError
from lifeboat_policy.settings import PolicySettings
from lifeboat_shared.net.egress import EgressPolicy, EgressRefused, check_literal
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep

router = APIRouter()

SiteIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def site_out(s: Site) -> SiteOut:
    return SiteOut(
        site_id=s.site_id,
        cloud=s.cloud,
        role=s.role,
        data_endpoint=s.data_endpoint,
        region=s.region,
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


def policy_out(p: Policy) -> PolicyOut:
    return PolicyOut(
        id=p.id,
        name=p.name,
        rpo_seconds=p.rpo_seconds,
        cron=p.cron,
        rpo_target_seconds=p.rpo_target_seconds,
        created_at=p.created_at,
        **p.spec,
    )


@router.post(
    "/sites",
    status_code=status.HTTP_201_CREATED,
    tags=["sites"],
    summary="Register a site (emits SiteRegistered)",
    responses=CONFLICT,
)
async def create_site(body: SiteCreate, runtime: RuntimeDep, _who: CurrentPrincipal) -> SiteOut:
    try:
        site, _ = await catalog.register_site(
            runtime, **body.model_dump(exclude={"site_id"}), site_id=body.site_id, create_only=True
        )
    except PolicyServiceError as exc:
        raise_http(exc)
    return site_out(site)


@router.put(
    "/sites/{site_id}",
    tags=["sites"],
    summary="Create or update a site (emits SiteRegistered); 201 when created",
    responses={**CONFLICT, 201: {"model": SiteOut, "description": "Site created"}},
)
async def put_site(
    site_id: SiteIdPath,
    body: SiteUpdate,
    runtime: RuntimeDep,
    _who: CurrentPrincipal,
    response: Response,
) -> SiteOut:
    try:
        site, created = await catalog.register_site(
            runtime, **body.model_dump(), site_id=site_id, create_only=False
        )
    except PolicyServiceError as exc:
        raise_http(exc)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return site_out(site)


@router.get("/sites", tags=["sites"], summary="List sites")
async def list_sites(runtime: RuntimeDep, _who: CurrentPrincipal) -> list[SiteOut]:
    async with runtime.db.read() as session:
        return [site_out(s) for s in (await CatalogRepository(session).sites()).values()]


@router.get("/sites/{site_id}", tags=["sites"], summary="Show a site", responses=NOT_FOUND)
async def get_site(site_id: str, runtime: RuntimeDep, _who: CurrentPrincipal) -> SiteOut:
    async with runtime.db.read() as session:
        site = await CatalogRepository(session).get_site(site_id)
    if site is None:
        raise_http(NotFound("site_id", f"no registered site {site_id!r}"))
    return site_out(site)


@router.post(
    "/policies",
    status_code=status.HTTP_201_CREATED,
    tags=["policies"],
    summary="Create a policy (RPO or cron schedule, retention, quiesce, link settings)",
    responses=CONFLICT,
)
async def create_policy(
    body: PolicyCreate, runtime: RuntimeDep, _who: CurrentPrincipal
) -> PolicyOut:
    settings = runtime.settings
    assert isinstance(settings, PolicySettings)
    egress = EgressPolicy(allow=tuple(settings.webhook_allow_networks))
    for field, url in body.webhook_urls().items():
        try:
            check_literal(url, egress)
        except EgressRefused as exc:
            msg = f"{field}: {str(exc).removeprefix('url: ')}"
            loc = ["body", *field.split(".")]
            raise HTTPException(422, [{"loc": loc, "msg": msg, "type": "value_error"}]) from exc
    try:
        policy = await catalog.create_policy(
            runtime, name=body.name, rpo_seconds=body.rpo_seconds, cron=body.cron, spec=body.spec()
        )
    except PolicyServiceError as exc:
        raise_http(exc)
    return policy_out(policy)


@router.get("/policies", tags=["policies"], summary="List policies")
async def list_policies(runtime: RuntimeDep, _who: CurrentPrincipal) -> list[PolicyOut]:
    async with runtime.db.read() as session:
        return [policy_out(p) for p in (await CatalogRepository(session).policies()).values()]


@router.get(
    "/policies/{policy_id}", tags=["policies"], summary="Show a policy", responses=NOT_FOUND
)
async def get_policy(policy_id: str, runtime: RuntimeDep, _who: CurrentPrincipal) -> PolicyOut:
    async with runtime.db.read() as session:
        policy = await CatalogRepository(session).get_policy(policy_id)
    if policy is None:
        raise_http(NotFound("policy_id", f"no policy {policy_id}"))
    return policy_out(policy)


@router.delete(
    "/policies/{policy_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["policies"],
    summary="Delete a policy no group uses",
    responses={**NOT_FOUND, **CONFLICT},
)
async def delete_policy(policy_id: str, runtime: RuntimeDep, _who: CurrentPrincipal) -> None:
    try:
        await catalog.delete_policy(runtime, policy_id)
    except PolicyServiceError as exc:
        raise_http(exc)
