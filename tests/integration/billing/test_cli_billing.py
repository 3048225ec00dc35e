"""`lifeboat rate-card|usage|invoice ...` against a billing service over HTTP (SQLite, embedded
bus; usage recorded through the service's own handler): a card is created from a YAML file, the
usage and the month's invoice are listed and shown, the invoice exports as CSV, a tenant's token
sees only its project and a member cannot create a card; the period closer freezes ended months
(grace 0 h) and stages one InvoiceIssued each."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
import uvicorn
from typer.testing import CliRunner, Result

from lifeboat_billing.bootstrap import build
from lifeboat_billing.service_layer.background import close_due_periods
from lifeboat_billing.service_layer.handlers import HANDLERS
from lifeboat_billing.settings import BillingSettings
from lifeboat_cli.main import app as cli
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.contracts.messages import UsageRecorded
from lifeboat_shared.persistence.tables import outbox
from lifeboat_shared.service.app import create_app
from tests.integration.replication.harness import free_port
from tests.support.tenants import TENANT_A, TENANT_B, TOKEN_A, install_tenants

TOKEN = "cli-billing-" + uuid.uuid4().hex
MONTH = datetime(2025, 6, 1, tzinfo=UTC)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def lifeboat(url: str, token: str, *args: str, code: int = 0) -> Result:
    env = {"LIFEBOAT_BILLING_URL": url, "LIFEBOAT_TOKEN": token, "COLUMNS": "200"}
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)
    assert result.exit_code == code, (args, result.output)
    return result


async def test_billing_verbs(tmp_path: Path) -> None:
    spec = build(
        BillingSettings(
            data_dir=tmp_path, api_token=TOKEN, json_logs=False, auto_close_grace_hours=None
        )
    )
    application = create_app(spec, configure_logs=False)
    port = free_port()
    server = _Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the billing service did not start"
            await asyncio.sleep(0.05)
        install_tenants(application)
        url = f"http://127.0.0.1:{port}"
        runtime = application.state.runtime
        for n, project in enumerate((TENANT_A, TENANT_B)):
            message = UsageRecorded(
                usage_id=f"cli-{n}",
                project_id=project,
                group_id="g-1",
                site_id="site-b",
                metric="dr_vm_hours",
                quantity=Decimal(10),
                period_start=MONTH,
                period_end=MONTH + timedelta(hours=10),
            )
            async with runtime.db.transaction() as session:
                ctx = HandlerContext(session, runtime.envelope(message), "/t")
                await HANDLERS[UsageRecorded](message, ctx)

        card = tmp_path / "card.yaml"
        card.write_text(
            "name: june\ncurrency: EUR\neffective_from: '2025-06-01T00:00:00Z'\n"
            "prices:\n  dr_vm_hours: {unit_price: '0.125'}\n"
            f"overrides:\n  {TENANT_A}: {{discount_percent: '20'}}\n"
        )
        await lifeboat(url, TOKEN, "rate-card", "create", "-f", str(card))
        await lifeboat(url, TOKEN_A, "rate-card", "create", "-f", str(card), code=1)
        listed = json.loads((await lifeboat(url, TOKEN, "rate-card", "list", "--json")).output)
        assert [c["version"] for c in listed] == [1, 2]
        shown = await lifeboat(url, TOKEN_A, "rate-card", "show", "2")
        assert "0.125" in shown.output and TENANT_A in shown.output

        usage = json.loads((await lifeboat(url, TOKEN_A, "usage", "list", "--json")).output)
        assert {e["project_id"] for e in usage["entries"]} == {TENANT_A}
        invoices = json.loads((await lifeboat(url, TOKEN_A, "invoice", "list", "--json")).output)
        assert [(i["project_id"], i["total"]) for i in invoices] == [(TENANT_A, "1.00")]
        shown = await lifeboat(url, TOKEN_A, "invoice", "show", TENANT_A, "2025-06")
        assert "dr_vm_hours" in shown.output and "1.00 EUR" in shown.output
        await lifeboat(url, TOKEN_A, "invoice", "show", TENANT_B, "2025-06", code=1)
        exported = await lifeboat(url, TOKEN, "invoice", "export", TENANT_B, "2025-06")
        rows = list(csv.DictReader(io.StringIO(exported.output)))
        assert rows[-1]["line_id"] == "total" and rows[-1]["amount"] == "1.25"

        # The month ended long ago: with a grace of 0 h the closer freezes both projects' June.
        runtime.settings.auto_close_grace_hours = 0
        assert await close_due_periods(runtime) == 2
        assert await close_due_periods(runtime) == 0
        closed = json.loads((await lifeboat(url, TOKEN, "invoice", "list", "--json")).output)
        assert {(i["project_id"], i["status"], i["total"]) for i in closed} == {
            (TENANT_A, "closed", "1.00"),
            (TENANT_B, "closed", "1.25"),
        }
        async with runtime.db.read() as session:
            staged = [
                str(h) for h in (await session.execute(sa.select(outbox.c.headers))).scalars()
            ]
        assert sum("InvoiceIssued" in t for t in staged) == 2
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)
