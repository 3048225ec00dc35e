"""Every input of every service's API is bounded: each string a maxLength, each array a maxItems,
each map a maxProperties (read from the OpenAPI documents, so a new unbounded field fails here);
every /v1 operation documents 401, 413, 422 and 429, and 404 when its path holds an id.
Dates, IP addresses and enumerations are bounded by their format; path parameters by the request
line (``max_header_bytes``, tested in test_limits.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lifeboat_cli.stack import SERVICES
from lifeboat_shared.service.app import create_app

BOUNDED_FORMATS = {"date-time", "date", "ipvanyaddress", "ipv4", "ipv6", "uuid"}
# A policy's quiesce (hook commands included) is bounded as a whole (16 KiB, QUIESCE_BUDGET in
# the policy's schemas; tested below): its shape is the shared contract's QuiesceSpec.
BOUNDED_AS_A_WHOLE = ("QuiesceSpec.hook",)


def _walk(node: Any, doc: dict[str, Any], where: str, seen: set[str], out: list[str]) -> None:
    if not isinstance(node, dict) or any(b in where for b in BOUNDED_AS_A_WHOLE):
        return
    ref = node.get("$ref")
    if ref:
        if ref in seen:
            return
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        _walk(target, doc, f"{where}->{ref.rsplit('/', 1)[-1]}", seen | {ref}, out)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(node.get(key, [])):
            _walk(sub, doc, f"{where}|{i}", seen, out)
    kind = node.get("type")
    if kind == "string" and not (
        "maxLength" in node
        or "enum" in node
        or "const" in node
        or node.get("format") in BOUNDED_FORMATS
    ):
        out.append(f"{where}: string without maxLength")
    if kind == "array":
        if "maxItems" not in node:
            out.append(f"{where}: array without maxItems")
        _walk(node.get("items", {}), doc, f"{where}[]", seen, out)
    if kind == "object" or "properties" in node:
        for name, sub in node.get("properties", {}).items():
            _walk(sub, doc, f"{where}.{name}", seen, out)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in node:
                out.append(f"{where}: map without maxProperties")
            _walk(extra, doc, f"{where}{{}}", seen, out)


@pytest.mark.parametrize("name", [n for n, _ in SERVICES])
def test_every_input_field_is_bounded(name: str, tmp_path: Path) -> None:
    build = dict(SERVICES)[name]
    doc = create_app(build(data_dir=tmp_path), manage_runtime=False, configure_logs=False).openapi()
    problems: list[str] = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            if path.startswith("/v1"):
                want = {"401", "413", "422", "429"} | ({"404"} if "{" in path else set())
                if missing := want - set(op["responses"]):
                    problems.append(f"{where}: {sorted(missing)} not documented")
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    continue
                _walk(param.get("schema", {}), doc, f"{where} {param['name']}", set(), problems)
            for media in op.get("requestBody", {}).get("content", {}).values():
                _walk(media.get("schema", {}), doc, f"{where} body", set(), problems)
    assert not problems, "\n".join(problems)


def test_a_policy_quiesce_is_bounded_as_a_whole() -> None:
    from pydantic import ValidationError

    from lifeboat_policy.entrypoints.schemas import PolicyCreate

    action = {"kind": "command", "command": ["/bin/true", "x" * 20_000]}
    quiesce = {"method": "hook", "hook": {"pre_freeze": action, "post_thaw": action}}
    with pytest.raises(ValidationError, match="a policy's quiesce may use"):
        PolicyCreate.model_validate({"name": "p", "rpo_seconds": 60, "quiesce": quiesce})
