"""Signed test reports (issue #15, item 4): a run's evidence issued as a report by the running
verifier on the real PostgreSQL, listed per tenant and downloaded over HTTP by `lifeboat test
report`, verified by `lifeboat test verify-report` (the deployment's key fetched from the API, or
a PEM file offline); a byte changed in a field, a report signed by another key and a malformed
file each fail, named; retention prunes; the HTML page shows the verdict and every check. On
SQLite (the embedded default), the service's own retention loop deletes an expired report."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import stat
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from typer.testing import CliRunner

from lifeboat_cli.main import app as cli
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.authz import Authorizer
from lifeboat_shared.service.runtime import ServiceRuntime
from lifeboat_shared.service.server import uvicorn_config
from lifeboat_verifier.adapters.signing import (
    SigningKey,
    SigningKeyError,
    document_bytes,
    load_signing_key,
    sign_report,
)
from lifeboat_verifier.bootstrap import build
from lifeboat_verifier.domain.evidence import Report, RunEvidence
from lifeboat_verifier.service_layer.reports import issue_report, prune_reports, reports_uow
from lifeboat_verifier.service_layer.wiring import signing_key_for
from lifeboat_verifier.settings import VerifierSettings
from tests.support.tenants import AS_A, AS_B, TENANT_A, TENANT_B, TOKEN_A, install_tenants

pytestmark = pytest.mark.timeout(180)

TOKEN = "test-token-" + uuid.uuid4().hex
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def evidence(project: str, *, passed: bool) -> dict[str, Any]:
    """A run's evidence as a plain dict, the way a run hands it over."""
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    run = f"run-{project}-{uuid.uuid4().hex[:8]}"

    def check(name: str, kind: str, ok: bool, output: str, reason: str | None) -> dict[str, Any]:
        return {
            "name": name,
            "kind": kind,
            "target": f"{kind}://web-1",
            "passed": ok,
            "attempts": 1 if ok else 3,
            "started_at": (t0 + timedelta(seconds=60)).isoformat(),
            "finished_at": (t0 + timedelta(seconds=62.5)).isoformat(),
            "duration_seconds": 2.5,
            "output_excerpt": output,
            "reason": reason,
        }

    return {
        "run_id": run,
        "definition_id": f"def-{project}",
        "plan_id": f"plan-{project}",
        "project_id": project,
        "site_ids": ["site-b"],
        "started_by": f"scheduler:def-{project}",
        "cp_id": f"cp-{project}",
        "cp_taken_at": (t0 - timedelta(seconds=42)).isoformat(),
        "started_at": t0.isoformat(),
        "ready_at": (t0 + timedelta(seconds=50)).isoformat(),
        "finished_at": (t0 + timedelta(seconds=90)).isoformat(),
        "passed": passed,
        "rto_seconds": 62.5,
        "rpo_seconds": 42.0,
        "checks": [
            check("boot marker", "boot", True, "login: ready", None),
            check(
                "shop answers",
                "http",
                passed,
                "<script>alert(1)</script> HTTP/1.1 200" if passed else "HTTP/1.1 503",
                None if passed else "status 503, expected 200",
            ),
        ],
        "resources_created": ["network:bubble-net", "server:web-1-test"],
        "resources_removed": ["network:bubble-net", "server:web-1-test"],
        "cleanup_ok": True,
    }


