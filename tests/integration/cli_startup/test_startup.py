"""`lifeboat` starts without loading the services: only `up` and `story` run them in-process, so
every other command (`version`, `plan list`, `--help`, ...) must not import them, nor cloudsim,
SQLAlchemy or httpx (which alone is most of the remaining start-up). A module check in a fresh
interpreter, not a timing."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "lifeboat_policy",
    "lifeboat_replicator",
    "lifeboat_orchestrator",
    "lifeboat_verifier",
    "lifeboat_billing",
    "cloudsim",
    "sqlalchemy",
    "httpx",
    "openstack",
    "keystoneauth1",
)

PROBE = """
import json, sys
import lifeboat_cli.main
from typer.main import get_command
from click.testing import CliRunner
runner = CliRunner()
outputs = [runner.invoke(get_command(lifeboat_cli.main.app), args).output
           for args in (["version"], ["plan", "list", "--help"], ["dr-site", "list", "--help"])]
print(json.dumps({"loaded": sorted({m.split(".")[0] for m in sys.modules}), "outputs": outputs}))
"""


def test_the_cli_imports_no_service_for_commands_that_do_not_run_them() -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["outputs"][0].strip() == "lifeboat 0.1.0"
    assert "--orchestrator-url" in report["outputs"][1]
    loaded = set(report["loaded"])
    assert "lifeboat_cli" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_up_still_reaches_the_services() -> None:
    """The lazy imports are still importable from where `up` and `story` import them."""
    run = subprocess.run(
        [sys.executable, "-c", "import lifeboat_cli.up, lifeboat_cli.story_cmd, sys; "
         "print(sorted(m for m in HEAVY if m in sys.modules))".replace(
             "HEAVY", repr(HEAVY[:6]))],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert run.stdout.strip() == repr(sorted(HEAVY[:6]))


def test_the_cli_default_token_is_the_services_development_token() -> None:
    from lifeboat_cli.verbs._client import DEV_TOKEN
    from lifeboat_shared.secret_checks import DEV_TOKEN as SERVICES_DEV_TOKEN

    assert DEV_TOKEN == SERVICES_DEV_TOKEN
