"""Domain errors to HTTP: 404 and 409 with ``detail`` = "field: message"; 422 in FastAPI's own
shape (a list of {loc, msg, type}), so clients handle one format for every validation error."""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import HTTPException, status

from lifeboat_policy.service_layer.errors import Conflict, Invalid, NotFound, PolicyServiceError


def raise_http(exc: PolicyServiceError) -> NoReturn:
    if isinstance(exc, NotFound):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    if isinstance(exc, Conflict):
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    if isinstance(exc, Invalid):
        detail = [{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}]
        raise HTTPException(422, detail=detail) from exc
    raise exc


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such id (detail names it)"}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Clashes with the current state (detail names the field)"}
}