@asynccontextmanager
async def served(settings: VerifierSettings) -> AsyncIterator[tuple[ServiceRuntime, str]]:
    """The verifier over real HTTP (the CLI calls it), in a schema of its own."""
    spec = build(settings)
    spec = dataclasses.replace(spec, name=f"verifier_{uuid.uuid4().hex[:8]}")
    app = create_app(spec, configure_logs=False)
    app.state.authorizer = Authorizer("verifier")
    server = _Server(uvicorn_config(app, settings, host="127.0.0.1", port=0))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 60
    while not server.started:
        assert not task.done(), "the verifier did not start"
        assert time.monotonic() < deadline, "the verifier did not start within 60 s"
        await asyncio.sleep(0.05)
    install_tenants(app)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield app.state.runtime, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class _Server(uvicorn.Server):
    """Signals stay pytest's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def lifeboat(*args: str, token: str, url: str) -> tuple[int, str]:
    env = {"LIFEBOAT_VERIFIER_URL": url, "LIFEBOAT_TOKEN": token, "COLUMNS": "200"}
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)
    return result.exit_code, re.sub(r"\s+", " ", result.output)


async def test_report_issued_listed_downloaded_verified_and_tamper_detected(
    postgres_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    settings = VerifierSettings(
        data_dir=tmp_path / "data",
        api_token=TOKEN,
        json_logs=False,
        database_url=postgres_url,
        bus_database_url=f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        deployment_name="lifeboat-ci",
    )
    async with served(settings) as (runtime, url), httpx.AsyncClient(base_url=url) as http:
        # the embedded default made its key on first start, readable by the service only
        key_file = tmp_path / "data" / "verifier-signing-key.pem"
        deadline = time.monotonic() + 30
        while not key_file.exists():
            assert time.monotonic() < deadline, "no signing key generated on start"
            await asyncio.sleep(0.1)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = signing_key_for(runtime)

        a, b = evidence(TENANT_A, passed=False), evidence(TENANT_B, passed=True)
        async with reports_uow(runtime) as uow:
            report_a = await issue_report(uow, a)
            report_b = await issue_report(uow, RunEvidence.model_validate(b))
        async with reports_uow(runtime) as uow:  # idempotent by run id
            assert await issue_report(uow, a) == report_a

        # tenant-scoped lists, newest first; another tenant's report is a 404
        listed = {}
        for who, headers in (("a", AS_A), ("b", AS_B), ("admin", ADMIN)):
            r = await http.get("/v1/test-reports", headers=headers)
            assert r.status_code == 200, r.text
            listed[who] = [x["report_id"] for x in r.json()]
        assert listed == {"a": [report_a], "b": [report_b], "admin": [report_b, report_a]}
        r = await http.get("/v1/test-reports", params={"plan_id": "nope"}, headers=ADMIN)
        assert r.json() == []
        assert (await http.get(f"/v1/test-reports/{report_b}", headers=AS_A)).status_code == 404
        r = await http.get("/v1/test-reports/x", params={"format": "pdf"}, headers=AS_A)
        assert r.status_code == 422 and "format" in r.text

        # the key any reader may fetch is the one that signs
        r = await http.get("/v1/signing-key", headers=AS_B)
        assert r.status_code == 200, r.text
        assert r.json()["key_fingerprint"] == key.fingerprint
        pem = tmp_path / "deployment.pem"
        pem.write_text(r.json()["public_key_pem"])

        # `lifeboat test report` (by run id) downloads the signed JSON and the HTML page
        doc, page = tmp_path / "a.json", tmp_path / "a.html"
        code, out = await lifeboat(
            "test", "report", a["run_id"], "--json", str(doc), "--html", str(page),
            token=TOKEN_A, url=url,
        )  # fmt: skip
        assert code == 0, out
        assert report_a in out and "FAILED" in out and "shop answers" in out
        html = page.read_text()
        assert 'id="verdict">FAILED<' in html
        for c in a["checks"]:
            assert c["name"] in html
        assert "status 503, expected 200" in html and "42.0 s" in html and "62.5 s" in html
        r = await http.get(f"/v1/test-reports/{report_b}", headers={**AS_B, "Accept": "text/html"})
        assert r.headers["content-type"].startswith("text/html")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text and "<script>" not in r.text
        assert 'id="verdict">PASSED<' in r.text

        # verified against the deployment's key from the API, and offline against its PEM
        for extra in ((), ("--public-key", str(pem))):
            code, out = await lifeboat(
                "test", "verify-report", str(doc), *extra, token=TOKEN_A, url=url
            )
            assert code == 0, out
            assert out.startswith("OK") and key.fingerprint in out

        # one byte of a field changed: the RTO, a check's verdict
        original = doc.read_text()
        for before, after in (('"rto_seconds":62.5', '"rto_seconds":52.5'), ("false", "true")):
            assert before in original
            bad = tmp_path / "tampered.json"
            bad.write_text(original.replace(before, after, 1))
            code, out = await lifeboat("test", "verify-report", str(bad), token=TOKEN_A, url=url)
            assert code == 1 and "verification FAILED" in out and "bad signature" in out, out

        # signed by another key: refused against the deployment's, named
        other = SigningKey.generate()
        forged = Report.model_validate(json.loads(original)["report"])
        forged_file = tmp_path / "forged.json"
        forged_file.write_bytes(document_bytes(sign_report(forged, other)))
        code, out = await lifeboat(
            "test", "verify-report", str(forged_file), token=TOKEN_A, url=url
        )
        assert code == 1 and "unknown key" in out and other.fingerprint in out, out
        (tmp_path / "other.pem").write_text(other.public_pem)
        code, out = await lifeboat(
            "test", "verify-report", str(doc), "--public-key", str(tmp_path / "other.pem"),
            token=TOKEN_A, url=url,
        )  # fmt: skip
        assert code == 1 and "unknown key" in out, out
        junk = tmp_path / "junk.json"
        for content in ("{not json", '{"report": {}}'):
            junk.write_text(content)
            code, out = await lifeboat("test", "verify-report", str(junk), token=TOKEN_A, url=url)
            assert code == 1 and "malformed" in out, out

        # two writers reporting one run at once (two transactions): one report, one id
        c = evidence(TENANT_B, passed=True)

        async def issue_c() -> str:
            async with reports_uow(runtime) as uow:
                return await issue_report(uow, c)

        first, second = await asyncio.gather(issue_c(), issue_c())
        assert first == second
        r = await http.get("/v1/test-reports", headers=AS_B)
        assert [x["report_id"] for x in r.json()] == [first, report_b]

        # retention: nothing is due within it, all are past it
        now = datetime.now(UTC)
        async with runtime.db.transaction() as session:
            assert await prune_reports(session, retention_days=365, now=now) == 0
        async with runtime.db.transaction() as session:
            assert await prune_reports(session, retention_days=365, now=now + timedelta(366)) == 3
        r = await http.get(f"/v1/test-reports/{report_a}", headers=AS_A)
        assert r.status_code == 404 and "report_id" in r.text
    print(f"reports round trip on PostgreSQL: {time.monotonic() - started:.1f}s")


async def test_retention_loop_prunes_expired_reports_on_sqlite(tmp_path: Path) -> None:
    # production never generates a key: a missing or wrong key file is named
    with pytest.raises(SigningKeyError, match=r"signing_key_file: .* does not exist"):
        load_signing_key(tmp_path / "mounted.pem", generate=False)
    (tmp_path / "wrong.pem").write_text(SigningKey.generate().public_pem)
    with pytest.raises(SigningKeyError, match=r"signing_key_file: .*not a readable"):
        load_signing_key(tmp_path / "wrong.pem", generate=False)
    settings = VerifierSettings(
        data_dir=tmp_path,
        api_token=TOKEN,
        json_logs=False,
        report_retention_days=2 / 86_400,  # 2 s
        report_prune_interval_seconds=0.2,
    )
    app = create_app(build(settings), configure_logs=False)
    async with LifespanManager(app, startup_timeout=60):
        runtime: ServiceRuntime = app.state.runtime
        async with reports_uow(runtime) as uow:
            report_id = await issue_report(uow, evidence(TENANT_A, passed=True))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://v") as http:
            r = await http.get(f"/v1/test-reports/{report_id}", headers=ADMIN)
            assert r.status_code == 200 and r.json()["report"]["issuer"] == "lifeboat"
            deadline = time.monotonic() + 60
            while (await http.get("/v1/test-reports", headers=ADMIN)).json():
                assert time.monotonic() < deadline, "the expired report was never pruned"
                await asyncio.sleep(0.2)
