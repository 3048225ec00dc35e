"""REST API of the policy service: one router made of the catalog, group and set routers."""

from __future__ import annotations

from fastapi import APIRouter

from lifeboat_policy.entrypoints import api_catalog, api_groups, api_sets

router = APIRouter()
router.include_router(api_catalog.router)
router.include_router(api_groups.router)
router.include_router(api_sets.router)
