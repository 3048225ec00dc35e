"""A bounded property-based fuzz of the five services' OpenAPI documents (schemathesis).

The embedded default (five services in one process, cloudsim for the clouds) runs on this test's
event loop; the fuzzer runs in a worker thread against it over real HTTP, with the admin token,
a few generated requests per operation: 4 with what the schema allows (positive), 2 with what
it does not (negative: wrong types, out-of-range values, missing fields). Every answer must be a
non-5xx status the operation documents, in the documented content type and schema.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cloudsim.testing import running_sites
from lifeboat_cli.demo import SOURCE, TARGET
from lifeboat_cli.stack import Stack

pytestmark = pytest.mark.timeout(240)

EXAMPLES = int(os.environ.get("LIFEBOAT_FUZZ_EXAMPLES", "4"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = ((GenerationMode.POSITIVE, EXAMPLES), (GenerationMode.NEGATIVE, 2))
UNLIMITED = {"rate_limit_per_second": 100_000.0, "rate_limit_burst": 100_000}


def fuzz(urls: dict[str, str], token: str) -> tuple[list[str], int]:
    """Every operation of every service; returns the failures (one line each) and the calls."""
    failures: list[str] = []
    calls = 0
    headers = {"Authorization": f"Bearer {token}"}
    for name, url in urls.items():
        schema = schemathesis.openapi.from_url(f"{url}/v1/openapi.json", timeout=30)
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode, examples in (
                (GenerationMode.POSITIVE, EXAMPLES),
                (GenerationMode.NEGATIVE, 2),
            ):

                @hsettings(
                    max_examples=examples,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case: schemathesis.Case) -> None:
                    nonlocal calls
                    calls += 1
                    response = case.call(base_url=url, headers=headers, timeout=30)  # noqa: B023
                    case.validate_response(response, checks=CHECKS, headers=headers)

                try:
                    run()
                except Unsatisfiable:
                    assert mode is GenerationMode.NEGATIVE  # nothing to get wrong: no inputs
                except BaseException as exc:  # schemathesis raises an ExceptionGroup of failures
                    if isinstance(exc, KeyboardInterrupt | SystemExit):
                        raise
                    first = str(exc).strip().splitlines()[:12]
                    failures.append(
                        f"{name} {operation.label} ({mode.value}): " + " | ".join(first)
                    )
    return failures, calls


async def test_every_operation_of_every_service(tmp_path: Path) -> None:
    with running_sites([SOURCE, TARGET], tmp_path / "sites") as sites:
        clouds = {"clouds_yaml": sites.clouds_yaml}
        stack = Stack(
            tmp_path,
            port_base=0,
            overrides={
                "policy": {**UNLIMITED, **clouds},
                "replicator": {**UNLIMITED, **clouds},
                "orchestrator": {**UNLIMITED, **clouds},
                "verifier": UNLIMITED,
                "billing": UNLIMITED,
            },
        )
        await stack.start()
        try:
            urls = {s.name: s.url for s in stack.services}
            start = time.monotonic()
            failures, calls = await asyncio.to_thread(fuzz, urls, stack.token)
            took = time.monotonic() - start
        finally:
            await stack.stop()
    print(f"fuzz: {calls} requests in {took:.1f} s")
    assert calls > 100
    assert not failures, "\n".join(failures)
