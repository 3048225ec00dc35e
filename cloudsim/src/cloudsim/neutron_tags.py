"""Neutron's standard-attr-tag extension: tags on networks, subnets, ports, routers, security
groups and floating IPs, set through /v2.0/<resource>/<id>/tags(/<tag>), shown in the resource's
`tags` field and matched by the tags / tags-any / not-tags / not-tags-any list filters.

Lifeboat tags what it creates so a restarted step finds it again (find-or-create); a cloudsim
that refused tags would hide bugs in that search, which is why these follow Neutron closely.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cloudsim.auth import context
from cloudsim.errors import APIError
from cloudsim.neutron_l3 import NeutronModel
from cloudsim.neutron_model import bad
from cloudsim.state import Res, now_iso
from cloudsim.util import json_body

TAGGABLE = ("networks", "subnets", "ports", "routers", "security-groups", "floatingips")
MAX_TAG_LEN = 255  # neutron.extensions.tagging.MAX_TAG_LEN


def _valid_tag(tag: Any) -> str:
    if not isinstance(tag, str):
        raise bad(f"Invalid input for operation: '{tag}' is not a valid string.")
    if len(tag) > MAX_TAG_LEN:
        raise bad(f"Invalid input for operation: '{tag}' exceeds maximum length of {MAX_TAG_LEN}.")
    return tag


def _touch(res: Res) -> None:
    """A tag change is a change of the resource (Neutron bumps its revision)."""
    res["updated_at"] = now_iso()
    res["revision_number"] = res.get("revision_number", 0) + 1


def tag_filter(items: list[Res], key: str, vals: list[str]) -> list[Res] | None:
    """Apply one of Neutron's tag filters (comma-separated, repeatable); None if `key` is not
    one. tags: has all; tags-any: has one; not-tags: lacks one; not-tags-any: has none."""
    if key not in ("tags", "tags-any", "not-tags", "not-tags-any"):
        return None
    want = {t for v in vals for t in v.split(",") if t}

    def has_all(r: Res) -> bool:
        return want <= set(r.get("tags") or [])

    def has_any(r: Res) -> bool:
        return bool(want & set(r.get("tags") or []))

    test = has_all if key in ("tags", "not-tags") else has_any
    keep = not key.startswith("not-")
    return [r for r in items if test(r) == keep]


def add_tag_routes(r: APIRouter, nm: NeutronModel) -> None:
    """Register the tag sub-resource on every taggable collection."""
    state = nm.state

    def target(request: Request, name: str, rid: str) -> Res:
        return nm.get(context(state, request), name, rid)

    for name in TAGGABLE:

        def make(name: str = name) -> None:
            base = f"/v2.0/{name}/{{rid}}/tags"
            key = name.replace("-", "_")

            @r.get(base, name=f"list_tags_{key}")
            async def list_tags(rid: str, request: Request) -> Res:
                return {"tags": list(target(request, name, rid).get("tags") or [])}

            @r.put(base, name=f"replace_tags_{key}")
            async def replace_tags(rid: str, request: Request) -> Res:
                res = target(request, name, rid)
                tags = (await json_body(request)).get("tags")
                if not isinstance(tags, list):
                    raise bad("Invalid input for tags. Reason: 'tags' must be a list.")
                res["tags"] = sorted({_valid_tag(t) for t in tags})
                _touch(res)
                return {"tags": list(res["tags"])}

            @r.delete(base, status_code=204, name=f"delete_tags_{key}")
            async def delete_tags(rid: str, request: Request) -> Response:
                res = target(request, name, rid)
                res["tags"] = []
                _touch(res)
                return Response(status_code=204)

            @r.get(base + "/{tag}", status_code=204, name=f"check_tag_{key}")
            async def check_tag(rid: str, tag: str, request: Request) -> Response:
                if tag not in (target(request, name, rid).get("tags") or []):
                    raise _tag_missing(tag, rid)
                return Response(status_code=204)

            @r.put(base + "/{tag}", status_code=201, name=f"add_tag_{key}")
            async def add_tag(rid: str, tag: str, request: Request) -> Response:
                res = target(request, name, rid)
                tags = set(res.get("tags") or [])
                if _valid_tag(tag) not in tags:
                    res["tags"] = sorted(tags | {tag})
                    _touch(res)
                return Response(status_code=201)

            @r.delete(base + "/{tag}", status_code=204, name=f"remove_tag_{key}")
            async def remove_tag(rid: str, tag: str, request: Request) -> Response:
                res = target(request, name, rid)
                if tag not in (res.get("tags") or []):
                    raise _tag_missing(tag, rid)
                res["tags"] = [t for t in res["tags"] if t != tag]
                _touch(res)
                return Response(status_code=204)

        make()


def _tag_missing(tag: str, rid: str) -> APIError:
    return APIError(404, f"Tag {tag} could not be found for resource {rid}.", kind="TagNotFound")
