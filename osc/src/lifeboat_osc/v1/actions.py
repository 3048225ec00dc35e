"""``openstack dr failover|failback|test-failover|... PLAN``: start an execution of a plan.

Each is ``POST /orchestrator/v1/plans/{plan}/executions`` with its ``kind``; the plan is named
or given by ID. ``--wait`` follows the execution until it ends (exit 1 if it did not succeed);
else it is shown as started (follow it with ``openstack dr execution show``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from osc_lib import exceptions
from osc_lib.command import command

from lifeboat_osc.v1.resources import RESOURCES, _cell, dr, find

ENDED = ("succeeded", "failed", "cancelled")


class _Execute(command.ShowOne):
    kind = ""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("plan", metavar="<plan>", help="Recovery plan (name or ID)")
        parser.add_argument("--target-site", metavar="<site>", help="Default: the plan's")
        parser.add_argument(
            "--consistency-point", metavar="<cp>", help="Default: the newest verified one"
        )
        parser.add_argument("--test-id", metavar="<id>", help="test-cleanup: which test")
        parser.add_argument(
            "--degraded",
            action="store_true",
            help="failover: bring the DR copy up while the primary still runs (split brain)",
        )
        parser.add_argument("--wait", action="store_true", help="Follow it until it ends")
        parser.add_argument(
            "--timeout", type=float, default=1800.0, metavar="<s>", help="--wait at most (s)"
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        client = dr(self)
        plan = find(client, RESOURCES["plan"], parsed_args.plan)
        body: dict[str, Any] = {"kind": self.kind}
        if parsed_args.target_site:
            body["target_site"] = parsed_args.target_site
        if parsed_args.consistency_point:
            body["consistency_point_id"] = parsed_args.consistency_point
        if parsed_args.test_id:
            body["test_id"] = parsed_args.test_id
        if parsed_args.degraded:
            body["degraded"] = True
        execution = client.post("orchestrator", f"plans/{plan['id']}/executions", body)
        if parsed_args.wait:
            execution = _follow(client, execution["id"], parsed_args.timeout)
        columns = [c for c in sorted(execution) if c != "steps"] + ["steps"]
        row = [_cell(execution.get(c)) for c in columns[:-1]]
        steps = execution.get("steps") or []
        row.append(_cell([f"{s['action']}: {s['state']}" for s in steps]))
        if parsed_args.wait and execution["state"] != "succeeded":
            self.app.stdout.write(f"execution {execution['id']}: {execution['state']}\n")
            raise exceptions.CommandError(
                f"{self.kind} of plan {plan['name']} ended {execution['state']}"
            )
        return columns, row


def _follow(client: Any, execution_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution: dict[str, Any] = client.get("orchestrator", f"executions/{execution_id}")
        if execution["state"] in ENDED:
            return execution
        if time.monotonic() > deadline:
            raise exceptions.CommandError(
                f"execution {execution_id} still {execution['state']} after {timeout:.0f} s"
            )
        time.sleep(1.0)


class Failover(_Execute):
    """Fail a plan over to its recovery site (unplanned)"""

    kind = "failover"


class PlannedMigration(_Execute):
    """Migrate a plan to its recovery site (planned: source stopped cleanly first)"""

    kind = "planned-migration"


class TestFailover(_Execute):
    """Start a plan's test failover in an isolated bubble at the recovery site"""

    kind = "test-failover"


class TestCleanup(_Execute):
    """Clean up a plan's test failover"""

    kind = "test-cleanup"


class Reprotect(_Execute):
    """Reprotect a failed-over plan (replicate back to the original site)"""

    kind = "reprotect"


class Failback(_Execute):
    """Fail a plan back to its original site"""

    kind = "failback"


class Reconcile(_Execute):
    """Reconcile a plan after a split brain"""

    kind = "reconcile"
