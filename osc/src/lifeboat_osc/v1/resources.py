"""list / show / create / delete of Lifeboat's resources (``openstack dr <resource> <verb>``).

Each resource is (service, collection path, id field, columns listed). ``show`` takes an id or a
name (a name must match exactly one). ``create`` sends a JSON or YAML file as the body, as the
service's API documents it (``/<service>/v1/docs``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

import yaml
from osc_lib import exceptions
from osc_lib.command import command


@dataclass(frozen=True)
class Resource:
    name: str
    service: str
    path: str
    id_field: str
    columns: tuple[str, ...]
    can_get: bool = True  # GET <path>/<id> exists (else show filters the list)


RESOURCES = {
    r.name: r
    for r in (
        Resource("site", "policy", "sites", "site_id", ("site_id", "cloud", "role", "region")),
        Resource("policy", "policy", "policies", "id", ("id", "name", "rpo_target_seconds")),
        Resource(
            "group",
            "policy",
            "protection-groups",
            "id",
            ("id", "name", "project_id", "source_site", "target_site"),
        ),
        Resource(
            "cp",
            "replicator",
            "consistency-points",
            "id",
            ("id", "group_id", "consistency", "taken_at"),
        ),
        Resource("plan", "orchestrator", "plans", "id", ("id", "name", "state")),
        Resource(
            "execution",
            "orchestrator",
            "executions",
            "id",
            ("id", "plan_id", "kind", "state", "source_site", "target_site"),
        ),
        Resource("evacuation", "orchestrator", "evacuations", "id", ("id", "state")),
        Resource(
            "test",
            "verifier",
            "test-runs",
            "test_id",
            ("test_id", "plan_id", "site_id", "status", "ready_at"),
            can_get=False,
        ),
    )
}


def _cell(value: Any) -> Any:
    return json.dumps(value, default=str) if isinstance(value, dict | list) else value


def _filters(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise exceptions.CommandError(f"--filter: {pair!r} is not KEY=VALUE")
        out[key] = value
    return out


def dr(cmd: Any) -> Any:
    """The command's Lifeboat client (OSC makes it on first use, plugin.make_client)."""
    return cmd.app.client_manager.dr


def find(client: Any, res: Resource, ref: str) -> dict[str, Any]:
    """The resource with id ``ref``, else the one named ``ref`` (exactly one)."""
    if res.can_get:
        try:
            found: dict[str, Any] = client.get(res.service, f"{res.path}/{ref}")
            return found
        except exceptions.CommandError as exc:
            if not str(exc).startswith("404"):
                raise
    items = client.get(res.service, res.path)
    hits = [i for i in items if ref in (i.get(res.id_field), i.get("name"))]
    if len(hits) > 1:
        raise exceptions.CommandError(f"More than one {res.name} named {ref!r}: use its ID")
    if not hits:
        raise exceptions.CommandError(f"No {res.name} with a name or ID of {ref!r} exists.")
    return dict(hits[0])


