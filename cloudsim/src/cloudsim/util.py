"""Request helpers shared by the API modules: JSON bodies, field validation, paging, filters.

Bodies are parsed by hand (not pydantic models) so that bad input gets the OpenStack-style 400
with a message naming the field, not FastAPI's 422.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterable
from typing import Any

from starlette.requests import Request

from cloudsim.errors import APIError, bad_request
from cloudsim.state import Res

MAX_BODY = 64 * 1024 * 1024


async def json_body(request: Request, *, required: bool = True) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise APIError(413, "Request body too large")
    if not raw:
        if required:
            raise bad_request("The request body is empty; a JSON object is required.")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"Malformed request body: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request("Malformed request body: a JSON object is required.")
    return data


def member(body: dict[str, Any], key: str) -> dict[str, Any]:
    """The wrapped resource object (`{"server": {...}}`); 400 naming the key when absent."""
    val = body.get(key)
    if not isinstance(val, dict):
        raise bad_request(f"Invalid input: '{key}' is a required property and must be an object.")
    return val


def get_str(
    d: dict[str, Any],
    key: str,
    *,
    required: bool = False,
    default: str | None = None,
    allow_none: bool = True,
) -> str | None:
    val = d.get(key, default)
    if val is None:
        if required or (key in d and not allow_none):
            raise bad_request(f"Invalid input for field/attribute {key}: '{key}' is required.")
        return None
    if not isinstance(val, str):
        raise bad_request(
            f"Invalid input for field/attribute {key}: {val!r} is not of type 'string'."
        )
    return val


def req_str(d: dict[str, Any], key: str) -> str:
    val = get_str(d, key, required=True)
    assert val is not None
    if not val.strip():
        raise bad_request(f"Invalid input for field/attribute {key}: must not be empty.")
    return val


def get_int(
    d: dict[str, Any],
    key: str,
    *,
    required: bool = False,
    default: int | None = None,
    minimum: int | None = None,
) -> int | None:
    val = d.get(key, default)
    if val is None:
        if required:
            raise bad_request(f"Invalid input for field/attribute {key}: '{key}' is required.")
        return None
    if isinstance(val, bool):
        raise bad_request(f"Invalid input for field/attribute {key}: {val!r} is not an integer.")
    if isinstance(val, str):
        try:
            val = int(val)
        except ValueError:
            raise bad_request(
                f"Invalid input for field/attribute {key}: {val!r} is not an integer."
            ) from None
    if not isinstance(val, int):
        raise bad_request(f"Invalid input for field/attribute {key}: {val!r} is not an integer.")
    if minimum is not None and val < minimum:
        raise bad_request(
            f"Invalid input for field/attribute {key}: {val} is less than the minimum of {minimum}."
        )
    return val


def get_bool(d: dict[str, Any], key: str, default: bool) -> bool:
    val = d.get(key, default)
    if isinstance(val, bool):
        return val
    if isinstance(val, str) and val.lower() in ("true", "false", "1", "0", "yes", "no"):
        return val.lower() in ("true", "1", "yes")
    raise bad_request(f"Invalid input for field/attribute {key}: {val!r} is not a boolean.")


def get_dict(d: dict[str, Any], key: str) -> dict[str, Any]:
    val = d.get(key) or {}
    if not isinstance(val, dict):
        raise bad_request(f"Invalid input for field/attribute {key}: must be an object.")
    return val


def str_metadata(meta: dict[str, Any], field: str = "metadata") -> dict[str, str]:
    for k, v in meta.items():
        if not isinstance(v, str) or len(k) > 255 or len(v) > 255 or not k:
            raise bad_request(
                f"Invalid input for field/attribute {field}: key {k!r} must map to a string "
                "of at most 255 characters."
            )
    return dict(meta)


def truthy(val: str) -> bool:
    return val.lower() in ("1", "true", "yes", "on")


def paginate(items: list[Res], request: Request, *, id_key: str = "id") -> list[Res]:
    """Apply `marker` and `limit` query parameters (400 for a bad limit, 404-ish marker -> 400)."""
    q = request.query_params
    marker = q.get("marker")
    if marker:
        idx = next((i for i, r in enumerate(items) if str(r.get(id_key)) == marker), None)
        if idx is None:
            raise bad_request(f"marker [{marker}] not found")
        items = items[idx + 1 :]
    limit = q.get("limit")
    if limit is not None:
        try:
            n = int(limit)
        except ValueError:
            raise bad_request(f"limit param must be an integer, got {limit!r}") from None
        if n < 0:
            raise bad_request("limit param must be positive")
        items = items[:n]
    return items


def match_metadata(res_meta: dict[str, Any], query_val: str) -> bool:
    """Filter on `metadata={"k": "v"}`: JSON or a Python literal, as Cinder's API accepts
    (cloudsim's Nova accepts the same as an extension)."""
    try:
        wanted = json.loads(query_val)
    except ValueError:
        try:
            wanted = ast.literal_eval(query_val)
        except (ValueError, SyntaxError):
            raise bad_request(
                f"Invalid metadata filter {query_val!r}: must be a JSON object"
            ) from None
    if not isinstance(wanted, dict):
        raise bad_request(f"Invalid metadata filter {query_val!r}: must be a JSON object")
    return all(res_meta.get(k) == v for k, v in wanted.items())


def eq_filters(
    items: Iterable[Res], request: Request, fields: Iterable[str], conv: Callable[[Any], str] = str
) -> list[Res]:
    """Keep items whose listed scalar fields equal the query parameters given for them."""
    q = request.query_params
    out = list(items)
    for f in fields:
        vals = q.getlist(f)
        if not vals:
            continue
        out = [r for r in out if _norm(r.get(f), conv) in vals]
    return out


def _norm(v: Any, conv: Callable[[Any], str]) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    return "" if v is None else conv(v)


def public(res: Res) -> Res:
    """A copy of a resource without cloudsim's private `_` keys."""
    return {k: v for k, v in res.items() if not k.startswith("_")}