class _List(command.Lister):
    resource = ""
    query: tuple[tuple[str, str, str], ...] = ()  # (option, query parameter, help)

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        for option, param, help_text in self.query:
            parser.add_argument(option, dest=param, metavar="<value>", help=help_text)
        parser.add_argument(
            "--filter",
            action="append",
            metavar="<key=value>",
            help="A query parameter of the API's list (repeatable)",
        )
        parser.add_argument("--long", action="store_true", help="Every field")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        res = RESOURCES[self.resource]
        params = _filters(parsed_args.filter)
        for _option, param, _help in self.query:
            if getattr(parsed_args, param, None):
                params[param] = getattr(parsed_args, param)
        items = dr(self).get(res.service, res.path, **params)
        items = self.extend(items)
        columns = list(res.columns) + list(getattr(self, "extra_columns", ()))
        if parsed_args.long and items:
            columns += [k for k in items[0] if k not in columns]
        return columns, ([_cell(i.get(c)) for c in columns] for i in items)

    def extend(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return items


class _Show(command.ShowOne):
    resource = ""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(self.resource, metavar=f"<{self.resource}>", help="Name or ID")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        res = RESOURCES[self.resource]
        item = find(dr(self), res, getattr(parsed_args, self.resource))
        columns = sorted(item)
        return columns, [_cell(item[c]) for c in columns]


class _Create(command.ShowOne):
    resource = ""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--file",
            required=True,
            metavar="<path>",
            help="The request body as JSON or YAML (the API's documented fields)",
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        res = RESOURCES[self.resource]
        try:
            with open(parsed_args.file, encoding="utf-8") as f:
                body = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as exc:
            raise exceptions.CommandError(f"--file: {exc}") from None
        item = dr(self).post(res.service, res.path, body)
        columns = sorted(item)
        return columns, [_cell(item[c]) for c in columns]


class _Delete(command.Command):
    resource = ""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(self.resource, metavar=f"<{self.resource}>", help="Name or ID")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> None:
        res = RESOURCES[self.resource]
        client = dr(self)
        item = find(client, res, getattr(parsed_args, self.resource))
        client.delete(res.service, f"{res.path}/{item[res.id_field]}")


class ListSite(_List):
    """List the registered sites with their declared state (up/down)"""

    resource = "site"
    extra_columns = ("state",)

    def extend(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        states = {s["id"]: s["state"] for s in dr(self).get("orchestrator", "sites")}
        return [{**i, "state": states.get(i["site_id"], "up")} for i in items]


class ShowSite(_Show):
    """Show a site"""

    resource = "site"


class ListPolicy(_List):
    """List protection policies"""

    resource = "policy"


class ShowPolicy(_Show):
    """Show a protection policy"""

    resource = "policy"


class CreatePolicy(_Create):
    """Create a protection policy from a file"""

    resource = "policy"


class DeletePolicy(_Delete):
    """Delete a protection policy"""

    resource = "policy"


class ListGroup(_List):
    """List protection groups"""

    resource = "group"


class ShowGroup(_Show):
    """Show a protection group"""

    resource = "group"


class CreateGroup(_Create):
    """Create a protection group from a file"""

    resource = "group"


class DeleteGroup(_Delete):
    """Delete a protection group"""

    resource = "group"


class ListCP(_List):
    """List consistency points"""

    resource = "cp"
    query = (("--group", "group_id", "Only this protection group's (ID)"),)


class ShowCP(_Show):
    """Show a consistency point"""

    resource = "cp"


class ListPlan(_List):
    """List recovery plans"""

    resource = "plan"


class ShowPlan(_Show):
    """Show a recovery plan"""

    resource = "plan"


class CreatePlan(_Create):
    """Create a recovery plan from a file"""

    resource = "plan"


class DeletePlan(_Delete):
    """Delete a recovery plan"""

    resource = "plan"


class ListExecution(_List):
    """List executions (failovers, tests, failbacks, ...)"""

    resource = "execution"
    query = (
        ("--plan", "plan_id", "Only this plan's (ID)"),
        ("--state", "state", "running, succeeded, failed or cancelled"),
    )


class ShowExecution(_Show):
    """Show an execution with its steps"""

    resource = "execution"


class ListEvacuation(_List):
    """List evacuations"""

    resource = "evacuation"


class ShowEvacuation(_Show):
    """Show an evacuation with its waves"""

    resource = "evacuation"


class ListTest(_List):
    """List bubble test runs (verifier)"""

    resource = "test"


class ShowTest(_Show):
    """Show a bubble test run"""

    resource = "test"


class CheckPlan(command.ShowOne):
    """Check a plan's readiness (a verified CP at a recovery site, flavors, quotas, networks)"""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("plan", metavar="<plan>", help="Name or ID")
        parser.add_argument("--strict", action="store_true", help="Exit 1 when not ready")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        client = dr(self)
        plan = find(client, RESOURCES["plan"], parsed_args.plan)
        checked = client.post("orchestrator", f"plans/{plan['id']}/readiness")
        readiness = checked.get("readiness") or {}
        if parsed_args.strict and not readiness.get("ready"):
            raise exceptions.CommandError(f"plan {plan['name']} is not ready")
        columns = sorted(readiness)
        return columns, [_cell(readiness[c]) for c in columns]
